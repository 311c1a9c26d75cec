"""Pairing JSON-RPC results with their requests.

A JSON-RPC result never links by its keys and never starts a session: it pairs with a
request of the same rpc key (server and id, ``ingest.mcp``) and joins that request's
session. Ids repeat across sessions, so the pairing is a matching, the same whatever order
events arrive in, in two tiers:

- a result whose ``Mcp-Session-Id`` some request of its key carries is *bound*: it pairs
  among that MCP session's requests only, the session's results taken in event-time order
  (then event id), each taking the free request nearest before it, else the earliest after
  it (a server clock running behind); with none free it waits;
- every other result is *loose* (its capture logged no header on replies, or names a
  session none of whose requests are here): loose results, in the same order and by the
  same rule, take among the requests no bound result holds.

So a reply that names its session is never paired elsewhere, however many sessions share a
server, and a reply without one cannot take a request from a reply that has one. A result
that pairs with nothing waits (and is stored with no session) until its request arrives.

The matching is kept as it would be redone from scratch, one arrival at a time: a bound
result's MCP session is matched again whole (a few requests); the loose results are walked
only from where an arrival can change them (``_walk_spare``, ``_rechoose``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from kernel import events as ev
from kernel.events import Event
from processors.rpc_state import RpcGroup, RpcRequest, RpcResult, mcp_session_of, rpc_key_of
from processors.sessions import StitchState

# (result id, request it leaves or "", request it now answers or "")
Change = tuple[str, str, str]


class _Work:
    """One arrival's pairing, worked out over the group as it stands (an overlay; the
    group changes when ``move_results`` carries out what it returns)."""

    __slots__ = ("group", "held_back", "request_for", "result_for")

    def __init__(self, group: RpcGroup) -> None:
        self.group = group
        self.request_for: dict[str, str] = {}  # result id -> request id ("" none)
        self.result_for: dict[str, str] = {}  # request id -> result id ("" none)
        # Requests a bound result let go of, kept out of the loose results' reach until
        # each is offered to them in turn (``_walk_spare``).
        self.held_back: set[str] = set()

    def request_of(self, result_id: str) -> str:
        found = self.request_for.get(result_id)
        return self.group.results[result_id].request if found is None else found

    def result_of(self, request_id: str) -> str:
        found = self.result_for.get(request_id)
        return self.group.requests[request_id].result if found is None else found

    def pair(self, result_id: str, request_id: str) -> None:
        """``result_id`` answers ``request_id`` ("" none) now; whatever answered that
        request before must be given another by the caller."""
        old = self.request_of(result_id)
        if old:
            self.result_for[old] = ""
        self.request_for[result_id] = request_id
        if request_id:
            self.result_for[request_id] = result_id

    def is_free(self, request_id: str) -> bool:
        return not self.result_of(request_id) and request_id not in self.held_back

    def changes(self) -> list[Change]:
        results = self.group.results
        return [
            (result_id, results[result_id].request, new)
            for result_id, new in self.request_for.items()
            if new != results[result_id].request
        ]


def add_request(state: StitchState, rpc: str, request: RpcRequest) -> list[Change]:
    """Hold ``request`` under ``rpc``; the results that pair differently now."""
    group = state.rpc_groups.setdefault(rpc, RpcGroup())
    session = request.mcp_session
    binds = bool(session) and not group.requests_of.get(session)
    group.hold(request)
    if state.is_late(request.at):  # let go of at the batch's end, as a sweep would have
        state.late_rpc.add(rpc)
    work = _Work(group)
    if binds:
        # Its session's loose results are bound now: what they held goes back to the
        # loose results, offered in turn once the session is matched.
        for result in group.bind(session):
            held = work.request_of(result.event.event_id)
            if held:
                work.pair(result.event.event_id, "")
                work.held_back.add(held)
    if session and group.results_of.get(session):
        _match_session(work, session)
        if not work.result_of(request.event_id):
            work.held_back.add(request.event_id)
    else:
        work.held_back.add(request.event_id)
    _offer_held_back(work)
    return work.changes()


def add_result(state: StitchState, rpc: str, result: RpcResult) -> list[Change]:
    """Hold ``result`` under ``rpc``; the results (itself included) that pair differently."""
    group = state.rpc_groups.setdefault(rpc, RpcGroup())
    group.hold_result(result)
    if state.is_late(result.event.event_time):
        state.late_rpc.add(rpc)
    work = _Work(group)
    if group.is_bound(result):
        _match_session(work, result.mcp_session)
        _offer_held_back(work)
    else:
        group.unsettled.add(result.event.event_id)  # waiting, until a pairing says otherwise
        _rechoose(work, result)
    return work.changes()


def _chooses(at: datetime, candidate: RpcRequest, current: RpcRequest | None) -> bool:
    """Whether a result at ``at`` prefers ``candidate`` to ``current``: the nearest request
    at or before it, else the earliest after it (ties by event id)."""
    if current is None:
        return True
    candidate_before, current_before = candidate.at <= at, current.at <= at
    if candidate_before != current_before:
        return candidate_before
    key, held = (candidate.at, candidate.event_id), (current.at, current.event_id)
    return key > held if candidate_before else key < held


def _match_session(work: _Work, session: str) -> None:
    """Match the bound results naming ``session`` among its requests again, whole. A
    request taken from a loose result sends that result to choose again; one a bound
    result lets go of is held back, to be offered to the loose results."""
    group = work.group
    results = sorted((group.results[r] for r in group.results_of[session]), key=lambda r: r.order)
    free = sorted(
        (group.requests[q] for q in group.requests_of[session]), key=lambda q: (q.at, q.event_id)
    )
    target: dict[str, str] = {}
    for result in results:
        at = result.event.event_time
        chosen: RpcRequest | None = None
        for request in free:
            if _chooses(at, request, chosen):
                chosen = request
        target[result.event.event_id] = chosen.event_id if chosen is not None else ""
        if chosen is not None:
            free.remove(chosen)
    for result_id, request_id in target.items():
        held = work.request_of(result_id)
        if held and held != request_id:
            work.pair(result_id, "")
            if held not in target.values():
                work.held_back.add(held)
    displaced: list[RpcResult] = []
    for result_id, request_id in target.items():
        if not request_id or work.request_of(result_id) == request_id:
            continue
        holder = work.result_of(request_id)
        if holder:  # a loose result held it
            work.pair(holder, "")
            displaced.append(group.results[holder])
        work.pair(result_id, request_id)
        work.held_back.discard(request_id)
    for result in sorted(displaced, key=lambda r: r.order):
        _rechoose(work, result)


def _offer_held_back(work: _Work) -> None:
    """Offer each request held back to the loose results, earliest first."""
    requests = work.group.requests
    while work.held_back:
        request_id = min(work.held_back, key=lambda q: (requests[q].at, q))
        work.held_back.discard(request_id)
        if not work.result_of(request_id):
            _walk_spare(work, requests[request_id])


def _walk_spare(work: _Work, request: RpcRequest) -> None:
    """A request free for the loose results, the spare. Walking the loose results in
    order, each keeps its request or takes the spare, whichever the rule prefers; the one
    it lets go is the spare for the next. The same matching as redone from scratch, at one
    comparison per result, from the earliest result the spare can reach: a settled one
    before the request (answering a request before itself) prefers it to any later one,
    but an unsettled one may take the request, and pass back a spare from earlier on."""
    group = work.group
    results, requests = group.results, group.requests
    start = (request.at, request.event_id)
    unsettled = [*group.unsettled, *(r for r in work.request_for if _unsettled_now(work, r))]
    for result_id in unsettled:
        order = results[result_id].order
        if order < start:
            start = order
    spare = request
    for _, result_id in group.loose_from(start):
        result = results[result_id]
        held = work.request_of(result_id)
        current = requests[held] if held else None
        if not _chooses(result.event.event_time, spare, current):
            continue
        work.pair(result_id, spare.event_id)
        if current is None:
            return
        spare = current


def _unsettled_now(work: _Work, result_id: str) -> bool:
    """A loose result, as the work stands, waiting or answering a request after it."""
    group = work.group
    result = group.results[result_id]
    if group.is_bound(result):
        return False
    held = work.request_of(result_id)
    return not held or group.requests[held].at > result.event.event_time


def _rechoose(work: _Work, result: RpcResult) -> None:
    """A loose result without a request (new, or its request taken): it takes the nearest
    of the requests free at its place (free, or held by a later loose result); a later one
    whose request it took chooses again, and so on down the chain. Every other result keeps
    its request: the one request fewer was not the one it preferred."""
    group = work.group
    results, requests = group.results, group.requests
    current = result
    while True:
        at = current.event.event_time
        chosen: RpcRequest | None = None
        for request_id in group.open | set(work.result_for):
            if (
                request_id in requests
                and work.is_free(request_id)
                and _chooses(at, requests[request_id], chosen)
            ):
                chosen = requests[request_id]
        for _, result_id in group.loose_from(current.order, after=True):
            held = work.request_of(result_id)
            if held and held not in work.held_back and _chooses(at, requests[held], chosen):
                chosen = requests[held]
        if chosen is None:
            if work.request_of(current.event.event_id):
                work.pair(current.event.event_id, "")
            return
        holder = work.result_of(chosen.event_id)
        if holder:
            work.request_for[holder] = ""
        work.pair(current.event.event_id, chosen.event_id)
        if not holder:
            return
        current = results[holder]


def is_unsettled(group: RpcGroup, result: RpcResult) -> bool:
    """Whether a later request may still change a loose ``result``'s pairing: it waits, or
    answers a request after it (one arriving in between is nearer). A bound result is
    matched again with its MCP session whenever that changes."""
    if group.is_bound(result):
        return False
    if not result.request:
        return True
    request = group.requests.get(result.request)
    return request is None or request.at > result.event.event_time


def restore_pairs(
    state: StitchState,
    held: Iterable[tuple[Event, str]],
    calls: Mapping[str, Mapping[str, Any]],
    *,
    settled: datetime,
    given_up: datetime,
) -> None:
    """Hold again what a stitcher held for pairing before a restart: ``held`` is each
    request and result the ledger has from the session window, with the session each joined
    (parsed again from ``raw_events``), ``calls`` the latest ``actions`` row of each tool
    call among them. They are paired again in time order (the pairing does not depend on
    the order, so it gives the pairs the ledger holds: a session's counts already include
    them and are left alone), then let go of as the running stitcher's sweep
    (``StitchState.sweep_rpc``) did: so that a request arriving after the restart takes a
    result over, or finds one waiting, as it would have without it."""
    for event, session_id in sorted(held, key=lambda h: (h[0].event_time, h[0].event_id)):
        rpc = rpc_key_of(event)
        if rpc is None:
            continue
        if event.kind == ev.TOOL_RESULT:
            changes = add_result(state, rpc, RpcResult(event))
        else:
            row = calls.get(event.event_id)
            own = (event.outcome, event.outcome_detail or "")
            request = RpcRequest(
                event.event_id,
                event.event_time,
                session_id,
                dict(row) if row else None,
                own=own,
                mcp_session=mcp_session_of(event),
            )
            changes = add_request(state, rpc, request)
        move_results(state, state.rpc_groups[rpc], changes)
    state.sweep_rpc(settled, given_up)


def move_results(
    state: StitchState,
    group: RpcGroup,
    changes: list[Change],
    moved: Callable[[RpcRequest, RpcResult, int], None] | None = None,
) -> None:
    """Carry out ``changes`` (what ``add_request`` or ``add_result`` returned): each result
    leaves the request it answered and answers its new one. ``moved(request, result, sign)``
    hears of each request that lost (-1) or gained (+1) a result: the stitcher moves the
    result's count between sessions; a restore leaves the counts alone (the ledger's rows
    already count the pairs)."""
    for result_id, old, _ in changes:
        if old:
            request = group.requests[old]
            group.answer(request, "")
            if moved is not None:
                moved(request, group.results[result_id], -1)
    for result_id, _, new in changes:
        result = group.results[result_id]
        result.request = new
        if is_unsettled(group, result):
            group.unsettled.add(result_id)
        else:
            group.unsettled.discard(result_id)
        if new:
            request = group.requests[new]
            group.answer(request, result_id)
            if moved is not None:
                moved(request, result, 1)
