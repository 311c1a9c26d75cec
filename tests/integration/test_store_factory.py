"""The one store factory against the real backends: a server URL (here the ledger's own
ClickHouse HTTP interface over chDB) and an embedded chDB data path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from kernel.errors import StoreError
from kernel.procs import free_port
from ledger.clickhouse_store import ClickHouseStore
from ledger.factory import open_store
from tests.conftest import REPO
from tests.integration.conftest import (
    ANALYST_PASSWORD,
    ANALYST_USER,
    WRITER_PASSWORD,
    make_settings,
)


def _event(event_id: str) -> dict[str, object]:
    return {
        "event_id": event_id, "source": "okta", "kind": "identity",
        "event_time": "2026-11-20 10:00:00.000000", "ingested_at": "2026-11-20 10:00:01.000000",
        "ingest_batch": "factory", "position": "f:1", "raw_topic": "ledger.raw.okta",
        "raw_partition": 0, "raw_offset": 1, "raw": "{}", "session_id": "s-1",
    }  # fmt: skip


def test_settings_with_a_url_open_that_server(tmp_path: Path, ledger_http: str) -> None:
    settings = make_settings(
        tmp_path, clickhouse_url=f"http://writer:{WRITER_PASSWORD}@{ledger_http}"
    )
    with open_store(settings) as store:
        assert isinstance(store, ClickHouseStore)
        assert store.database == settings.database
        store.ensure_schema()
        store.insert_rows("raw_events", [_event("e1")])
        assert store.count("raw_events") == 1
    assert not (settings.data_dir / "chdb").exists()  # nothing embedded was opened


def test_credentials_given_apart_win_over_the_url(tmp_path: Path, ledger_http: str) -> None:
    """How commands read a running ledger: its URL without a password, the analyst's apart."""
    settings = make_settings(
        tmp_path, clickhouse_url=f"http://writer:{WRITER_PASSWORD}@{ledger_http}"
    )
    with open_store(settings) as writer:
        writer.ensure_schema()
        writer.insert_rows("raw_events", [_event("e1")])
    with open_store(
        url=f"http://{ANALYST_USER}:wrong@{ledger_http}",
        database=settings.database,
        username=ANALYST_USER,
        password=ANALYST_PASSWORD,
    ) as analyst:
        assert analyst.count("raw_events") == 1
        with pytest.raises(StoreError) as caught:
            analyst.insert_rows("raw_events", [_event("e2")])
        assert caught.value.code == 164  # READONLY: the analyst's own account, not the writer


def test_an_unreachable_server_gives_the_same_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError) as direct:
        ClickHouseStore(url)
    with pytest.raises(StoreError) as factory:
        open_store(url=url)
    prefix = f"cannot reach ClickHouse at 127.0.0.1:{url.rsplit(':', 1)[1]}: "
    assert str(direct.value).startswith(prefix)
    assert str(factory.value).startswith(prefix)


# chDB opens one data path per process and this one holds the session's ledger: the
# embedded choice is opened in a process of its own, on a data directory of its own.
_OPEN_EMBEDDED = """
import sys
import orjson
from kernel.config import load_settings
from ledger.factory import open_store

settings = load_settings(data_dir=sys.argv[1], database="factory_embedded")
with open_store(settings) as store:
    store.ensure_schema()
    store.insert_rows("raw_events", [orjson.loads(sys.argv[2])])
    print(orjson.dumps({
        "backend": type(store).__name__,
        "path": str(store.path),
        "database": store.database,
        "events": store.count("raw_events"),
    }).decode())
"""


def test_settings_without_a_url_open_chdb_in_the_data_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTLEDGER_")}
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_EMBEDDED, str(tmp_path), orjson.dumps(_event("e1")).decode()],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout.strip().splitlines()[-1]) == {
        "backend": "ChdbStore",
        "path": str(tmp_path / "chdb"),
        "database": "factory_embedded",
        "events": 1,
    }
    assert (tmp_path / "chdb").is_dir()
