"""Linking: which session an event joins, by which key and rule, and merging sessions.

Keys link events: any key two events share puts them in one session. When one event
carries keys of two sessions, the sessions merge: the later one becomes an alias of the
earlier one, and the alias row records the key and the rule that made the merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kernel import events as ev
from kernel.events import Event
from kernel.vocabulary import (
    LINK_MERGE,
    LINK_NEW,
    LINK_SESSION_NAME,
    LINK_SHARED_KEY,
    LINK_WEB_IDENTITY,
    LINK_WEB_IDENTITY_WAITING,
    LINK_WINDOW,
    WEB_IDENTITY_KEY,
)
from ledger.rows import StitchOutput, session_alias_row, session_key_row
from processors.federation import decide, exchanged, remember_exchange, waiting_evidence
from processors.labels import OWN_ID_KEY
from processors.sessions import (
    Exchange,
    SessionState,
    StitchState,
    new_session_id,
)

# Key types that may link two sessions together; KEY_MCP_RPC only pairs a result with its request.
LINKING: Final = frozenset(ev.KEY_TYPES) - {ev.KEY_MCP_RPC}
# A caller-chosen AWS session name links when it equals a binding another source carries.
SESSION_NAME_TARGETS: Final = (ev.KEY_JTI, ev.KEY_MCP_SESSION, ev.KEY_TXN, ev.KEY_TRACE)
# The key types a key's value is looked up under as well, for the rule above.
_SESSION_NAME_PEERS: Final = {
    ev.KEY_AWS_SESSION_NAME: SESSION_NAME_TARGETS,
    **{target: (ev.KEY_AWS_SESSION_NAME,) for target in SESSION_NAME_TARGETS},
}
KEY_RANK: Final = {key_type: rank for rank, key_type in enumerate(ev.KEY_TYPES)}
# The ``link_key_type`` of the time-window rule: the link is the principal and its client.
PRINCIPAL_CLIENT_KEY: Final = "principal_client"


@dataclass(slots=True)
class Link:
    session_id: str
    key_type: str
    key_value: str
    rule: str
    waiting: Exchange | None = None  # a token exchange whose inference waits (federation)


def link_event(state: StitchState, event: Event, out: StitchOutput, version: int) -> Link:
    """The session ``event`` joins, merging the sessions it bridges; a new one if none."""
    found = _candidates(state, event)
    identity = exchanged(event)
    if identity is None or any(link.rule == LINK_SESSION_NAME for link in found):
        return _joined(state, event, found, out, version)
    if not state.is_late(event.event_time):
        # A token exchange no key binds to its token's session: which session held the
        # token is decided once the re-stitch window has passed it (``processors.federation``).
        link = _joined(state, event, found, out, version)
        waiting = remember_exchange(state, event, link.session_id, out, version)
        evidence = waiting_evidence(identity)
        return Link(link.session_id, WEB_IDENTITY_KEY, evidence, LINK_WEB_IDENTITY_WAITING, waiting)
    # Already past the window: decided now, over the tokens known now.
    inferred = decide(state, identity, event.event_time)
    root = inferred.root
    if root is None:  # two sessions held such a token, or none did: neither is joined
        link = _joined(state, event, found, out, version)
        return Link(link.session_id, WEB_IDENTITY_KEY, inferred.evidence, inferred.rule)
    if all(link.session_id != root for link in found):
        found.append(Link(root, WEB_IDENTITY_KEY, inferred.evidence, inferred.rule))
    return _joined(state, event, found, out, version)


def _joined(
    state: StitchState, event: Event, found: list[Link], out: StitchOutput, version: int
) -> Link:
    if not found:
        fallback = _fallback(state, event)
        if fallback is not None:
            return fallback
        first = event.keys[0] if event.keys else (OWN_ID_KEY, event.event_id)
        sid = new_session_id(f"{first[0]}:{first[1]}")
        if sid in state.sessions or sid in state.aliases:
            sid = new_session_id(f"{OWN_ID_KEY}:{event.event_id}")
        state.sessions[sid] = SessionState(sid, event.event_time, event.event_time)
        # Named by its strongest key, as a later event's link would be: which one arrived
        # first does not change the key an action is recorded as linked by.
        shown = min((k for k in event.keys if k[0] in LINKING), key=_rank, default=first)
        return Link(sid, shown[0], shown[1], LINK_NEW)
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
            # A shared key merges; an inferred link merges under its own, weaker rule.
            rule = LINK_WEB_IDENTITY if link.rule == LINK_WEB_IDENTITY else LINK_MERGE
            merge(state, root, link, event.event_id, rule, out, version)
    return next(link for link in found if link.session_id == root)


def _candidates(state: StitchState, event: Event) -> list[Link]:
    """The link into each distinct session by its strongest key (the first of equals),
    strongest first. One pass: most events have a few keys and lead to one session."""
    index, resolve = state.key_index, state.resolve
    found: dict[str, tuple[int, int, Link]] = {}  # session -> (rank, position, link)
    for position, key in enumerate(event.keys):
        key_type = key[0]
        if key_type not in LINKING:
            continue
        rank = KEY_RANK[key_type]
        sid = index.get(key)
        if sid is not None:
            sid = resolve(sid)
            held = found.get(sid)
            if held is None or rank < held[0]:
                found[sid] = (rank, position, Link(sid, key_type, key[1], LINK_SHARED_KEY))
        # A caller-chosen AWS session name equal to a binding links either way round:
        # the STS call may be logged before or after the token it names.
        for other_type in _SESSION_NAME_PEERS.get(key_type, ()):
            sid = index.get((other_type, key[1]))
            if sid is not None:
                sid = resolve(sid)
                held = found.get(sid)
                if held is None or rank < held[0]:
                    link = Link(sid, other_type, key[1], LINK_SESSION_NAME)
                    found[sid] = (rank, position, link)
    if len(found) < 2:
        return [link for *_, link in found.values()]
    return [link for *_, link in sorted(found.values(), key=lambda item: item[:2])]


def _rank(key: tuple[str, str]) -> int:
    return KEY_RANK.get(key[0], len(KEY_RANK))


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
        state.note_alias(alias)
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
