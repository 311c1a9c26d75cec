"""A ledger write stopped part-way, then the restart and the replay of its batch: every
session counts each event once, as a run without the stop does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from kernel.codec import Envelope
from kernel.tokens import use_fingerprint_key
from kernel.topics import Topics
from ledger.chdb_store import ChdbStore
from ledger.rows import StitchOutput
from ledger.store import LedgerStore
from processors.sink import EventSink, restore_state
from processors.stitch import Stitcher
from processors.writes import LedgerWrite
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.scenarios import all_scenarios, parse

WINDOW = timedelta(minutes=30)
COUNTERS = ("event_count", "action_count", "failure_count")


@pytest.fixture
def new_store(chdb_ledger: ChdbStore) -> Iterator[Any]:
    made: list[LedgerStore] = []

    def make() -> LedgerStore:
        store = chdb_ledger.with_database(f"t_{uuid.uuid4().hex[:10]}")
        store.ensure_schema()
        made.append(store)
        return store

    yield make
    for store in made:
        store.command(f"DROP DATABASE IF EXISTS {store.database}")


def _batches() -> tuple[list[Envelope], list[Envelope]]:
    """Every scenario's events: the sign-ins and token grants first, then a second batch
    with their tool calls, the results that answer them, and the API calls."""
    use_fingerprint_key(TEST_FINGERPRINT_KEY)
    envelopes = [env for scenario in all_scenarios() for env in parse(scenario)]
    first = [e for e in envelopes if e.event.kind in ("identity", "token_grant")]
    second = [e for e in envelopes if e not in first]
    assert any(e.event.kind == "tool_result" for e in second)
    return first, second


def _write(store: LedgerStore, output: StitchOutput, *, stop_before: str | None = None) -> None:
    """The tables as the sink writes them, in its order; with ``stop_before``, the write
    stops (a crash) just before that table."""
    tables = output.tables()
    if stop_before is not None:
        names = [name for name, _ in tables]
        tables = tables[: names.index(stop_before)]
    LedgerWrite(tables).attempt(store, split=False)


def _replay(store: LedgerStore, batch: list[Envelope]) -> StitchOutput:
    """A worker started afresh on ``store``, given ``batch`` again from the broker."""
    sink = EventSink(store, Topics("t-unused"), Stitcher(restore_state(store, WINDOW)))
    output, _, _ = sink.stitch(sink.new_events(batch))
    return output


def _counters(store: LedgerStore) -> dict[str, tuple[int, ...]]:
    rows = store.query_rows(f"SELECT * FROM {store.database}.sessions FINAL")
    return {r["session_id"]: tuple(int(r[c]) for c in COUNTERS) for r in rows}


@pytest.mark.parametrize(
    ("stop_before", "stops"),
    [("raw_events", 1), ("sessions", 1), ("raw_events", 2)],
    ids=["after-every-projection", "after-the-actions", "stopped-twice"],
)
def test_a_replayed_part_way_write_counts_each_event_once(
    new_store: Any, stop_before: str, stops: int
) -> None:
    first, second = _batches()

    clean = new_store()
    stitcher = Stitcher()
    _write(clean, stitcher.process(first))
    _write(clean, stitcher.process(second))
    expected = _counters(clean)
    assert sum(n[0] for n in expected.values()) == len(first) + len(second)

    store = new_store()
    _write(store, Stitcher().process(first))
    # The first worker writes the second batch's tables but stops before ``stop_before``;
    # ``stops`` workers in a row do so, each from what the previous one left.
    _write(store, Stitcher(restore_state(store, WINDOW)).process(second), stop_before=stop_before)
    for _ in range(stops - 1):
        _write(store, _replay(store, second), stop_before=stop_before)
    output = _replay(store, second)
    assert len(output.raw_events) == len(second), "the unfinished batch was not replayed"
    _write(store, output)

    assert _counters(store) == expected
