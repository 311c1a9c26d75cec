"""Pairing JSON-RPC results with their requests.

A JSON-RPC result never links by its keys and never starts a session: it pairs with a
request of the same rpc key (server and id, ``ingest.mcp``) and joins that request's
session. Ids repeat across sessions, so the pairing is a matching, the same whatever order
events arrive in: results are taken in event-time order (then event id), and each takes the
open request nearest before it; a result with none before it (a server clock running behind)
takes the earliest open request after it. Among open requests in the session the result's
own ``Mcp-Session-Id`` names, if any, the nearest of those wins. A result that pairs with
nothing waits (and is stored with no session) until its request arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from kernel import events as ev
from kernel.events import Event
from processors.rpc_state import RpcGroup, RpcRequest, RpcResult, rpc_key_of
from processors.sessions import StitchState

# (result id, request it leaves or "", request it now answers or "")
Change = tuple[str, str, str]


def add_request(state: StitchState, rpc: str, request: RpcRequest) -> list[Change]:
    """Hold ``request`` under ``rpc``; the results that pair differently now."""
    group = state.rpc_groups.setdefault(rpc, RpcGroup())
    group.hold(request)
    if state.is_late(request.at):  # let go of at the batch's end, as a sweep would have
        state.late_rpc.add(rpc)
    return _take_spare(state, group, request)


def add_result(state: StitchState, rpc: str, result: RpcResult) -> list[Change]:
    """Hold ``result`` under ``rpc``; the results (itself included) that pair differently."""
    group = state.rpc_groups.setdefault(rpc, RpcGroup())
    group.hold_result(result)
    if state.is_late(result.event.event_time):
        state.late_rpc.add(rpc)
    group.unsettled.add(result.event.event_id)  # waiting, until a pairing says otherwise
    return _insert_result(state, group, result)


def _take_spare(state: StitchState, group: RpcGroup, request: RpcRequest) -> list[Change]:
    """A new request is one more free one, the spare. Walking the results in order, each
    keeps its request or takes the spare, whichever the rule prefers; the one it lets go is
    the spare for the next. The same matching as redone from scratch, at one comparison per
    result, from the earliest result the spare can reach: a settled one before the request
    (``is_unsettled``) answers a request before itself that it prefers to any later one,
    but an unsettled one may take the request, and pass back a spare from earlier on."""
    start = (request.at, request.event_id)
    results, requests = group.results, group.requests
    unsettled = group.unsettled
    if len(unsettled) * 4 < len(group.ordered):
        for result_id in unsettled:
            order = results[result_id].order
            if order < start:
                start = order
    elif unsettled:  # most results are unsettled: the first in order is one of the first
        for order, result_id in group.ordered:
            if result_id in unsettled:
                start = min(start, order)
                break
    spare = request
    spare_root = ""  # the spare's session, once a result with a home asks for it
    changes: list[Change] = []
    for _, result_id in group.entries_from(start):
        result = results[result_id]
        current = requests.get(result.request) if result.request else None
        if current is not None:
            # Whether it answers the spare rather than its current request (the module's
            # rule: its own session's requests first, then the nearest before it, else the
            # earliest after), written out: the walk asks it of every result from the start.
            home = _home_session(state, result) if result.session_keys else None
            if home is not None:
                if not spare_root:
                    spare_root = state.resolve(spare.session_id)
                spare_home = spare_root == home
                if spare_home != (state.resolve(current.session_id) == home):
                    if not spare_home:
                        continue
                    changes.append((result_id, result.request, spare.event_id))
                    spare, spare_root = current, ""
                    continue
            at = result.event.event_time
            spare_before = spare.at <= at
            if spare_before != (current.at <= at):
                if not spare_before:
                    continue
            elif spare_before:
                if (spare.at, spare.event_id) <= (current.at, current.event_id):
                    continue
            elif (spare.at, spare.event_id) >= (current.at, current.event_id):
                continue
        changes.append((result_id, result.request, spare.event_id))
        if current is None:
            break
        spare, spare_root = current, ""
    return changes


def _insert_result(state: StitchState, group: RpcGroup, result: RpcResult) -> list[Change]:
    """A result arriving after later ones: the results before it chose before it and keep
    their requests. It takes the nearest of the requests free at its place (open, or held by
    a later result); a later result whose request it took chooses again among those free at
    its own place, and so on down the chain. Every other result keeps its request: the one
    request fewer was not the one it preferred."""
    changes: list[Change] = []
    current = result
    while True:
        # Free at its place: the open requests, and those held by later results (answered,
        # so never open: the two do not overlap and need no union).
        results, requests = group.results, group.requests
        free = [requests[request_id] for request_id in group.open]
        for _, result_id in group.entries_from(current.order, after=True):
            request_id = results[result_id].request
            if request_id:
                free.append(requests[request_id])
        chosen = _nearest(state, free, current)
        if chosen is None:
            if current.request:  # its request was taken, and nothing is left for it
                changes.append((current.event.event_id, current.request, ""))
            return changes
        changes.append((current.event.event_id, current.request, chosen.event_id))
        if not chosen.result:  # it was open: nobody else loses a request
            return changes
        current = group.results[chosen.result]


def _nearest(
    state: StitchState, requests: Iterable[RpcRequest], result: RpcResult
) -> RpcRequest | None:
    """The request ``result`` takes among ``requests`` (the module's rule), in one pass
    without sorting them: the nearest at or before it, else the earliest after it, among
    those of the session its header names when there are any, else among all."""
    home = _home_session(state, result)
    at = result.event.event_time
    # The nearest before and the earliest after, among the home session's requests and
    # among all, each with its (time, event id) order.
    home_before = home_after = before = after = None
    home_before_key = home_after_key = before_key = after_key = (at, "")
    resolve = state.resolve
    for request in requests:
        order = (request.at, request.event_id)
        if request.at <= at:
            if before is None or order > before_key:
                before, before_key = request, order
            if (
                home is not None
                and (home_before is None or order > home_before_key)
                and resolve(request.session_id) == home
            ):
                home_before, home_before_key = request, order
        else:
            if after is None or order < after_key:
                after, after_key = request, order
            if (
                home is not None
                and (home_after is None or order < home_after_key)
                and resolve(request.session_id) == home
            ):
                home_after, home_after_key = request, order
    if home_before is not None or home_after is not None:
        return home_before if home_before is not None else home_after
    return before if before is not None else after


def _home_session(state: StitchState, result: RpcResult) -> str | None:
    """The session the result's own ``Mcp-Session-Id`` leads to, if it has one we know."""
    for key in result.session_keys:
        sid = state.key_index.get(key)
        if sid is not None:
            return state.resolve(sid)
    return None


def is_unsettled(state: StitchState, group: RpcGroup, result: RpcResult) -> bool:
    """Whether a later request may still change ``result``'s pairing: it waits, answers a
    request outside the session its header names, or names a session not known yet (a
    merge can only bring a pair's sessions together, never apart, so a settled pair stays
    settled until a request arrives out of order)."""
    if not result.request:
        return True
    request = group.requests.get(result.request)
    if request is None or request.at > result.event.event_time:
        return True  # answers a request after it: one arriving in between is nearer
    if not result.session_keys:
        return False
    home = _home_session(state, result)
    return home is None or state.resolve(request.session_id) != home


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
                event.event_id, event.event_time, session_id, dict(row) if row else None, own=own
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
        if is_unsettled(state, group, result):
            group.unsettled.add(result_id)
        else:
            group.unsettled.discard(result_id)
        if new:
            request = group.requests[new]
            group.answer(request, result_id)
            if moved is not None:
                moved(request, result, 1)
