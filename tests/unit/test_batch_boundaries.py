"""The rows a stream gives do not depend on where its batches begin and end.

A worker's batches are cut by whatever it polled: a restart, an outage or a slower ledger cut
the same stream elsewhere. Sample sessions over okta, cloudtrail and mcp, each source's
records shuffled (so events arrive up to twenty minutes out of time order, past the
re-stitch window), go through one stitcher as one batch and through others in batches of
1, 7, 50 and 500 events, and the ledger would hold the same thing each time: the same chains,
labels, outcomes and session counters.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from agentledger.sampledata import generate_sessions
from ingest.framing import Framed, frame_value
from ingest.registry import get_source
from kernel.codec import Envelope
from kernel.declaration import parse_declaration
from kernel.events import Event
from processors.stitch import Stitcher

INGESTED = datetime(2026, 1, 1, tzinfo=UTC)


def _arrivals(seed: int) -> tuple[list[Event], list[dict[str, Any]]]:
    """The events of 24 sample sessions in the order a shuffled file per source gives them
    (sources one after another in chunks), and the sessions' declarations."""
    rng = random.Random(seed)
    sessions = generate_sessions(24, seed=seed, run_id=f"batches-{seed}", showcase=True)
    by_source: dict[str, list[dict[str, Any]]] = {"okta": [], "cloudtrail": [], "mcp": []}
    for session in sessions:
        for sample in session.records:
            by_source[sample.source].append(sample.record)
    chunks: list[list[tuple[str, list[dict[str, Any]]]]] = [[] for _ in range(6)]
    for name, records in by_source.items():
        rng.shuffle(records)
        for index, chunk in enumerate(chunks):
            chunk.append((name, records[index::6]))
    events: list[Event] = []
    for chunk in chunks:
        rng.shuffle(chunk)
        for name, records in chunk:
            source = get_source(name)
            for record in records:
                for item in frame_value(source, record, name):
                    assert isinstance(item, Framed), item
                    events += source.parse(item.record, position=item.position, raw=item.raw)
    declarations = [s.declaration for s in sessions if s.declaration is not None]
    return events, declarations


def _ledger(events: list[Event], declarations: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """What the ledger keeps of the stream stitched in batches of ``size``: each action's
    last label and last row, and each chain (actions and the results answering them) with
    its session's counters."""
    stitcher = Stitcher()
    for declaration in declarations:
        stitcher.declare(parse_declaration(declaration))
    labels: dict[str, tuple[Any, ...]] = {}
    actions: dict[str, tuple[str, str, str]] = {}
    counters: dict[str, tuple[int, int, int]] = {}
    for start in range(0, len(events), size):
        batch = [Envelope(e, INGESTED, "batch") for e in events[start : start + size]]
        out = stitcher.process(batch)
        for row in out.attributions:
            labels[row["action_id"]] = tuple(
                row[n] for n in ("label", "rule", "agent", "origin_principal", "confused_deputy")
            )
        for row in out.actions:
            actions[row["action_id"]] = (row["session_id"], row["outcome_event_id"], row["outcome"])
        for row in out.sessions:
            counters[row["session_id"]] = (
                row["event_count"],
                row["action_count"],
                row["failure_count"],
            )
    chains: dict[str, set[str]] = {}
    for action_id, (session_id, result_id, _) in actions.items():
        chain = chains.setdefault(stitcher.state.resolve(session_id), set())
        chain.update(i for i in (action_id, result_id) if i)
    return {
        "labels": labels,
        "outcomes": {a: row[1:] for a, row in actions.items()},
        "chains": sorted((sorted(c), counters[root]) for root, c in chains.items()),
    }


def _replayed_shuffled() -> tuple[list[Event], list[dict[str, Any]]]:
    """Two streams over the same hours, their events fully shuffled together: most arrive
    long past the re-stitch window (a backfill of old files after newer ones)."""
    first, first_declared = _arrivals(2)
    second, second_declared = _arrivals(3)
    events = first + second
    random.Random(5).shuffle(events)
    return events, first_declared + second_declared


@pytest.mark.parametrize("stream", ["seed-1", "seed-8", "seed-10", "replayed-shuffled"])
def test_the_ledger_rows_do_not_depend_on_batch_boundaries(stream: str) -> None:
    if stream == "replayed-shuffled":
        events, declarations = _replayed_shuffled()
    else:
        events, declarations = _arrivals(int(stream.removeprefix("seed-")))
    # What makes it worth checking: events out of time order by more than the window.
    late = max(
        (max(e.event_time for e in events[:i]) - events[i].event_time).total_seconds()
        for i in range(1, len(events))
    )
    assert late > Stitcher().state.restitch.total_seconds()
    whole = _ledger(events, declarations, len(events))
    assert len(whole["labels"]) > 150 and len(whole["chains"]) >= 24
    for size in (1, 7, 50, 500):
        assert _ledger(events, declarations, size) == whole, f"batches of {size}"
