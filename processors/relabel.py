"""Relabelling: label new actions, and label again the open actions of every session whose
context changed (its own, or an upstream session's that its delegation chain passes through).

Actions stay open to a new label for ``restitch`` of event time after them; a new label is a
new ``attributions`` row that replaces the old one, written only when it differs.
"""

from __future__ import annotations

from collections.abc import Iterable

from kernel.vocabulary import ORIGIN_AGENT, ORIGIN_HUMAN, ORIGIN_SCHEDULE
from ledger.rows import StitchOutput
from processors.attribution import attribute
from processors.labels import Hop, SessionContext, signature
from processors.sessions import SessionState, StitchState


def relabel(state: StitchState, roots: Iterable[str], out: StitchOutput, version: int) -> None:
    """Label new actions of ``roots`` and of the sessions downstream of them, and label
    again every open action whose session context changed."""
    todo = {state.resolve(r) for r in roots}
    frontier = set(todo)
    while frontier:  # sessions started by an agent of a touched session, transitively
        below = {
            state.resolve(down)
            for up, downs in state.downstream.items()
            if state.resolve(up) in frontier
            for down in downs
        }
        frontier = below - todo
        todo |= frontier
    for root in sorted(todo):
        if root not in state.sessions:
            continue
        open_actions = state.by_session.get(root)
        if not open_actions:
            continue  # nothing left to label (a declaration alone, or all past the window)
        context = session_context(state, root)
        changed = root in state.remapped or state.contexts.get(root) != context
        state.contexts[root] = context
        for action_id in open_actions:
            facts = state.facts[action_id]
            if facts.emitted and not changed:
                continue
            row = attribute(facts, context).row(facts, root, version)
            sig = signature(row)
            if sig != facts.emitted:
                facts.emitted = sig
                out.attributions.append(row)
    state.remapped.difference_update(todo)


def session_context(state: StitchState, root: str) -> SessionContext:
    """What attribution needs to know of session ``root``: its agent, principal, intent and
    the chain of origins upstream of it."""
    session = state.sessions[root]
    return SessionContext(
        session_id=root,
        agent=session.agent,
        agent_ids=tuple(i for i in (session.agent_instance, session.agent_spiffe_id) if i),
        principal=session.principal,
        principal_type=session.principal_type,
        intent=session.intent_view(),
        upstream=_upstream(state, session, {root}),
    )


def _upstream(state: StitchState, session: SessionState, seen: set[str]) -> tuple[Hop, ...]:
    """The hops from ``session``'s origin back to the first origin of its chain."""
    via = "declaration" if session.declared else "token_grant"
    if session.origin_type in (ORIGIN_HUMAN, ORIGIN_SCHEDULE):
        return (Hop(session.origin_type, session.origin_principal, "", via),)
    if session.origin_type != ORIGIN_AGENT:
        return ()
    given = session.upstream_session_id or session.origin_principal
    root = state.resolve(given)
    upstream = state.sessions.get(root)
    if upstream is None or root in seen or len(seen) > 16:
        return (Hop(ORIGIN_AGENT, "", given, "declaration"),)  # not in the ledger (yet)
    hop = Hop(ORIGIN_AGENT, upstream.agent, root, "declaration", upstream.intent_view())
    return (hop, *_upstream(state, upstream, seen | {root}))
