"""One contract, every ledger backend: chDB in-process, and ClickHouse over HTTP through
``clickhouse-connect`` (here against the ledger's own ClickHouse HTTP interface over chDB,
the same protocol and client a ClickHouse server gets)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kernel.errors import StoreError
from ledger.chdb_store import ChdbStore
from ledger.clickhouse_store import ClickHouseStore
from ledger.schema import TABLES
from ledger.store import LedgerStore
from tests.integration.conftest import ANALYST_PASSWORD, ANALYST_USER, WRITER_PASSWORD


def _row(event_id: str, raw: str = "{}") -> dict[str, object]:
    return {
        "event_id": event_id, "source": "okta", "kind": "identity",
        "event_time": "2026-11-20 10:00:00.123456", "ingested_at": "2026-11-20 10:00:01.000000",
        "ingest_batch": "contract", "position": "f:1", "raw_topic": "ledger.raw.okta",
        "raw_partition": 0, "raw_offset": 7, "raw": raw, "session_id": "s-1",
    }  # fmt: skip


class LedgerStoreContract:
    """Subclasses provide ``store``: a fresh database on one backend."""

    @pytest.fixture
    def store(self) -> Iterator[LedgerStore]:
        raise NotImplementedError

    def test_schema_is_idempotent(self, store: LedgerStore) -> None:
        store.ensure_schema()
        store.ensure_schema()
        tables = store.query_rows(
            "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
            {"db": store.database},
        )
        assert [t["name"] for t in tables] == sorted(TABLES)

    def test_rows_round_trip_with_awkward_text(self, store: LedgerStore) -> None:
        store.ensure_schema()
        raw = '{"q": "it\'s \\"quoted\\"", "tab": "\\t", "emoji": "🔑", "nl": "a\\nb"}'
        store.insert_rows("raw_events", [_row("e1", raw)])
        [row] = store.query_rows(
            f"SELECT event_id, raw, event_time, raw_offset FROM {store.database}.raw_events"
        )
        assert row == {
            "event_id": "e1", "raw": raw, "event_time": "2026-11-20 10:00:00.123456",
            "raw_offset": 7,
        }  # fmt: skip

    def test_existing_event_ids_with_a_large_batch(self, store: LedgerStore) -> None:
        store.ensure_schema()
        present = [f"{i:032x}" for i in range(0, 30_000, 3)]
        store.insert_rows("raw_events", [_row(i) for i in present])
        asked = [f"{i:032x}" for i in range(30_000)] + ["it's"]
        assert store.existing_event_ids(asked) == set(present)
        assert store.existing_event_ids([]) == set()

    def test_parameters_of_several_types(self, store: LedgerStore) -> None:
        rows = store.query_rows(
            "SELECT {s:String} AS s, {n:UInt32} + 1 AS n, length({a:Array(String)}) AS a",
            {"s": "x'y", "n": 41, "a": ["p", "q'r"]},
        )
        assert rows == [{"s": "x'y", "n": 42, "a": 2}]

    def test_counts_read_deduplicated_rows(self, store: LedgerStore) -> None:
        store.ensure_schema()
        store.insert_rows("raw_events", [_row("dup")])
        store.insert_rows("raw_events", [_row("dup")])
        assert store.count("raw_events") == 1
        assert store.count("raw_events", "source = {s:String}", {"s": "okta"}) == 1

    def test_errors_keep_the_engine_code_and_name(self, store: LedgerStore) -> None:
        store.ensure_schema()
        with pytest.raises(StoreError) as caught:
            store.query_rows(f"SELECT * FROM {store.database}.no_such_table")
        assert caught.value.code == 60
        assert caught.value.name == "UNKNOWN_TABLE"

    def test_invalid_identifiers_are_refused(self, store: LedgerStore) -> None:
        with pytest.raises(StoreError):
            store.count("raw_events; DROP TABLE x")


def _database() -> str:
    return f"contract_{uuid.uuid4().hex[:10]}"


class TestChdbStore(LedgerStoreContract):
    @pytest.fixture
    def store(self, chdb_ledger: ChdbStore) -> Iterator[LedgerStore]:
        yield chdb_ledger.with_database(_database())


class TestClickHouseStoreOverHttp(LedgerStoreContract):
    @pytest.fixture
    def store(self, ledger_http: str) -> Iterator[LedgerStore]:
        with ClickHouseStore(f"http://writer:{WRITER_PASSWORD}@{ledger_http}", _database()) as s:
            yield s

    def test_analysts_read_but_cannot_write(self, store: LedgerStore, ledger_http: str) -> None:
        store.ensure_schema()
        analyst_url = f"http://{ANALYST_USER}:{ANALYST_PASSWORD}@{ledger_http}"
        with ClickHouseStore(analyst_url, store.database) as analyst:
            assert analyst.count("raw_events") == 0
            with pytest.raises(StoreError) as caught:
                analyst.insert_rows("raw_events", [_row("x")])
            assert caught.value.code == 164
