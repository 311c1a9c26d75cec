"""JSON-RPC results pair with their requests by server, id and time, first within the MCP
session their header names, never start a session, and pair the same whatever order and
batches they arrive in (list in, rows out)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel import events as ev
from kernel.codec import Envelope
from kernel.events import Event
from kernel.vocabulary import ATTR_INTENT_SOURCE, ATTR_RESULT_TEXT
from ledger.rows import StitchOutput
from processors.pairing import restore_pairs
from processors.sessions import StitchState
from processors.stitch import Stitcher

T0 = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
SERVER = "files"  # a stdio server: its results carry no Mcp-Session-Id


def _event(event_id: str, seconds: float, keys: list[tuple[str, str]], **fields: Any) -> Event:
    return Event(
        event_id=event_id,
        source="mcp",
        event_time=T0 + timedelta(seconds=seconds),
        position=f"capture.jsonl:{event_id}",
        raw=f'{{"id":"{event_id}"}}',
        keys=keys,
        **fields,
    )


def call(event_id: str, seconds: float, session: str | None, rpc_id: int) -> Event:
    """A tool call, with its ``Mcp-Session-Id`` (``None``: a capture that logged none)."""
    keys = [(ev.KEY_MCP_SESSION, session)] if session else []
    keys.append((ev.KEY_MCP_RPC, f"{SERVER}:{rpc_id}"))
    return _event(
        event_id,
        seconds,
        keys,
        kind=ev.TOOL_CALL,
        operation="tools/call",
        resource="read_file",
        outcome=ev.PENDING,
    )


def listing(event_id: str, seconds: float, session: str, rpc_id: int) -> Event:
    """A request that is no tool call: its result pairs with it too, but writes no outcome."""
    keys = [(ev.KEY_MCP_SESSION, session), (ev.KEY_MCP_RPC, f"{SERVER}:{rpc_id}")]
    return _event(
        event_id, seconds, keys, kind=ev.MCP_MESSAGE, operation="tools/list", outcome=ev.UNKNOWN
    )


def result(
    event_id: str,
    seconds: float,
    rpc_id: int,
    session: str | None = None,
    outcome: str = ev.SUCCESS,
) -> Event:
    keys = [(ev.KEY_MCP_SESSION, session)] if session else []
    keys.append((ev.KEY_MCP_RPC, f"{SERVER}:{rpc_id}"))
    return _event(
        event_id,
        seconds,
        keys,
        kind=ev.TOOL_RESULT,
        operation="response",
        outcome=outcome,
        outcome_detail="-32000: no such file" if outcome == ev.FAILURE else None,
    )


# Two sessions on one server reuse the ids 1, 2, 3 and 4; every result is headerless but
# one. Results come after, between and before their requests in event time.
EVENTS = [
    call("a1", 0, "ms-a", 1),
    result("r-a1", 1, 1),
    call("b1", 2, "ms-b", 1),
    result("r-b1", 3, 1),
    call("a2", 4, "ms-a", 2),
    call("b2", 5, "ms-b", 2),
    result("r-b2", 5.5, 2),  # between: two id-2 calls are open, the nearer one wins
    result("r-a2", 6, 2, outcome=ev.FAILURE),
    result("r-a3", 7.9, 3),  # before its call: the server's clock runs behind
    call("a3", 8, "ms-a", 3),
    result("orphan", 10, 9),  # answers nothing that was captured
    call("b3", 20, "ms-b", 3),
    result("r-b3", 21, 3),
    call("b4", 30, "ms-b", 4),
    call("a4", 31, "ms-a", 4),
    result("r-b4", 32, 4, session="ms-b"),  # its own header outranks the nearer a4
    result("r-a4", 33, 4),
    listing("a5", 40, "ms-a", 5),
    result("r-a5", 41, 5),
]
PAIRS = {
    "r-a1": "a1",
    "r-b1": "b1",
    "r-b2": "b2",
    "r-a2": "a2",
    "r-a3": "a3",
    "r-b3": "b3",
    "r-b4": "b4",
    "r-a4": "a4",
    "r-a5": "a5",
}
SESSIONS = {"a": {"a1", "a2", "a3", "a4", "a5"}, "b": {"b1", "b2", "b3", "b4"}}


def envelopes(events: Iterable[Event]) -> list[Envelope]:
    return [Envelope(e, ingested_at=T0 + timedelta(hours=1), ingest_batch="b") for e in events]


def _final(rows: Iterable[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """What ``SELECT ... FINAL`` keeps: the last row of the highest version per key."""
    kept: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row[key] not in kept or row["version"] >= kept[row[key]]["version"]:
            kept[row[key]] = row
    return kept


def stitch(batches: Iterable[Sequence[Event]]) -> tuple[Stitcher, list[StitchOutput]]:
    stitcher = Stitcher()
    return stitcher, [stitcher.process(envelopes(batch)) for batch in batches]


def check(stitcher: Stitcher, outputs: list[StitchOutput]) -> None:
    state = stitcher.state
    actions = _final((r for o in outputs for r in o.actions), "action_id")
    raw = {r["event_id"]: r for o in outputs for r in o.raw_events}
    # Every event is stored, once; results are no actions.
    assert sorted(raw) == sorted(e.event_id for e in EVENTS)
    assert not any(e.kind == ev.TOOL_RESULT and e.event_id in actions for e in EVENTS)
    # Each tool call's last row names the result that answers it.
    answered = {
        row["outcome_event_id"]: action_id
        for action_id, row in actions.items()
        if row["outcome_event_id"]
    }
    assert answered == {r: c for r, c in PAIRS.items() if r != "r-a5"}
    assert actions["a2"]["outcome"] == ev.FAILURE
    assert actions["a5"]["outcome"] == ev.UNKNOWN  # a listing's row is not an outcome
    # Two sessions, both started by requests; no result started one.
    roots = {
        name: {state.resolve(actions[i]["session_id"]) for i in ids}
        for name, ids in SESSIONS.items()
    }
    assert all(len(found) == 1 for found in roots.values())
    a, b = roots["a"].pop(), roots["b"].pop()
    assert a != b and set(state.sessions) == {a, b}
    stored_sessions = {r["session_id"] for o in outputs for r in o.sessions}
    assert {state.resolve(s) for s in stored_sessions} == {a, b}
    # Each session counts its requests and the results that answer them.
    assert state.sessions[a].event_count == 2 * len(SESSIONS["a"])
    assert state.sessions[b].event_count == 2 * len(SESSIONS["b"])
    assert (state.sessions[a].failure_count, state.sessions[b].failure_count) == (1, 0)
    # A stored result names no session, or the session of a request; the orphan none.
    for event_id, row in raw.items():
        if event_id.startswith(("r-", "orphan")):
            assert row["session_id"] in {"", a, b}
    assert raw["orphan"]["session_id"] == ""
    assert state.waiting_results() == {f"{SERVER}:9": ["orphan"]}
    assert state.open_calls() == {}


def test_one_batch_in_time_order() -> None:
    stitcher, outputs = stitch([EVENTS])
    check(stitcher, outputs)
    raw = {r["event_id"]: r["session_id"] for r in outputs[0].raw_events}
    actions = {r["action_id"]: r["session_id"] for r in outputs[0].actions}
    # Within one batch every paired result is stored in its request's session.
    for result_id, call_id in PAIRS.items():
        assert raw[result_id] == actions[call_id]


def test_one_event_per_batch_in_time_order() -> None:
    check(*stitch([[e] for e in EVENTS]))


def test_results_delivered_before_all_their_requests() -> None:
    results = [e for e in EVENTS if e.kind == ev.TOOL_RESULT]
    requests = [e for e in EVENTS if e.kind != ev.TOOL_RESULT]
    stitcher, outputs = stitch([results, requests])
    check(stitcher, outputs)
    # Nothing to pair with yet: stored with no session, and no session made for them.
    assert {r["session_id"] for r in outputs[0].raw_events} == {""}
    assert outputs[0].sessions == [] and outputs[0].actions == []


def test_results_delivered_after_all_their_requests() -> None:
    results = [e for e in EVENTS if e.kind == ev.TOOL_RESULT]
    requests = [e for e in EVENTS if e.kind != ev.TOOL_RESULT]
    check(*stitch([requests, results]))


@pytest.mark.parametrize("seed", range(12))
def test_shuffled_orders_and_batch_splits_pair_the_same(seed: int) -> None:
    rng = random.Random(seed)
    shuffled = list(EVENTS)
    rng.shuffle(shuffled)
    check(*stitch([shuffled]))
    check(*stitch([[e] for e in shuffled]))
    cuts = sorted(rng.sample(range(1, len(shuffled)), 3))
    bounds = [0, *cuts, len(shuffled)]
    check(*stitch([shuffled[i:j] for i, j in itertools.pairwise(bounds)]))


def test_a_nearer_request_arriving_later_takes_the_result_over() -> None:
    stitcher = Stitcher()
    first = stitcher.process(envelopes([call("a2", 4, "ms-a", 2), result("r-b2", 5.5, 2)]))
    assert _final(first.actions, "action_id")["a2"]["outcome_event_id"] == "r-b2"
    second = stitcher.process(envelopes([call("b2", 5, "ms-b", 2)]))
    rows = _final(second.actions, "action_id")
    assert rows["b2"]["outcome_event_id"] == "r-b2"
    # a2 is open again: its row goes back to pending, and its session gives the result up.
    assert (rows["a2"]["outcome"], rows["a2"]["outcome_event_id"]) == (ev.PENDING, "")
    a = stitcher.state.resolve(rows["a2"]["session_id"])
    assert stitcher.state.sessions[a].event_count == 1
    assert stitcher.state.open_calls() == {f"{SERVER}:2": ["a2"]}


def _answers(outputs: Iterable[StitchOutput]) -> dict[str, str]:
    """Each call's answer, as the ledger keeps its rows."""
    rows = _final((r for o in outputs for r in o.actions), "action_id")
    return {k: r["outcome_event_id"] for k, r in rows.items()}


