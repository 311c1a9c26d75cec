"""Linking: which session an event joins, by which key and rule, and merging sessions;
and pairing JSON-RPC results with their requests.

Keys link events: any key two events share puts them in one session. When one event
carries keys of two sessions, the sessions merge: the later one becomes an alias of the
earlier one, and the alias row records the key and the rule that made the merge.

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

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from kernel import events as ev
from kernel.events import Event
from kernel.vocabulary import (
    LINK_MERGE,
    LINK_NEW,
    LINK_SESSION_NAME,
    LINK_SHARED_KEY,
    LINK_WINDOW,
)
from ledger.rows import StitchOutput, session_alias_row, session_key_row
from processors.labels import OWN_ID_KEY
from processors.sessions import (
    RpcGroup,
    RpcRequest,
    RpcResult,
    SessionState,
    StitchState,
    new_session_id,
)

# Key types that may link two sessions together; KEY_MCP_RPC only pairs a result with its request.
LINKING: Final = frozenset(ev.KEY_TYPES) - {ev.KEY_MCP_RPC}
# A caller-chosen AWS session name links when it equals a binding another source carries.
SESSION_NAME_TARGETS: Final = (ev.KEY_JTI, ev.KEY_MCP_SESSION, ev.KEY_TXN, ev.KEY_TRACE)
KEY_RANK: Final = {key_type: rank for rank, key_type in enumerate(ev.KEY_TYPES)}
# The ``link_key_type`` of the time-window rule: the link is the principal and its client.
PRINCIPAL_CLIENT_KEY: Final = "principal_client"


@dataclass(slots=True)
class Link:
    session_id: str
    key_type: str
    key_value: str
    rule: str


def link_event(state: StitchState, event: Event, out: StitchOutput, version: int) -> Link:
    """The session ``event`` joins, merging the sessions it bridges; a new one if none."""
    found = _candidates(state, event)
    if not found:
        fallback = _fallback(state, event)
        if fallback is not None:
            return fallback
        first = event.keys[0] if event.keys else (OWN_ID_KEY, event.event_id)
        sid = new_session_id(f"{first[0]}:{first[1]}")
        if sid in state.sessions or sid in state.aliases:
            sid = new_session_id(f"{OWN_ID_KEY}:{event.event_id}")
        state.sessions[sid] = SessionState(sid, event.event_time, event.event_time)
        return Link(sid, first[0], first[1], LINK_NEW)
    if len(found) == 1:
        return found[0]
    # Several sessions share this event: a declared one survives (its id was handed to
    # the declarer), else the earliest; the others become its aliases. Two declared
    # sessions stay apart (each declarer named its own; a trace id propagated from one
    # agent to the next is not a reason to merge them): the strongest key decides.
    sessions = state.sessions
    found.sort(key=lambda link: KEY_RANK.get(link.key_type, len(KEY_RANK)))
    declared = [link for link in found if sessions[link.session_id].declared]
    if declared:
        root = declared[0].session_id
    else:
        root = min(
            (link.session_id for link in found),
            key=lambda s: (sessions[s].first_seen, s),
        )
    for link in found:
        if link.session_id != root and not sessions[link.session_id].declared:
            merge(state, root, link, event.event_id, LINK_MERGE, out, version)
    return next(link for link in found if link.session_id == root)


def _candidates(state: StitchState, event: Event) -> list[Link]:
    """The first link found into each distinct session, strongest key first."""
    index, resolve = state.key_index, state.resolve
    found: dict[str, Link] = {}
    for key in event.keys:
        key_type = key[0]
        if key_type not in LINKING:
            continue
        sid = index.get(key)
        if sid is not None:
            sid = resolve(sid)
            if sid not in found:
                found[sid] = Link(sid, key_type, key[1], LINK_SHARED_KEY)
        # A caller-chosen AWS session name equal to a binding links either way round:
        # the STS call may be logged before or after the token it names.
        if key_type == ev.KEY_AWS_SESSION_NAME:
            bound = [(target, key[1]) for target in SESSION_NAME_TARGETS]
        elif key_type in SESSION_NAME_TARGETS:
            bound = [(ev.KEY_AWS_SESSION_NAME, key[1])]
        else:
            continue
        for other in bound:
            sid = index.get(other)
            if sid is not None:
                sid = resolve(sid)
                if sid not in found:
                    found[sid] = Link(sid, other[0], key[1], LINK_SESSION_NAME)
    return list(found.values())


def _fallback(state: StitchState, event: Event) -> Link | None:
    # The time window is the weakest evidence: only for events that carry no key of
    # their own (a new IdP session or token starts a new chain even for the same person).
    if event.principal and not any(k[0] in LINKING for k in event.keys):
        sid = state.last_by_principal.get((event.principal, event.client_id or ""))
        if sid is not None:
            sid = state.resolve(sid)
            session = state.sessions.get(sid)
            if session and abs(event.event_time - session.last_seen) <= state.window:
                return Link(sid, PRINCIPAL_CLIENT_KEY, event.principal, LINK_WINDOW)
    return None


def merge(
    state: StitchState,
    root: str,
    via: Link,
    event_id: str,
    rule: str,
    out: StitchOutput,
    version: int,
) -> None:
    """Fold ``via.session_id`` into ``root``, recording the key and rule that did it."""
    other = via.session_id
    state.sessions[root].absorb(state.sessions.pop(other))
    # The absorbed session and everything merged into it before now alias the root,
    # so that the ledger's alias rows always name the surviving session directly.
    moved = [(other, via.key_type, via.key_value, event_id)]
    moved += state.members.pop(other, [])
    for alias, key_type, key_value, merged_by in moved:
        state.aliases[alias] = root
        out.session_aliases.append(
            session_alias_row(
                alias,
                root,
                rule if alias == other else LINK_MERGE,
                key_type,
                key_value,
                merged_by,
                version,
            )
        )
    state.members.setdefault(root, []).extend(moved)
    # The absorbed session's actions are labelled again in the root's context.
    state.by_session.setdefault(root, []).extend(state.by_session.pop(other, []))
    state.contexts.pop(other, None)
    state.remapped.add(root)


def register_keys(
    state: StitchState, event: Event, session_id: str, out: StitchOutput, version: int
) -> None:
    """Let each key of ``event`` not seen before lead to its session from now on."""
    index = state.key_index
    session = state.sessions[session_id]
    for key_type, value in event.keys:
        # An rpc key names a request, not a session (ids repeat): pairing has its own index.
        if key_type == ev.KEY_MCP_RPC or (key_type, value) in index:
            continue
        index[(key_type, value)] = session_id
        session.keys.append(f"{key_type}:{value}")
        out.session_keys.append(
            session_key_row(key_type, value, session_id, event.event_time, event.event_id, version)
        )


# -- pairing JSON-RPC results with their requests ---------------------------------------------

# (result id, request it leaves or "", request it now answers or "")
Change = tuple[str, str, str]


def add_request(state: StitchState, rpc: str, request: RpcRequest) -> list[Change]:
    """Hold ``request`` under ``rpc``; the results that pair differently now."""
    group = state.rpc_groups.setdefault(rpc, RpcGroup())
    group.hold(request)
    # In order (the usual case): a request after everything held only changes the pairing
    # of a result still waiting, or of one answering a request outside its own session.
    latest = (request.at, request.event_id)
    in_order = group.last_request is None or group.last_request <= latest
    if in_order:
        group.last_request = latest
    if (
        in_order
        and (group.last_result is None or group.last_result < latest)
        and not group.unsettled
    ):
        return []
    return _take_spare(state, group, request)


def add_result(state: StitchState, rpc: str, result: RpcResult) -> list[Change]:
    """Hold ``result`` under ``rpc``; the results (itself included) that pair differently."""
    group = state.rpc_groups.setdefault(rpc, RpcGroup())
    group.results[result.event.event_id] = result
    group.unsettled.add(result.event.event_id)  # waiting, until a pairing says otherwise
    # In order: the results before it keep their requests, it takes the nearest left open.
    order = result.order
    if group.last_result is None or group.last_result <= order:
        group.last_result = order
        chosen = _nearest_open(state, group, result)
        return [(result.event.event_id, "", chosen.event_id)] if chosen is not None else []
    return _rematch(state, group, order)


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
    for result in sorted(
        (r for r in group.results.values() if r.order >= start), key=lambda r: r.order
    ):
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


def _rematch(state: StitchState, group: RpcGroup, since: tuple[datetime, str]) -> list[Change]:
    """The matching again from a result arriving late, at ``since``: the results before it
    chose before it and keep their requests; it and those after it choose again, in order,
    among the requests free at its place (open, or held by one of them). What moved."""
    redo = [result for result in group.results.values() if result.order >= since]
    held = {result.request for result in redo}
    pool = _Pool(state, [group.requests[i] for i in (group.open | held) if i])
    changes: list[Change] = []
    for result in sorted(redo, key=lambda r: r.order):
        chosen = pool.take(_home_session(state, result.event), result.event.event_time)
        new = chosen.event_id if chosen is not None else ""
        if new != result.request:
            changes.append((result.event.event_id, result.request, new))
    return changes


class _Pool:
    """Free requests in time order, all of them and by session, each taken at most once."""

    def __init__(self, state: StitchState, requests: Iterable[RpcRequest]) -> None:
        self._requests: dict[str, tuple[RpcRequest, str]] = {}
        self._all: list[tuple[datetime, str]] = []
        self._by_session: dict[str, list[tuple[datetime, str]]] = {}
        for request in requests:
            root = state.resolve(request.session_id)
            self._requests[request.event_id] = (request, root)
            entry = (request.at, request.event_id)
            self._all.append(entry)
            self._by_session.setdefault(root, []).append(entry)
        self._all.sort()
        for entries in self._by_session.values():
            entries.sort()

    def take(self, home: str | None, at: datetime) -> RpcRequest | None:
        """The nearest request at or before ``at`` (else the earliest after), among those of
        session ``home`` when it has any left, else among all; taken out of the pool."""
        candidates = self._by_session.get(home) if home is not None else None
        if not candidates:
            candidates = self._all
        if not candidates:
            return None
        index = bisect_right(candidates, (at, "\U0010ffff")) - 1
        entry = candidates[max(index, 0)]
        request, root = self._requests[entry[1]]
        for entries in (self._all, self._by_session[root]):
            del entries[bisect_left(entries, entry)]
        return request


def _nearest_open(state: StitchState, group: RpcGroup, result: RpcResult) -> RpcRequest | None:
    """``_nearest`` over the group's open requests in one pass, without sorting them."""
    home = _home_session(state, result.event)
    at = result.event.event_time
    # (before, after) for the home session's requests, then for every open request.
    best: list[list[RpcRequest | None]] = [[None, None], [None, None]]
    for request_id in group.open:
        request = group.requests[request_id]
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
