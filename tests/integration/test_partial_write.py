"""A ledger write stopped part-way, then the restart and the replay of its batch: every
session counts each event once, as a run without the stop does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel import events as ev
from kernel.codec import Envelope
from kernel.events import Event
from kernel.tokens import use_fingerprint_key
from kernel.topics import Topics
from ledger.chdb_store import ChdbStore
from ledger.rows import StitchOutput
from ledger.store import LedgerStore
from processors.sink import EventSink, restore_state
from processors.sink_parts import Pending
from processors.stitch import Stitcher
from processors.writes import LedgerWrite
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.scenarios import all_scenarios, parse

WINDOW = timedelta(minutes=30)
COUNTERS = ("event_count", "action_count", "failure_count")
T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)


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
    [
        ("raw_events", 1),
        ("declarations", 1),
        ("session_aliases", 1),
        ("sessions", 1),
        ("raw_events", 2),
    ],
    ids=[
        "after-every-projection",
        "after-the-labels",
        "after-the-sessions",
        "after-the-actions",
        "stopped-twice",
    ],
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


def _coalesced(*outputs: StitchOutput) -> StitchOutput:
    """Batches stitched one after the other and written as one write, as the sink joins
    those that queue up while the ledger is busy."""
    pending = Pending({})
    for output in outputs:
        pending.absorb(Pending({}, output))
    assert pending.output is not None
    return pending.output


def test_a_replay_split_otherwise_than_the_cut_write_counts_each_event_once(
    new_store: Any,
) -> None:
    """A write of two batches stops before its records; the restarted worker reads the
    replay in other batches: the first finishes, the next stops too, then it goes on."""
    first, second = _batches()
    half = len(second) // 2
    early, late = second[:half], second[half:]

    clean = new_store()
    stitcher = Stitcher()
    _write(clean, stitcher.process(first))
    _write(clean, stitcher.process(second))
    expected = _counters(clean)

    store = new_store()
    stitcher = Stitcher()
    _write(store, stitcher.process(first))
    cut = _coalesced(stitcher.process(early), stitcher.process(late))
    _write(store, cut, stop_before="raw_events")
    # The rows that count the cut write's events landed; its records did not.
    assert _counters(store) == expected
    assert store.count("raw_events") == len(first)
    # The restarted worker's first write holds only the early half, and finishes.
    early_again = _replay(store, early)
    assert len(early_again.raw_events) == len(early)
    _write(store, early_again)
    # Its next write, of the late half, stops part-way; so does that of the next worker.
    _write(store, _replay(store, late), stop_before="declarations")
    output = _replay(store, late)
    assert len(output.raw_events) == len(late), "the unfinished batch was not replayed"
    _write(store, output)

    assert _counters(store) == expected


def _call(n: int, *traces: str) -> Envelope:
    event = Event(
        event_id=f"e-{n}",
        source="api_gateway",
        kind=ev.API_CALL,
        event_time=T0 + timedelta(seconds=n),
        operation="GET",
        position=f"api.jsonl:{n}",
        raw=f'{{"id":"e-{n}"}}',
        keys=[(ev.KEY_TRACE, trace) for trace in traces],
        outcome=ev.FAILURE if n % 3 == 0 else ev.SUCCESS,
    )
    return Envelope(event, ingested_at=T0, ingest_batch="b")


@pytest.mark.parametrize("stop_before", ["raw_events", "session_aliases", "sessions", "actions"])
def test_a_cut_write_that_merged_sessions_counts_each_event_once(
    new_store: Any, stop_before: str
) -> None:
    """Two sessions, then a write of two batches whose first merges them (an event carries
    both sessions' keys) and whose second adds to the merged one, stopped part-way."""
    first = [_call(1, "t-a"), _call(2, "t-a"), _call(3, "t-b"), _call(4, "t-c")]
    early = [_call(5, "t-b"), _call(6, "t-a", "t-b"), _call(7, "t-a")]
    late = [_call(8, "t-b"), _call(9, "t-c"), _call(10, "t-c", "t-a")]

    clean = new_store()
    stitcher = Stitcher()
    _write(clean, stitcher.process(first))
    output = stitcher.process(early)
    assert any(a["alias_id"] != a["session_id"] for a in output.session_aliases)
    _write(clean, output)
    _write(clean, stitcher.process(late))
    expected = _counters(clean)

    store = new_store()
    stitcher = Stitcher()
    _write(store, stitcher.process(first))
    cut = _coalesced(stitcher.process(early), stitcher.process(late))
    _write(store, cut, stop_before=stop_before)
    output = _replay(store, early + late)
    assert len(output.raw_events) == len(early + late)
    _write(store, output)

    assert _counters(store) == expected