def test_a_reply_naming_its_session_takes_its_request_back_from_one_without_a_header() -> None:
    """Many sessions on one server reuse an id: a reply without a header takes the nearest
    request before it, but never one that a reply naming its session claims."""
    events = [
        call("b1", 0, "ms-b", 1),
        call("a1", 1, "ms-a", 1),
        result("r-x", 2, 1),  # no header: a1 is the nearest before it
        result("r-a", 3, 1, session="ms-a"),  # names ms-a: a1 is its own
    ]
    for order in itertools.permutations(events):
        assert _answers(stitch([list(order)])[1]) == {"a1": "r-a", "b1": "r-x"}
        assert _answers(stitch([[e] for e in order])[1]) == {"a1": "r-a", "b1": "r-x"}


def test_a_reply_naming_its_session_waits_rather_than_answer_another_session() -> None:
    events = [
        call("a1", 0, "ms-a", 1),
        call("b1", 1, "ms-b", 1),
        result("r-a1", 2, 1, session="ms-a"),
        result("r-a2", 3, 1, session="ms-a"),  # ms-a's one id-1 request is taken
    ]
    for order in itertools.permutations(events):
        stitcher, outputs = stitch([list(order)])
        assert _answers(outputs) == {"a1": "r-a1", "b1": ""}
        assert stitcher.state.waiting_results() == {f"{SERVER}:1": ["r-a2"]}


