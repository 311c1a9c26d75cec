"""The at-scale wiring: an existing Kafka cluster (--kafka) and a ClickHouse server
(--clickhouse), each given from outside instead of started by the stack."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentledger.broker import EmbeddedBroker
from agentledger.sampledata import generate_sessions, write_files
from ledger.chdb_store import ChdbStore
from ledger.clickhouse_store import ClickHouseStore
from ledger.session_list import list_sessions
from ledger.store import LedgerStore
from tests.integration.conftest import WRITER_PASSWORD, RunningStack, make_settings
from tests.integration.helpers import api_headers, ingest, wait_stored


@pytest.fixture
def outside_broker(tmp_path: Path) -> Iterator[str]:
    """A broker the stack did not start, standing in for an existing cluster."""
    broker = EmbeddedBroker(tmp_path / "cluster.log")
    yield broker.start()
    broker.stop()


def _run_through(stack: RunningStack, store: LedgerStore, tmp_path: Path) -> None:
    files = write_files(generate_sessions(3, run_id="outside"), tmp_path / "in")
    total = sum(ingest(stack, s, p, batch="outside").events for s, p in files.items())
    wait_stored(store, "outside", total)
    assert any(s["agent_name"] for s in list_sessions(store))


def test_an_existing_kafka_cluster(
    tmp_path: Path, chdb_ledger: ChdbStore, outside_broker: str
) -> None:
    settings = make_settings(tmp_path, kafka=outside_broker)
    stack = RunningStack(settings, chdb_ledger.with_database(settings.database))
    stack.start()
    try:
        assert stack.stack.broker is None and stack.bootstrap == outside_broker
        _run_through(stack, stack.store, tmp_path)
    finally:
        stack.stop()


def test_a_clickhouse_server(tmp_path: Path, ledger_http: str, outside_broker: str) -> None:
    """Workers write through clickhouse-connect with the server's credential; nothing
    embedded is started for the ledger (no chDB, no HTTP interface of the stack's own)."""
    settings = make_settings(
        tmp_path,
        kafka=outside_broker,
        clickhouse_url=f"http://writer:{WRITER_PASSWORD}@{ledger_http}",
    )
    stack = RunningStack(settings, None)
    stack.start()
    try:
        # The API is served; the ClickHouse interface over chDB is not (there is no chDB).
        status = urllib.request.Request(f"{stack.stack.http_url}/v1/status")
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(status, timeout=10)
        assert anonymous.value.code == 401
        for name, value in api_headers(stack).items():
            status.add_header(name, value)
        with urllib.request.urlopen(status, timeout=10) as reply:
            assert json.loads(reply.read())["embedded_ledger"] is False
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{stack.stack.http_url}/ping", timeout=10)
        assert missing.value.code == 404
        # The state other commands read never holds the server's password.
        info = json.dumps(stack.stack.info().as_json())
        assert WRITER_PASSWORD not in info and "writer" not in info
        with ClickHouseStore(settings.clickhouse_url or "", settings.database) as store:
            _run_through(stack, store, tmp_path)
    finally:
        stack.stop()
