"""A write whose Arrow columns were built batch by batch, as the worker builds them while
each batch's rows are fresh, stores exactly what the same rows converted at the write store;
a refused row still goes back to the rows, and only it is set aside."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kernel.errors import RefusedError
from kernel.tokens import use_fingerprint_key
from ledger.chdb_store import ChdbStore
from ledger.rows import StitchOutput
from ledger.schema import TABLES
from ledger.store import LedgerStore
from processors.sink_parts import Pending
from processors.stitch import Stitcher
from processors.writes import LedgerWrite, prebuilt_of
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.scenarios import all_scenarios, parse


@pytest.fixture
def stores(chdb_ledger: ChdbStore) -> Iterator[tuple[LedgerStore, LedgerStore]]:
    pair = []
    for _ in range(2):
        store = chdb_ledger.with_database(f"t_{uuid.uuid4().hex[:10]}")
        store.ensure_schema()
        pair.append(store)
    yield pair[0], pair[1]
    for store in pair:
        store.command(f"DROP DATABASE IF EXISTS {store.database}")


def _stitched_in_slices(size: int) -> Pending:
    """Every scenario stitched ``size`` events at a time, each part's columns built as the
    worker builds a stitched batch's, the parts joined into one write."""
    use_fingerprint_key(TEST_FINGERPRINT_KEY)
    envelopes = [env for s in all_scenarios() for env in parse(s)]
    stitcher = Stitcher()
    write = Pending({}, StitchOutput())
    for start in range(0, len(envelopes), size):
        write.absorb(Pending({}, stitcher.process(envelopes[start : start + size])).build_columns())
    return write


def _contents(store: LedgerStore, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` but the time the engine stored it (``stored_at``)."""
    rows = store.query_rows(f"SELECT * FROM {store.database}.{table}")
    return sorted(
        tuple(sorted((k, repr(v)) for k, v in row.items() if k != "stored_at")) for row in rows
    )


def test_prebuilt_columns_store_what_the_rows_store(
    stores: tuple[LedgerStore, LedgerStore],
) -> None:
    pending = _stitched_in_slices(7)
    assert pending.output is not None
    tables = pending.output.tables()
    prebuilt = prebuilt_of(tables, pending.columns)
    # Every table with rows is covered, but the sessions rows, rebased as slices joined.
    with_rows = {table for table, rows in tables if rows}
    assert set(prebuilt) == with_rows - {"sessions"} and "raw_events" in prebuilt
    assert all(len(pending.columns[t]) > 1 for t in ("raw_events", "actions"))  # many slices

    columns, rows = stores
    LedgerWrite(tables, prebuilt=prebuilt).attempt(columns, split=False)
    LedgerWrite(tables).attempt(rows, split=False)
    for table in TABLES:
        assert _contents(columns, table) == _contents(rows, table), table
    assert _contents(columns, "raw_events")  # not two empty ledgers


def test_a_table_not_covered_in_full_goes_as_rows(stores: tuple[LedgerStore, LedgerStore]) -> None:
    pending = _stitched_in_slices(7)
    assert pending.output is not None
    # A slice without columns (a settle, say) joins the write: its tables go as rows.
    pending.absorb(Pending({}, StitchOutput(raw_events=[dict(pending.output.raw_events[0])])))
    prebuilt = prebuilt_of(pending.output.tables(), pending.columns)
    assert "raw_events" not in prebuilt and "actions" in prebuilt


def test_a_refused_row_is_set_aside_from_the_rows(
    stores: tuple[LedgerStore, LedgerStore],
) -> None:
    store, _ = stores
    pending = _stitched_in_slices(11)
    assert pending.output is not None
    tables = pending.output.tables()
    poisoned = next(row["resource"] for row in pending.output.actions if row["resource"])
    store.command(
        f"ALTER TABLE {store.database}.actions ADD CONSTRAINT poison CHECK resource != '{poisoned}'"
    )
    write = LedgerWrite(tables, prebuilt=prebuilt_of(tables, pending.columns))
    with pytest.raises(RefusedError):
        write.attempt(store, split=False)
    write.attempt(store, split=True)
    assert write.refused and {r.row["resource"] for r in write.refused} == {poisoned}
    held = store.query_rows(f"SELECT action_id FROM {store.database}.actions FINAL")
    expected = {r["action_id"] for r in pending.output.actions if r["resource"] != poisoned}
    assert {r["action_id"] for r in held} == expected