def test_a_result_with_nothing_to_pair_is_stored_without_a_session() -> None:
    stitcher = Stitcher()
    bare = _event("bare", 0, [], kind=ev.TOOL_RESULT, operation="response", outcome=ev.SUCCESS)
    out = stitcher.process(envelopes([bare, result("orphan", 1, 9)]))
    assert [(r["event_id"], r["session_id"]) for r in out.raw_events] == [
        ("bare", ""),
        ("orphan", ""),
    ]
    assert out.sessions == out.actions == out.session_keys == []
    assert stitcher.state.sessions == {}


def test_a_result_waiting_for_its_request_is_held_without_its_record_or_text() -> None:
    """A result may wait the whole re-stitch window: what it holds is what pairing, the
    session's counts and the call's outcome read, not its record or the text it carries."""
    waiting = result("r-late", 1, 7, outcome=ev.FAILURE)
    waiting.attributes.update({ATTR_RESULT_TEXT: "x" * 4_000, ATTR_INTENT_SOURCE: "declared"})
    stitcher = Stitcher()
    first = stitcher.process(envelopes([waiting]))
    assert first.raw_events[0]["raw"] == waiting.raw  # the ledger keeps the record whole
    [group] = stitcher.state.rpc_groups.values()
    held = group.results["r-late"].event
    assert (held.raw, held.attributes) == ("", {ATTR_INTENT_SOURCE: "declared"})
    assert (held.event_id, held.event_time, held.keys) == (
        waiting.event_id,
        waiting.event_time,
        waiting.keys,
    )
    later = stitcher.process(envelopes([call("c-late", 0.5, "ms-c", 7)]))
    [answered] = [row for row in later.actions if row["action_id"] == "c-late"]
    assert (answered["outcome"], answered["outcome_detail"], answered["outcome_event_id"]) == (
        ev.FAILURE,
        "-32000: no such file",
        "r-late",
    )


