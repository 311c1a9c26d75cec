"""Generated agent sessions stitch into the same sessions whatever order they arrive in.

The sample generator's sessions (Okta grants, MCP captures, CloudTrail; some exchanges bound
by a session name, some only by the token's identity, some people running two sessions of
one agent at once) are stitched in time order, then as a worker that reads one source after
another or all of them shuffled would see them. Every order gives the same sessions, the
same call-to-result pairs and the same labels, once the stream has moved past the re-stitch
window.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from functools import cache

import orjson
import pytest

from agentledger.sampledata import generate_sessions, iter_records
from ingest.framing import Framed, frame_lines
from ingest.pipeline import IngestReport, Parsed, parse_all
from ingest.registry import get_source
from kernel.codec import Envelope
from kernel.declaration import parse_declaration
from kernel.events import Event
from processors.stitch import Stitcher

SESSIONS = 8  # the demo's count: about four minutes of traffic, inside one window
RUNS = [f"order-{n}" for n in range(8)]
SOURCE_ORDERS = [
    ("okta", "cloudtrail", "mcp"),  # as the demo ingests them: exchanges before tokens
    ("cloudtrail", "mcp", "okta"),
    ("mcp", "okta", "cloudtrail"),
]
Partition = frozenset[frozenset[str]]


@cache
def _generated(run_id: str) -> tuple[dict[str, list[Event]], list[dict[str, object]]]:
    sessions = generate_sessions(SESSIONS, run_id=run_id, showcase=True)
    lines: dict[str, list[str]] = {}
    for session in sessions:
        for sample in session.records:
            lines.setdefault(sample.source, []).append(orjson.dumps(sample.record).decode())
    events: dict[str, list[Event]] = {}
    for name, source_lines in lines.items():
        source = get_source(name)
        framed = [f for f in frame_lines(source, source_lines, name) if isinstance(f, Framed)]
        events[name] = [
            event
            for parsed in parse_all(source, framed, IngestReport())
            if isinstance(parsed, Parsed)
            for event in parsed.events
        ]
    declarations = [s.declaration for s in sessions if s.declaration is not None]
    return events, declarations


def _stitched(
    batches: Sequence[Sequence[Event]], declarations: list[dict[str, object]]
) -> Partition:
    """The sessions (event ids, results left out), each tool call's answer and each
    action's label, as a set."""
    stitcher = Stitcher()
    for body in declarations:
        stitcher.declare(parse_declaration(body))
    last = max(event.event_time for batch in batches for event in batch)
    # The stream moves on past the re-stitch window: what waited on it is decided.
    later = Event("moved-on", "okta", "identity", last + timedelta(minutes=20), "x", "", "{}")
    where: dict[str, str] = {}
    final: dict[str, dict[str, object]] = {}
    labels: dict[str, dict[str, object]] = {}
    for batch in [*batches, [later]]:
        at = batch[0].event_time
        out = stitcher.process([Envelope(event, at) for event in batch])
        for row in out.raw_events:
            # A result's row keeps the pairing of its batch; its call's row says which
            # result answers it (compared below).
            if row["kind"] != "tool_result":
                where[row["event_id"]] = row["session_id"]
        for rows, latest in ((out.actions, final), (out.attributions, labels)):
            for row in rows:
                kept = latest.get(row["action_id"])
                if kept is None or row["version"] >= kept["version"]:
                    latest[row["action_id"]] = row
    groups: dict[str, set[str]] = {}
    for event_id, session_id in where.items():
        groups.setdefault(stitcher.state.resolve(session_id), set()).add(event_id)
    pairs = frozenset(
        f"{action_id}->{row['outcome_event_id']}"
        for action_id, row in final.items()
        if row["kind"] == "tool_call"
    )
    labelled = frozenset(
        f"{action_id}:{row['label']}:{row['rule']}:{row['agent']}"
        for action_id, row in labels.items()
        if action_id != "moved-on"
    )
    return frozenset({*(frozenset(g) for g in groups.values()), pairs, labelled})


@pytest.mark.parametrize("run_id", RUNS)
def test_every_arrival_order_gives_the_sessions_time_order_gives(run_id: str) -> None:
    events, declarations = _generated(run_id)
    every = [event for source_events in events.values() for event in source_events]
    assert {"okta", "mcp", "cloudtrail"} <= set(events)
    in_time = _stitched([sorted(every, key=lambda e: (e.event_time, e.event_id))], declarations)
    for order in SOURCE_ORDERS:
        one_batch = [[event for source in order for event in events[source]]]
        assert _stitched(one_batch, declarations) == in_time, order
        batch_a_source = [events[source] for source in order]
        assert _stitched(batch_a_source, declarations) == in_time, order
    shuffled = list(every)
    random.Random(run_id).shuffle(shuffled)
    assert _stitched([shuffled], declarations) == in_time
    assert _stitched([shuffled[i : i + 50] for i in range(0, len(shuffled), 50)], declarations) == (
        in_time
    )


@cache
def _mixed(records: int) -> list[Event]:
    """Generated traffic of every kind (people on their own, agents, declared or not) over
    a few hours, parsed, in time order."""
    lines: dict[str, list[str]] = {}
    for sample in iter_records(records, run_id="arrival-mix"):
        lines.setdefault(sample.source, []).append(orjson.dumps(sample.record).decode())
    events: list[Event] = []
    for name, source_lines in lines.items():
        source = get_source(name)
        framed = [f for f in frame_lines(source, source_lines, name) if isinstance(f, Framed)]
        events += [
            event
            for parsed in parse_all(source, framed, IngestReport())
            if isinstance(parsed, Parsed)
            for event in parsed.events
        ]
    return sorted(events, key=lambda e: (e.event_time, e.event_id))


def _blocks(events: list[Event], seconds: int) -> list[list[Event]]:
    blocks: dict[int, list[Event]] = {}
    for event in events:
        blocks.setdefault(int(event.event_time.timestamp()) // seconds, []).append(event)
    return [blocks[k] for k in sorted(blocks)]


@pytest.mark.parametrize("arrival", ["shuffled-5min", "sources-10min"])
def test_hours_of_mixed_traffic_out_of_order_within_the_window(arrival: str) -> None:
    """Shippers deliver late and in bursts: each five minutes shuffled, or each ten minutes
    one source after another (CloudTrail first, Okta last), read in batches of 500."""
    events = _mixed(3_000)
    assert events[-1].event_time - events[0].event_time > timedelta(hours=2)
    in_time = _stitched([events], [])
    order: list[Event] = []
    if arrival == "shuffled-5min":
        rng = random.Random(arrival)
        for block in _blocks(events, 300):
            rng.shuffle(block)
            order += block
    else:
        for block in _blocks(events, 600):
            for source in ("cloudtrail", "mcp", "okta"):
                order += [event for event in block if event.source == source]
    assert sorted(e.event_id for e in order) == sorted(e.event_id for e in events)
    assert _stitched([order[i : i + 500] for i in range(0, len(order), 500)], []) == in_time
