"""Stitching: resolve each event's correlation keys to a ledger session, list in, rows out.

Keys link events: any key two events share puts them in one session. When one event
carries keys of two sessions, the sessions merge: the later one becomes an alias of the
earlier one, and the alias row records the key and the rule that made the merge. Every
action row records which key linked it and by which rule, so an analyst can ask "why".

Each action is labelled (``processors.attribution``) when it is stitched, and labelled again
whenever its session's context changes: a declaration or a token grant arriving late, a merge,
an upstream session's intent. Actions stay open to that for ``restitch`` (default 15 minutes)
of event time after them; a new label is a new ``attributions`` row that replaces the old one.

``Stitcher`` is the front door; the jobs live beside it:

- ``processors.sessions``: the state (session summaries, key index, open actions), restore;
- ``processors.linking``: which session an event joins, and merges;
- ``processors.declare``: session declarations;
- ``processors.relabel``: labelling and relabelling in each session's context;
- ``ledger.rows``: the shape of every row written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kernel import events as ev
from kernel.access import access_of
from kernel.codec import Envelope
from kernel.declaration import SessionDeclaration
from kernel.events import Event
from ledger.rows import (
    StitchOutput,
    action_row,
    answered_action,
    credential_row,
    raw_event_row,
)
from processors.declare import apply_declaration
from processors.labels import ActionFacts, SessionContext, actors_of
from processors.linking import Link, link_event, register_keys, rpc_key
from processors.relabel import relabel, session_context
from processors.sessions import StitchState


def _version() -> int:
    return time.time_ns()


class Stitcher:
    """Turns decoded events into ledger rows; one instance per worker, state kept across batches."""

    def __init__(self, state: StitchState | None = None) -> None:
        self.state = state or StitchState()

    def process(self, batch: Sequence[Envelope]) -> StitchOutput:
        out = StitchOutput()
        version = _version()
        state = self.state
        touched: set[str] = set()
        in_time_order = sorted(batch, key=lambda e: e.event.event_time)
        for env in in_time_order:
            event = env.event
            link = link_event(state, event, out, version)
            sid = link.session_id
            touched.add(sid)
            register_keys(state, event, sid, out, version)
            session = state.sessions[sid]
            session.add_event(event)
            out.raw_events.append(raw_event_row(env, sid))
            if event.kind == ev.TOOL_RESULT:
                self._answer(event, out, version)
            else:
                session.action_count += 1
                row = self._action(event, link, version)
                out.actions.append(row)
                state.add_facts(ActionFacts.of(row, event.event_time), sid)
            if event.kind == ev.TOKEN_GRANT:
                out.credentials.append(credential_row(event, sid, version))
            if event.principal:
                state.last_by_principal[(event.principal, event.client_id or "")] = sid
        roots = {state.resolve(sid) for sid in touched}
        for root in roots:
            if root in state.sessions:
                out.sessions.append(state.sessions[root].row(version))
        relabel(state, roots, out, version)
        if in_time_order:
            state.advance(in_time_order[-1].event.event_time)
        return out

    def declare(self, declaration: SessionDeclaration) -> StitchOutput:
        """Apply a session declaration: its bindings now lead to its session id, sessions
        already started by events carrying those bindings merge into it, and the declared
        origin, intent, agent and scopes become the session's."""
        out = StitchOutput()
        version = _version()
        sid = apply_declaration(self.state, declaration, out, version)
        relabel(self.state, [sid], out, version)
        return out

    def context(self, root: str) -> SessionContext:
        return session_context(self.state, root)

    def _action(self, event: Event, link: Link, version: int) -> dict[str, Any]:
        """The action's row; a tool call waits for its result, or takes one seen first."""
        rpc = rpc_key(event) if event.kind == ev.TOOL_CALL else None
        if rpc is None:
            return action_row(event, link, access_of(event), actors_of(event), version)
        early = self.state.early_results.pop(rpc, None)
        row = action_row(event, link, access_of(event), actors_of(event), version, rpc, early)
        if early is None:
            self.state.pending_calls[rpc] = row
        return row

    def _answer(self, event: Event, out: StitchOutput, version: int) -> None:
        """A tool result: its call's row again with the outcome, or kept until the call comes."""
        rpc = rpc_key(event)
        if rpc is None:
            return
        call = self.state.pending_calls.pop(rpc, None)
        answer = (event.outcome, event.outcome_detail or "", event.event_id)
        if call is None:
            self.state.early_results[rpc] = answer
            return
        # version + 1: replaces the pending row, even within one batch.
        out.actions.append(answered_action(call, answer, version + 1))
