"""What a started ledger's environment carries from the caller's settings."""

from __future__ import annotations

from pathlib import Path

from agentledger.client import ledger_env
from kernel.config import Settings


def test_scoring_off_in_code_reaches_the_started_ledger(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path).model_copy(update={"drift_scoring": False})
    env = ledger_env(settings, base={"AGENTLEDGER_DRIFT_SCORING": "true", "PATH": "/bin"})
    assert env["AGENTLEDGER_DRIFT_SCORING"] == "false"
    assert env["PATH"] == "/bin"


def test_scoring_on_by_default(tmp_path: Path) -> None:
    env = ledger_env(Settings(data_dir=tmp_path), base={})
    assert env["AGENTLEDGER_DRIFT_SCORING"] == "true"
    assert "AGENTLEDGER_WRITER_PASSWORD" not in env


def test_workers_chosen_in_code_reach_the_started_ledger(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path).model_copy(update={"workers": 3})
    env = ledger_env(settings, base={"AGENTLEDGER_WORKERS": "1"})
    assert env["AGENTLEDGER_WORKERS"] == "3"
