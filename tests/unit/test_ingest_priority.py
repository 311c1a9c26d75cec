"""`agentledger ingest` lowers itself by ``ingest_nice`` once it knows its target, before it
sends anything (the lowering itself is tested in a process of its own, in
``tests/integration/test_engine_priority.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentledger import cli_ingest, ingest_wait
from agentledger.cli import main
from kernel import priority
from kernel.config import Settings
from kernel.errors import LedgerError
from kernel.topics import Topics


@pytest.mark.parametrize("levels", [0, 3])
def test_ingest_yields_by_its_setting_before_it_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, levels: int
) -> None:
    calls: list[str] = []
    settings = Settings(data_dir=tmp_path, ingest_nice=levels)
    monkeypatch.setattr(
        cli_ingest, "_target", lambda data_dir, kafka: ("127.0.0.1:1", Topics(""), settings, None)
    )

    def yielding(by: int) -> int:
        calls.append(f"yield {by}")
        return 0

    monkeypatch.setattr(priority, "yield_to_stitching", yielding)

    async def sending(*args: Any, **kwargs: Any) -> None:
        calls.append("send")
        raise LedgerError("no broker here")

    monkeypatch.setattr(ingest_wait, "run_ingest", sending)
    records = tmp_path / "okta.jsonl"
    records.write_text("{}\n")
    result = CliRunner().invoke(
        main, ["ingest", "--source", "okta", str(records), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert json.loads(result.output)["error"] == "no broker here"
    assert calls == [f"yield {levels}", "send"]
