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

from collections.abc import Iterable
from itertools import chain

from kernel import events as ev
from kernel.events import Event
from processors.sessions import RpcGroup, RpcRequest, RpcResult, StitchState

# (result id, request it leaves or "", request it now answers or "")
Change = tuple[str, str, str]


def add_request(state: StitchState, rpc: str, request: RpcRequest) -> list[Change]:
    """Hold ``request`` under ``rpc``; the results that pair differently now."""
    group = state.rpc_groups.setdefault(rpc, RpcGroup())
    group.hold(request)
    return _take_spare(state, group, request)


def add_result(state: StitchState, rpc: str, result: RpcResult) -> list[Change]:
    """Hold ``result`` under ``rpc``; the results (itself included) that pair differently."""
    group = state.rpc_groups.setdefault(rpc, RpcGroup())
    group.hold_result(result)
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
    for result_id in group.unsettled:
        order = group.results[result_id].order
        if order < start:
            start = order
    spare = request
    changes: list[Change] = []
    for result in group.results_from(start):
        current = group.requests.get(result.request) if result.request else None
        if _prefers(state, result, spare, current):
            changes.append((result.event.event_id, result.request, spare.event_id))
            if current is None:
                break
            spare = current
    return changes


def _prefers(
    state: StitchState, result: RpcResult, spare: RpcRequest, current: RpcRequest | None
) -> bool:
    """Whether ``result`` answers ``spare`` rather than ``current`` (the module's rule: its
    own session's requests first, then the nearest before it, else the earliest after)."""
    if current is None:
        return True
    home = _home_session(state, result.event)
    if home is not None:
        spare_home = state.resolve(spare.session_id) == home
        current_home = state.resolve(current.session_id) == home
        if spare_home != current_home:
            return spare_home
    at = result.event.event_time
    spare_before, current_before = spare.at <= at, current.at <= at
    if spare_before != current_before:
        return spare_before
    spare_key, current_key = (spare.at, spare.event_id), (current.at, current.event_id)
    return spare_key > current_key if spare_before else spare_key < current_key


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
        held = (r.request for r in group.results_from(current.order, after=True) if r.request)
        free = chain(group.open, held)
        chosen = _nearest(state, (group.requests[i] for i in free), current)
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
    home = _home_session(state, result.event)
    at = result.event.event_time
    # (before, after) for the home session's requests, then for every request.
    best: list[list[RpcRequest | None]] = [[None, None], [None, None]]
    for request in requests:
        order = (request.at, request.event_id)
        tiers = (0, 1) if home is not None and state.resolve(request.session_id) == home else (1,)
        for tier in tiers:
            before, after = best[tier]
            if request.at <= at:
                if before is None or order > (before.at, before.event_id):
                    best[tier][0] = request
            elif after is None or order < (after.at, after.event_id):
                best[tier][1] = request
    for before, after in best:
        if before is not None or after is not None:
            return before if before is not None else after
    return None


def _home_session(state: StitchState, event: Event) -> str | None:
    """The session the result's own ``Mcp-Session-Id`` leads to, if it has one we know."""
    for key in event.keys:
        if key[0] == ev.KEY_MCP_SESSION:
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
    if not any(key[0] == ev.KEY_MCP_SESSION for key in result.event.keys):
        return False
    home = _home_session(state, result.event)
    return home is None or state.resolve(request.session_id) != home