def test_restored_pending_calls_and_waiting_results_pair_after_a_restart() -> None:
    before = Stitcher()
    out = before.process(envelopes([call("a1", 0, "ms-a", 1), result("early", 10, 7)]))
    state = StitchState.restore(
        window=timedelta(minutes=30),
        keys=out.session_keys,
        aliases=[],
        sessions=out.sessions,
        pending_actions=[r for r in out.actions if r["outcome"] == ev.PENDING],
        waiting_results=[result("early", 10, 7)],
    )
    after = Stitcher(state)
    out2 = after.process(envelopes([result("r-a1", 1, 1), call("a7", 9, "ms-a", 7)]))
    rows = _final(out2.actions, "action_id")
    assert rows["a1"]["outcome_event_id"] == "r-a1"
    assert rows["a7"]["outcome_event_id"] == "early"
    (root,) = after.state.sessions
    assert after.state.sessions[root].event_count == 4
    assert after.state.open_calls() == after.state.waiting_results() == {}


def _restarted(first: Sequence[Event], *, pairs: bool) -> Stitcher:
    """A stitcher started again after ``first`` was stitched and written, its state read
    back from the rows (with the pairing of the session window when ``pairs``)."""
    out = Stitcher().process(envelopes(first))
    actions = _final(out.actions, "action_id")
    window = timedelta(minutes=30)
    state = StitchState.restore(
        window=window,
        keys=out.session_keys,
        aliases=[],
        sessions=list(_final(out.sessions, "session_id").values()),
        pending_actions=[] if pairs else [r for r in actions.values() if r["outcome"] == "pending"],
        open_actions=list(actions.values()),
    )
    if pairs:
        stored = {row["event_id"]: row["session_id"] for row in out.raw_events}
        held = [(event, stored[event.event_id]) for event in first]
        calls = {k: r for k, r in actions.items() if r["kind"] == ev.TOOL_CALL}
        assert state.watermark is not None
        restore_pairs(
            state, held, calls, settled=state.watermark - state.restitch, given_up=T0 - window
        )
    return Stitcher(state)


def test_a_restart_holds_again_what_pairing_held_so_later_records_pair_as_without_it() -> None:
    """A result arriving after a restart answers a request that is no tool call (a
    ``tools/list``), and a call arriving after it takes over a result paired before it
    (nearer before the result): as without the restart."""
    first = [listing("l1", 0, "ms-a", 1), call("a1", 1, "ms-a", 5), result("r5", 10, 5)]
    then = [result("r1", 2, 1), call("a2", 8, "ms-b", 5)]

    def outcome(stitcher: Stitcher) -> tuple[dict[str, str], dict[str, int]]:
        rows = _final(stitcher.process(envelopes(then)).actions, "action_id")
        answers = {k: r["outcome_event_id"] for k, r in rows.items() if r["kind"] == ev.TOOL_CALL}
        counts = {sid: s.event_count for sid, s in stitcher.state.sessions.items()}
        return answers, counts

    through = Stitcher()
    through.process(envelopes(first))
    expected = outcome(through)
    assert expected[0] == {"a1": "", "a2": "r5"}  # r5 went over to the nearer a2
    assert sorted(expected[1].values()) == [2, 3]  # ms-a: l1, a1, r1; ms-b: a2, r5
    assert outcome(_restarted(first, pairs=True)) == expected
    # What a restart did before: r1 found no request, a2 found r5 taken.
    assert outcome(_restarted(first, pairs=False)) != expected


