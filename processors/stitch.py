"""Stitching: resolve each event's correlation keys to a ledger session, list in, rows out.

Keys link events: any key two events share puts them in one session. When one event
carries keys of two sessions, the sessions merge: the later one becomes an alias of the
earlier one, and the alias row records the key and the rule that made the merge. Every
action row records which key linked it and by which rule, so an analyst can ask "why".

Each action is labelled (``processors.attribution``) when it is stitched, and labelled again
whenever its session's context changes: a declaration or a token grant arriving late, a merge,
an upstream session's intent. Actions stay open to that for ``restitch`` (default 15 minutes)
of event time after them; a new label is a new ``attributions`` row that replaces the old one.

A JSON-RPC result (``tool_result``) is no action and never starts a session: it pairs with its
request (``processors.pairing``, by server, id and time) and joins that request's session; a
tool call's row is written again with the outcome. A result that pairs with nothing is still
stored in ``raw_events``, with an empty ``session_id`` (``ledger.queries.unpaired_results``
lists them), and waits for its request. The ``session_id`` of a stored result is the pairing
when its batch was written; a request arriving later and nearer may still take the result
over, and the ``actions`` rows (``outcome_event_id``) then say which call it answers.

``Stitcher`` is the front door; the jobs live beside it:

- ``processors.sessions``: the state (session summaries, key index, open actions), restore;
- ``processors.linking``: which session an event joins, and merges;
- ``processors.pairing``: which request a JSON-RPC result answers;
- ``processors.federation``: which session held the token a token exchange took in;
- ``processors.declare``: session declarations;
- ``processors.relabel``: labelling and relabelling in each session's context;
- ``ledger.rows``: the shape of every row written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from kernel import events as ev
from kernel.access import access_of
from kernel.codec import Envelope
from kernel.declaration import SessionDeclaration
from kernel.events import Event
from kernel.vocabulary import WEB_IDENTITY_KEY
from ledger.rows import (
    Answer,
    Row,
    StitchOutput,
    action_row,
    answered_action,
    credential_row,
    exchange_row,
    raw_event_row,
)
from processors.declare import apply_declaration
from processors.federation import Inferred, hold_token, settle_exchanges
from processors.labels import ActionFacts, SessionContext, actors_of
from processors.linking import Link, link_event, merge, register_keys
from processors.pairing import Change, add_request, add_result, move_results
from processors.relabel import relabel, session_context
from processors.rpc_state import RpcGroup, RpcRequest, RpcResult, mcp_session_of, rpc_key_of
from processors.scored_events import SCORED_KINDS
from processors.sessions import Exchange, StitchState, sweep_mark

log = logging.getLogger(__name__)


def _version() -> int:
    return time.time_ns()


@dataclass(slots=True)
class _Batch:
    """What one batch's pairing touched: sessions, tool calls to write again, result rows."""

    touched: set[str] = field(default_factory=set)
    calls: dict[str, tuple[RpcRequest, RpcGroup]] = field(default_factory=dict)  # by call id
    results: dict[str, tuple[Row, RpcGroup]] = field(default_factory=dict)  # id -> raw row


