"""One contract, every ledger backend: chDB in-process, and ClickHouse over HTTP through
``clickhouse-connect`` (here against the ledger's own ClickHouse HTTP interface over chDB,
the same protocol and client a ClickHouse server gets)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentledger.panels import expand_macros
from dashboards.drift import LATEST
from ingest.deadletter import dead_letter_row
from kernel.contraction import HALT, Contraction
from kernel.declaration import parse_declaration
from kernel.errors import StoreError
from kernel.events import ch_ts, micros
from ledger import drift_rows
from ledger.chains import TABLE as CHAIN_TABLE
from ledger.chains import VIEWS as CHAIN_VIEWS
from ledger.chdb_store import ChdbStore
from ledger.clickhouse_store import ClickHouseStore
from ledger.columns import arrow_table, conform
from ledger.event_keys import TABLE as KEYS_TABLE
from ledger.event_keys import VIEW as KEYS_VIEW
from ledger.schema import FEWER_MERGES, TABLES
from ledger.store import LedgerStore, json_lines
from processors.stitch import Stitcher
from tests import scenarios
from tests.integration.conftest import ANALYST_PASSWORD, ANALYST_USER, WRITER_PASSWORD

_ROW_TIME_US = micros(datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC))  # _row's event time


def _row(event_id: str, raw: str = "{}") -> dict[str, object]:
    return {
        "event_id": event_id, "source": "okta", "kind": "identity",
        "event_time": "2026-11-20 10:00:00.123456", "ingested_at": "2026-11-20 10:00:01.000000",
        "ingest_batch": "contract", "position": "f:1", "raw_topic": "ledger.raw.okta",
        "raw_partition": 0, "raw_offset": 7, "raw": raw, "session_id": "s-1",
    }  # fmt: skip


@dataclass
class _Score:
    score: float = 0.73456
    flagged: bool = True
    out_of_bounds: bool = False
    reasons: tuple[str, ...] = ("tool outside intent", 'it\'s "new"')
    model_version: str = "m-1"


def _every_table_s_rows() -> dict[str, list[dict[str, Any]]]:
    """Rows for each table the worker writes, as its builders make them."""
    stitcher = Stitcher()
    items = scenarios.all_scenarios()
    outputs = [stitcher.process([env for s in items for env in scenarios.parse(s)])]
    outputs += [stitcher.declare(parse_declaration(d)) for s in items for d in s.declarations]
    written: dict[str, list[dict[str, Any]]] = {}
    for out in outputs:
        for table, table_rows in out.tables():
            written.setdefault(table, []).extend(table_rows)
    t = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
    written["drift"] = [
        drift_rows.drift_row(
            _Score(score=score), action_id=f"a-{i}", session_id="s-1", event_time=t,
            agent="support-agent", tool="crm.delete", decision="narrow", policy_rule="r1",
            contraction_id="", scored_at=t, version=i,
        )
        for i, score in enumerate((0.73456, 0.1, 1 / 3, 0.0, 1.0))
    ]  # fmt: skip
    written["contractions"] = [
        drift_rows.contraction_row(
            Contraction(
                session_id="s-1", agent="support-agent",
                cause_action_id="a-1", cause_tool="crm.delete", decision=HALT,
                removed_tools=("crm.delete",), removed_scopes=(), remaining_tools=("crm.read",),
                remaining_scopes=("crm:read",), score=0.91, model_version="m-1",
                reasons=("out of bounds",), policy_rule="halt", keys=(("jti", "AT.1"),),
                event_time=t, decided_at=t,
            )
        )
    ]  # fmt: skip
    # As the digest sealer (processors/evidence.py) makes them: hex hashes, a text body.
    written["evidence_digests"] = [
        {
            "stream": "ledger.events/0", "first_seq": 1, "last_seq": 40,
            "digest_id": "d" * 64, "head": "ab" * 32, "made_at": ch_ts(t), "kid": "k-1",
            "body": '{"stream":"ledger.events/0","first_seq":1}', "signature": "c2lnbmF0dXJl",
        }
    ]  # fmt: skip
    return {table: found for table, found in written.items() if found}


class LedgerStoreContract:
    """Subclasses provide ``store``: a fresh database on one backend, and ``sibling``:
    another fresh database on the same backend."""

    @pytest.fixture
    def store(self) -> Iterator[LedgerStore]:
        raise NotImplementedError

    @pytest.fixture
    def sibling(self) -> Iterator[LedgerStore]:
        raise NotImplementedError

    def test_columnar_inserts_store_what_json_lines_store(
        self, store: LedgerStore, sibling: LedgerStore
    ) -> None:
        store.ensure_schema()
        sibling.ensure_schema()
        written = _every_table_s_rows()
        assert set(written) == set(TABLES) - {"dead_letters", "ssf_sets"}
        for table, table_rows in written.items():
            assert arrow_table(table, table_rows) is not None, table
            store.insert_rows(table, table_rows)
            sibling.insert_json(table, json_lines(table_rows))
        for table in written:
            columns = "* EXCEPT (stored_at)" if table == "raw_events" else "*"
            sql = f"SELECT {columns} FROM {{db}}.{table} ORDER BY ALL"
            got = store.query_rows(sql.format(db=store.database))
            expected = sibling.query_rows(sql.format(db=sibling.database))
            assert got, table
            assert got == expected, table

    def test_arrow_reads_give_back_what_was_stored(
        self, store: LedgerStore, sibling: LedgerStore
    ) -> None:
        store.ensure_schema()
        sibling.ensure_schema()
        written = _every_table_s_rows()
        for table, table_rows in written.items():
            store.insert_rows(table, table_rows)
            data = store.query_arrow(f"SELECT * FROM {store.database}.{table}")
            assert data is not None, table
            sibling.insert_arrow(table, conform(table, data))
            sql = f"SELECT * FROM {{db}}.{table} ORDER BY ALL"
            # Each row the store holds (an insert keeps a key's newest version only).
            got = sibling.query_rows(sql.format(db=sibling.database))
            assert got == store.query_rows(sql.format(db=store.database)), table
        empty = store.query_arrow(
            f"SELECT * FROM {store.database}.raw_events WHERE event_id = {{id:String}}",
            {"id": "none such"},
        )
        assert empty is None

    def test_rows_that_do_not_fit_the_columns_are_still_stored(self, store: LedgerStore) -> None:
        store.ensure_schema()
        # Rows with different columns (the second leaves source_id to its default), and a
        # time the columnar form does not read: both go as JSON Lines, as before.
        uneven = [_row("u1"), {**_row("u2"), "source_id": "src-2"}]
        assert arrow_table("raw_events", uneven) is None
        store.insert_rows("raw_events", uneven)
        odd_time = [{**_row("u3"), "event_time": "2026-11-20T10:00:00Z"}]
        assert arrow_table("raw_events", odd_time) is None
        store.insert_rows("raw_events", odd_time)
        stored = store.query_rows(
            f"SELECT event_id, source_id, event_time FROM {store.database}.raw_events "
            "ORDER BY event_id"
        )
        assert stored == [
            {"event_id": "u1", "source_id": "", "event_time": "2026-11-20 10:00:00.123456"},
            {"event_id": "u2", "source_id": "src-2", "event_time": "2026-11-20 10:00:00.123456"},
            {"event_id": "u3", "source_id": "", "event_time": "2026-11-20 10:00:00.000000"},
        ]

    def test_a_null_value_stores_the_column_default_as_json_lines_do(
        self, store: LedgerStore
    ) -> None:
        store.ensure_schema()
        store.insert_rows("raw_events", [{**_row("n1"), "raw": None, "raw_offset": None}])
        [row] = store.query_rows(f"SELECT raw, raw_offset FROM {store.database}.raw_events")
        assert row == {"raw": "", "raw_offset": 0}

    def test_schema_is_idempotent(self, store: LedgerStore) -> None:
        store.ensure_schema()
        store.ensure_schema()
        tables = store.query_rows(
            "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
            {"db": store.database},
        )
        assert [t["name"] for t in tables] == sorted(
            [*TABLES, CHAIN_TABLE, *CHAIN_VIEWS, KEYS_TABLE, KEYS_VIEW]
        )

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

    def test_existing_event_ids_plain_and_otherwise(self, store: LedgerStore) -> None:
        # Plain ids go as SQL literals; anything else as a parameter: the same answer.
        store.ensure_schema()
        present = [f"{i:032x}" for i in range(0, 3_000, 3)] + ["a\nb", "s-1:x.y_z"]
        store.insert_rows("raw_events", [_row(i) for i in present])
        # More ids than one statement holds (the engine's max_query_size is 256 KiB).
        plain = [f"{i:032x}" for i in range(12_000)] + ["s-1:x.y_z", "a", "b"]
        assert store.existing_event_ids(plain) == set(present[:-2]) | {"s-1:x.y_z"}
        assert store.existing_event_ids(["a\nb", "a", "b"]) == {"a\nb"}
        assert store.existing_event_ids(["a", "b"]) == set()

    def test_held_events_are_asked_by_id_and_time(self, store: LedgerStore) -> None:
        # Rows written to raw_events reach event_keys through its view; a key is held only
        # with its own time, to the microsecond.
        store.ensure_schema()
        present = [f"{i:032x}" for i in range(0, 30_000, 3)]
        store.insert_rows("raw_events", [_row(i) for i in present])
        asked = [(f"{i:032x}", _ROW_TIME_US) for i in range(30_000)]  # more than one statement
        assert store.held_events(asked) == set(present)
        assert store.held_events([(present[0], _ROW_TIME_US + 1)]) == set()
        assert store.held_events([(present[0], _ROW_TIME_US - 1), ("it's", 0)]) == set()
        assert store.held_events([]) == set()
        # Ids that would need quoting go as parameters: the same answer.
        odd = ["a\nb", "it's", "s-1:x.y_z"]
        store.insert_rows("raw_events", [_row(i) for i in odd])
        keys = [(i, _ROW_TIME_US) for i in [*odd, "a", present[-1]]]
        assert store.held_events(keys) == {*odd, present[-1]}
        # Before the epoch, as far back as ingest takes (1900).
        early = {**_row("early"), "event_time": "1900-01-01 00:00:00.000001"}
        store.insert_rows("raw_events", [early])
        assert store.held_events([("early", -2208988800_000000 + 1)]) == {"early"}

    def test_a_ledger_from_before_the_event_keys_gains_them(self, store: LedgerStore) -> None:
        store.ensure_schema()
        store.command(f"DROP TABLE {store.database}.{KEYS_VIEW}")
        store.command(f"DROP TABLE {store.database}.{KEYS_TABLE}")
        store.insert_rows("raw_events", [_row("old-1"), _row("old-2")])
        store.ensure_schema()  # as the ledger starts on it
        assert store.held_events([("old-1", _ROW_TIME_US), ("new", _ROW_TIME_US)]) == {"old-1"}
        store.insert_rows("raw_events", [_row("new")])  # the view is back too
        assert store.held_events([("new", _ROW_TIME_US)]) == {"new"}
        store.ensure_schema()  # and not copied again (each copy a row until merged)
        [copies] = store.query_rows(f"SELECT count() AS n FROM {store.database}.{KEYS_TABLE}")
        assert int(copies["n"]) == 3

    def test_existing_dead_letter_ids(self, store: LedgerStore) -> None:
        store.ensure_schema()
        kept = [
            dead_letter_row({"source": "mcp", "position": f"f.jsonl:{i}", "record": "x'\n"})
            for i in range(3)
        ]
        store.insert_rows("dead_letters", kept)
        ids = [row["dead_letter_id"] for row in kept]
        assert store.existing_dead_letter_ids([*ids[:2], "not-kept"]) == set(ids[:2])
        assert store.existing_dead_letter_ids([]) == set()

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

    def test_the_tables_every_scored_action_writes_merge_less(self, store: LedgerStore) -> None:
        store.ensure_schema()
        store.ensure_schema()  # a second time, as every start does: the same settings
        assert store.knows_setting("merge_selector_base")
        assert not store.knows_setting("no_such_setting")
        tables = store.query_rows(
            "SELECT name, engine_full FROM system.tables WHERE database = {db:String} "
            "AND engine LIKE '%MergeTree'",
            {"db": store.database},
        )
        fewer = {t["name"] for t in tables if "merge_selector_base = 20" in t["engine_full"]}
        assert fewer == set(FEWER_MERGES)
        assert len(tables) > len(fewer)  # the others keep the engine's default

    def test_drift_time_ranges_are_read_from_the_by_time_projection(
        self, store: LedgerStore
    ) -> None:
        # The drift overview's scored actions of a time range: the engine reads them from
        # the projection's copy, ordered by time, and not the table ordered by action id.
        store.ensure_schema()
        # Granules of 1,024 rows: in a few of them the engine reads the table as cheaply.
        t = datetime(2026, 11, 13, tzinfo=UTC)
        drift = [
            drift_rows.drift_row(
                _Score(score=(i % 100) / 100), action_id=f"a-{i:05}", session_id=f"s-{i % 97}",
                event_time=t + timedelta(seconds=30 * i), agent="support-agent", tool="crm.read",
                decision="allow", policy_rule="r1", contraction_id="", scored_at=t, version=1,
            )
            for i in range(8 * 24 * 120)  # eight days, an action every 30 seconds
        ]  # fmt: skip
        store.insert_rows("drift", drift[: len(drift) // 2])
        store.insert_rows("drift", drift[len(drift) // 2 :])
        latest = expand_macros(
            LATEST.replace("${database}", store.database),
            time_from=datetime(2026, 11, 20, tzinfo=UTC),
            time_to=datetime(2026, 11, 21, tzinfo=UTC),
            interval_s=60,
            variables={"agent": ["support-agent"]},
        )
        plan = "\n".join(r["explain"] for r in store.query_rows(f"EXPLAIN {latest}"))
        assert "(by_time)" in plan, plan  # ReadFromMergeTree (by_time), or a prepared source
        scored = store.query_rows(latest)
        day = [r["action_id"] for r in drift if r["event_time"].startswith("2026-11-20")]
        assert len(day) == 24 * 120
        assert sorted(r["action_id"] for r in scored) == day

    def test_invalid_identifiers_are_refused(self, store: LedgerStore) -> None:
        with pytest.raises(StoreError):
            store.count("raw_events; DROP TABLE x")


def _database() -> str:
    return f"contract_{uuid.uuid4().hex[:10]}"


class TestChdbStore(LedgerStoreContract):
    @pytest.fixture
    def store(self, chdb_ledger: ChdbStore) -> Iterator[LedgerStore]:
        yield chdb_ledger.with_database(_database())

    @pytest.fixture
    def sibling(self, chdb_ledger: ChdbStore) -> Iterator[LedgerStore]:
        yield chdb_ledger.with_database(_database())


class TestClickHouseStoreOverHttp(LedgerStoreContract):
    @pytest.fixture
    def store(self, ledger_http: str) -> Iterator[LedgerStore]:
        with ClickHouseStore(f"http://writer:{WRITER_PASSWORD}@{ledger_http}", _database()) as s:
            yield s

    @pytest.fixture
    def sibling(self, ledger_http: str) -> Iterator[LedgerStore]:
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