def test_settled_pairs_are_let_go_of_but_open_calls_stay() -> None:
    stitcher = Stitcher(StitchState(restitch=timedelta(minutes=15)))
    stitcher.process(envelopes([call("a1", 0, "ms-a", 1), result("r-a1", 1, 1)]))
    stitcher.process(envelopes([call("a2", 2, "ms-a", 2)]))
    stitcher.process(envelopes([call("later", 3600, "ms-a", 3)]))
    assert set(stitcher.state.rpc_groups) == {f"{SERVER}:2", f"{SERVER}:3"}


# -- the matching, against a reference computed from scratch ------------------------------


def reference_pairs(events: Sequence[Event]) -> dict[str, str]:
    """The rule of ``processors.pairing`` applied at once to every event. First the bound
    results, those whose header names a session some call of their id carries: in time
    order, each takes among its session's free calls of its id the nearest at or before it,
    else the earliest after it, or waits. Then the loose results, in time order, by the same
    rule among all the calls of their id still free."""
    calls = [e for e in events if e.kind == ev.TOOL_CALL]
    session_of = {e.event_id: dict(e.keys).get(ev.KEY_MCP_SESSION) for e in calls}
    rpc_of = {e.event_id: dict(e.keys)[ev.KEY_MCP_RPC] for e in calls}
    free = {e.event_id: e for e in calls}
    pairs: dict[str, str] = {}
    results = sorted(
        (e for e in events if e.kind == ev.TOOL_RESULT), key=lambda e: (e.event_time, e.event_id)
    )

    def take(res: Event, candidates: list[Event]) -> None:
        ordered = sorted(candidates, key=lambda c: (c.event_time, c.event_id))
        before = [c for c in ordered if c.event_time <= res.event_time]
        chosen = before[-1] if before else (ordered[0] if ordered else None)
        if chosen is not None:
            pairs[res.event_id] = chosen.event_id
            del free[chosen.event_id]

    def bound(res: Event) -> bool:
        keys = dict(res.keys)
        home = keys.get(ev.KEY_MCP_SESSION)
        return home is not None and any(
            rpc_of[c] == keys[ev.KEY_MCP_RPC] and session_of[c] == home for c in rpc_of
        )

    for res in filter(bound, results):
        keys = dict(res.keys)
        take(
            res,
            [
                c
                for c in free.values()
                if rpc_of[c.event_id] == keys[ev.KEY_MCP_RPC]
                and session_of[c.event_id] == keys[ev.KEY_MCP_SESSION]
            ],
        )
    for res in (r for r in results if not bound(r)):
        rpc = dict(res.keys)[ev.KEY_MCP_RPC]
        take(res, [c for c in free.values() if rpc_of[c.event_id] == rpc])
    return pairs


@st.composite
def captures(draw: st.DrawFn) -> tuple[list[Event], list[list[Event]]]:
    """Interleaved sessions on one server reusing ids, calls and results with and without
    their session's header, delivered in any order and any batches."""
    count = draw(st.integers(2, 14))
    times = draw(st.lists(st.integers(0, 60), min_size=count, max_size=count, unique=True))
    events: list[Event] = []
    for n, at in enumerate(times):
        rpc_id = draw(st.integers(1, 3))
        session = f"ms-{draw(st.integers(0, 2))}"
        if draw(st.booleans()):
            events.append(
                call(f"c{n}", at, draw(st.sampled_from([session, session, None])), rpc_id)
            )
        else:
            header = draw(st.sampled_from([None, session]))
            events.append(result(f"r{n}", at, rpc_id, session=header))
    order = draw(st.permutations(events))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, count - 1)), max_size=4)))
    bounds = [0, *cuts, count]
    return events, [list(order[i:j]) for i, j in itertools.pairwise(bounds) if i < j]


@given(captures())
@settings(max_examples=400, deadline=None)
def test_any_arrival_order_pairs_as_the_reference(
    capture: tuple[list[Event], list[list[Event]]],
) -> None:
    events, batches = capture
    stitcher, outputs = stitch(batches)
    actions = _final((r for o in outputs for r in o.actions), "action_id")
    found = {
        row["outcome_event_id"]: action_id
        for action_id, row in actions.items()
        if row["outcome_event_id"]
    }
    assert found == reference_pairs(events)
    waiting = {i for ids in stitcher.state.waiting_results().values() for i in ids}
    results = {e.event_id for e in events if e.kind == ev.TOOL_RESULT}
    assert waiting == results - set(found)