class Stitcher:
    """Turns decoded events into ledger rows; one instance per worker, state kept across batches."""

    def __init__(self, state: StitchState | None = None) -> None:
        self.state = state or StitchState()

    def process(self, batch: Sequence[Envelope]) -> StitchOutput:
        """Stitch ``batch`` in arrival order, so that the rows a stream gives do not depend
        on where its batches begin and end: the batch is cut after each event that moves the
        watermark across a sweep mark, and what came before the cut is stitched, labelled
        and swept as a batch ending there would have been; an event that arrives already
        past the re-stitch window is labelled and let go of as soon as it is stitched."""
        out = StitchOutput()
        version = _version()
        state = self.state
        touched: set[str] = set()
        if state.watermark is None and batch:
            # A first batch: the watermark its first event gives, as a batch of that event
            # alone would leave it, before any other event is stitched.
            touched |= self._advance(batch[0].event.event_time, out, version)
        start = 0
        for index, env in enumerate(batch):
            at = env.event.event_time
            watermark = state.watermark
            if (
                watermark is not None
                and at > watermark
                and sweep_mark(at, state.restitch) != sweep_mark(watermark, state.restitch)
            ):
                touched |= self._stitch(batch[start : index + 1], out, version)
                start = index + 1
        if start < len(batch):
            touched |= self._stitch(batch[start:], out, version)
        # The sessions' rows once, as they are after the whole batch (a row written at a
        # cut would be replaced by the batch's last one anyway: they share its version).
        self._session_rows(touched, out, version)
        return out

    def _session_rows(self, touched: set[str], out: StitchOutput, version: int) -> None:
        state = self.state
        for root in sorted({state.resolve(sid) for sid in touched}):
            if root in state.sessions:
                out.sessions.append(state.sessions[root].row(version))

    def _stitch(self, events: Sequence[Envelope], out: StitchOutput, version: int) -> set[str]:
        """Stitch, label and sweep ``events`` as one batch; the sessions they touched."""
        state = self.state
        paired = _Batch()
        touched = paired.touched
        newest: datetime | None = None
        for env in events:
            event = env.event
            if newest is None or event.event_time > newest:
                newest = event.event_time
            if event.kind == ev.TOOL_RESULT:
                self._answer(env, out, paired, version)
                if state.is_late(event.event_time):
                    self._let_go_late(paired, "", out, version)
                continue
            link = link_event(state, event, out, version)
            sid = link.session_id
            touched.add(sid)
            register_keys(state, event, sid, out, version)
            hold_token(state, event, sid, out, version)
            session = state.sessions[sid]
            session.add_event(event)
            out.raw_events.append(raw_event_row(env, sid, version))
            session.action_count += 1
            row = self._action(event, link, version, paired)
            if link.waiting is not None:  # kept to link it anew once it is decided
                link.waiting.row = row
            out.actions.append(row)
            if event.kind in SCORED_KINDS:
                out.fed.append((event, row))
            state.add_facts(ActionFacts.of(row, event.event_time), sid)
            if event.kind == ev.TOKEN_GRANT:
                out.credentials.append(credential_row(event, sid, version))
            if event.principal:
                state.last_by_principal[(event.principal, event.client_id or "")] = sid
            if state.is_late(event.event_time):
                self._let_go_late(paired, sid, out, version)
        self._settle(paired, out, version)
        relabel(state, {state.resolve(sid) for sid in touched}, out, version)
        if newest is not None:
            touched |= self._advance(newest, out, version)
        return touched

    def _advance(self, at: datetime, out: StitchOutput, version: int) -> set[str]:
        """Move the watermark to ``at``; when that sweeps, the token exchanges the re-stitch
        window now passes are decided first (their actions are still open to a new label,
        the tokens they need still held). The sessions that changed."""
        state = self.state
        watermark = at if state.watermark is None or at > state.watermark else state.watermark
        mark = sweep_mark(watermark, state.restitch)
        touched: set[str] = set()
        if mark != state.swept_at and state.exchanges:
            touched = self._settle_exchanges(mark - state.restitch, out, version)
        state.advance(at)
        return touched

    def settle_idle(self) -> StitchOutput:
        """The stream is idle: what it sent is taken as all there is, and the token exchanges
        waiting that some session's token accounts for are decided now, whatever their age
        (``federation.settle_exchanges``); those no token accounts for wait for the window."""
        out = StitchOutput()
        if not self.state.exchanges:
            return out
        version = _version()
        self._session_rows(self._settle_exchanges(None, out, version), out, version)
        return out

    def _settle_exchanges(
        self, cutoff: datetime | None, out: StitchOutput, version: int
    ) -> set[str]:
        """Decide the token exchanges older than ``cutoff`` (``federation.settle_exchanges``):
        each joins the one session that held its token, or says that two did, or none."""
        state = self.state
        touched: set[str] = set()
        for identity, exchange, inferred in settle_exchanges(state, cutoff):
            # version + 1: replaces its waiting row, even one written in this batch.
            out.web_identities.append(
                exchange_row(
                    identity, exchange.event_id, exchange.session_id, exchange.at, False,
                    version + 1,
                )
            )  # fmt: skip
            own = state.resolve(exchange.session_id)
            touched.add(own)
            root = state.resolve(inferred.root) if inferred.root is not None else own
            # Two declared sessions never merge, nor does a declared one into another.
            apart = root != own and state.sessions[own].declared
            if apart:
                evidence = f"{inferred.evidence}; not merged: this session was declared"
                inferred = replace(inferred, evidence=evidence)
            self._decided(exchange, inferred, out, version)
            if root == own or apart:
                continue  # an ambiguity, no session held such a token, or kept apart
            via = Link(own, WEB_IDENTITY_KEY, inferred.evidence, inferred.rule)
            merge(state, root, via, exchange.event_id, inferred.rule, out, version)
            touched.add(root)
        if touched:
            relabel(state, {state.resolve(sid) for sid in touched}, out, version)
        return touched

    def _decided(
        self, exchange: Exchange, inferred: Inferred, out: StitchOutput, version: int
    ) -> None:
        """The exchange's action, linked now by what was decided, with its evidence."""
        row = exchange.row
        if row is None:  # written before a restart that could not read it back
            return
        link = {"link_key_type": WEB_IDENTITY_KEY, "link_key": inferred.evidence}
        row = {**row, **link, "link_rule": inferred.rule, "version": version + 1}
        exchange.row = row
        out.actions.append(row)
        facts = self.state.facts.get(exchange.event_id)
        if facts is not None:
            facts.link_key_type, facts.link_key = WEB_IDENTITY_KEY, inferred.evidence
            facts.link_rule = inferred.rule

    def _let_go_late(self, paired: _Batch, sid: str, out: StitchOutput, version: int) -> None:
        """An event that arrived already past the re-stitch window is labelled (with its
        session as it is now) and let go of at once, as a batch ending with it would: what
        comes after it in the batch can no longer change its label or take its pair."""
        state = self.state
        if state.late_rpc:  # write the pairs' rows before letting go of them
            self._settle(paired, out, version)
            paired.calls.clear()
            paired.results.clear()
        if sid:
            relabel(state, [sid], out, version)
        state.let_go_late()

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

    def _action(self, event: Event, link: Link, version: int, paired: _Batch) -> Row:
        """The action's row; a request is held for its result, a tool call's row carries it."""
        rpc = rpc_key_of(event)
        is_call = event.kind == ev.TOOL_CALL
        call_rpc = rpc if is_call and rpc is not None else ""
        row = action_row(event, link, access_of(event), actors_of(event), version, call_rpc)
        if rpc is None:
            return row
        own = (event.outcome, event.outcome_detail or "")
        request = RpcRequest(
            event.event_id,
            event.event_time,
            link.session_id,
            None,
            own=own,
            mcp_session=mcp_session_of(event),
        )
        changes = add_request(self.state, rpc, request)
        group = self.state.rpc_groups[rpc]
        self._apply(group, changes, paired)
        if is_call:
            # Its first row already carries a result that was waiting for it.
            row = answered_action(row, _answer_of(group, request), version)
            request.row = row
        return row

    def _answer(self, env: Envelope, out: StitchOutput, paired: _Batch, version: int) -> None:
        """A result: stored, held under its rpc key, paired with a request if there is one."""
        event = env.event
        row = raw_event_row(env, "", version)
        out.raw_events.append(row)
        out.fed.append((event, row))
        rpc = rpc_key_of(event)
        if rpc is None:  # nothing to pair by (a bare message names no server): kept, unpaired
            return
        changes = add_result(self.state, rpc, RpcResult(event))
        group = self.state.rpc_groups[rpc]
        paired.results[event.event_id] = (row, group)
        self._apply(group, changes, paired)

    def _apply(self, group: RpcGroup, changes: list[Change], paired: _Batch) -> None:
        """Move results between requests, and their counts between sessions."""
        state = self.state

        def moved(request: RpcRequest, result: RpcResult, sign: int) -> None:
            sid = state.resolve(request.session_id)
            session = state.sessions[sid]
            if sign > 0:
                session.add_event(result.event)
            else:
                session.drop_event(result.event)
            paired.touched.add(sid)
            if request.row is not None:
                paired.calls[request.event_id] = (request, group)

        move_results(state, group, changes, moved)

    def _settle(self, paired: _Batch, out: StitchOutput, version: int) -> None:
        """Write again each tool call whose answer changed; give each result its session."""
        for request, group in paired.calls.values():
            if request.row is None:
                continue
            answer = _answer_of(group, request)
            written = request.row
            if (written["outcome"], written["outcome_detail"], written["outcome_event_id"]) != (
                answer
            ):
                # version + 1: replaces the row written before, even within one batch.
                request.row = answered_action(written, answer, version + 1)
                out.actions.append(request.row)
        unpaired = 0
        for result_id, (row, group) in paired.results.items():
            answered = group.requests.get(group.results[result_id].request)
            if answered is None:
                unpaired += 1
            else:
                row["session_id"] = self.state.resolve(answered.session_id)
                out.answered[result_id] = answered.event_id
        if unpaired:
            log.debug("%d JSON-RPC results stored without a request to answer yet", unpaired)


def _answer_of(group: RpcGroup, request: RpcRequest) -> Answer:
    """What the result paired with ``request`` reports; its own outcome while there is none."""
    result = group.results.get(request.result) if request.result else None
    if result is None:
        return request.own[0], request.own[1], ""
    event = result.event
    return event.outcome, event.outcome_detail or "", event.event_id
