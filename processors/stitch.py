"""Stitching: resolve each event's correlation keys to a ledger session, list in, rows out.

Keys link events: any key two events share puts them in one session. When one event
carries keys of two sessions, the sessions merge: the later one becomes an alias of the
earlier one, and the alias row records the key and the rule that made the merge. Every
action row records which key linked it and by which rule, so an analyst can ask "why".

The state here is a projection of the ledger too: ``StitchState.restore`` rebuilds it from
the ``session_keys``, ``session_aliases``, ``sessions`` and pending ``actions`` rows.

Each action is labelled (``processors.attribution``) when it is stitched, and labelled again
whenever its session's context changes: a declaration or a token grant arriving late, a merge,
an upstream session's intent. Actions stay open to that for ``restitch`` (default 15 minutes)
of event time after them; a new label is a new ``attributions`` row that replaces the old one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kernel import events as ev
from kernel.access import access_of
from kernel.codec import Envelope
from kernel.declaration import SessionDeclaration
from kernel.events import Event
from kernel.events import ch_ts as ts
from kernel.vocabulary import HUMAN_TYPES
from processors.attribution import (
    ActionFacts,
    Hop,
    Intent,
    SessionContext,
    actors_of,
    agent_name,
    attribute,
    signature,
)

# Key types that may link two sessions together; KEY_MCP_RPC only pairs a result with its call.
LINKING = frozenset(ev.KEY_TYPES) - {ev.KEY_MCP_RPC}
# A caller-chosen AWS session name links when it equals a binding another source carries.
SESSION_NAME_TARGETS = (ev.KEY_JTI, ev.KEY_MCP_SESSION, ev.KEY_TXN, ev.KEY_TRACE)

KEY_RANK = {key_type: rank for rank, key_type in enumerate(ev.KEY_TYPES)}
# Who may state a session's intent, most authoritative first: the declarer, the token
# service (transaction-token purpose), then the agent's own client and its spans.
INTENT_RANK = {"declared": 0, "txn_token": 1, "mcp_ai_invocation": 2, "otel_invoke_agent": 3}

RULE_NEW = "new_session"
RULE_SHARED_KEY = "shared_key"
RULE_SESSION_NAME = "aws_session_name_binding"
RULE_RPC_PAIR = "mcp_rpc_pair"
RULE_WINDOW = "principal_client_window"
RULE_MERGE = "merge_shared_key"
RULE_DECLARED = "declared_binding"


def _version() -> int:
    return time.time_ns()


def new_session_id(first_key: str) -> str:
    return "s-" + hashlib.sha256(first_key.encode()).hexdigest()[:20]


@dataclass(slots=True)
class SessionState:
    session_id: str
    first_seen: datetime
    last_seen: datetime
    principal: str = ""
    principal_type: str = ""
    origin_type: str = ""
    origin_principal: str = ""
    agent_name: str = ""
    agent_version: str = ""
    agent_instance: str = ""
    client_id: str = ""
    intent: str = ""
    scopes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    event_count: int = 0
    action_count: int = 0
    failure_count: int = 0
    declared: bool = False
    intent_source: str = ""
    intent_tools: list[str] = field(default_factory=list)
    intent_resources: list[str] = field(default_factory=list)
    intent_actions: list[str] = field(default_factory=list)
    upstream_session_id: str = ""
    agent_spiffe_id: str = ""
    intent_at: datetime | None = None  # when an asserted intent was seen (earliest wins)

    def take_intent(self, text: str, source: str, at: datetime) -> None:
        """Keep the most authoritative intent; among equals the earliest, so that the
        order events arrive in does not matter (a restored one counts as earliest)."""
        rank = INTENT_RANK.get(source, len(INTENT_RANK))
        if not self.intent:
            self.intent, self.intent_source, self.intent_at = text, source, at
            return
        held = INTENT_RANK.get(self.intent_source, len(INTENT_RANK))
        if rank < held or (
            rank == held
            and self.intent_at is not None
            and (at, text) < (self.intent_at, self.intent)
        ):
            self.intent, self.intent_source, self.intent_at = text, source, at

    def intent_view(self) -> Intent | None:
        if not self.intent:
            return None
        return Intent(
            self.intent,
            self.intent_source,
            tuple(self.intent_tools),
            tuple(self.intent_resources),
            tuple(self.intent_actions),
        )

    @property
    def agent(self) -> str:
        return agent_name(self.agent_name, self.agent_instance)

    def prefer_principal(self, principal: str, principal_type: str) -> None:
        """Take ``principal`` unless the session already names a person and this is not one."""
        if not self.principal or (
            principal_type in HUMAN_TYPES and self.principal_type not in HUMAN_TYPES
        ):
            self.principal, self.principal_type = principal, principal_type

    def row(self, version: int) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "first_seen": ts(self.first_seen),
            "last_seen": ts(self.last_seen),
            "principal": self.principal,
            "principal_type": self.principal_type,
            "origin_type": self.origin_type,
            "origin_principal": self.origin_principal,
            "agent_name": self.agent_name,
            "agent_version": self.agent_version,
            "agent_instance": self.agent_instance,
            "client_id": self.client_id,
            "intent": self.intent,
            "scopes": self.scopes,
            "sources": self.sources,
            "keys": self.keys[:64],
            "event_count": self.event_count,
            "action_count": self.action_count,
            "failure_count": self.failure_count,
            "declared": self.declared,
            "intent_source": self.intent_source,
            "intent_tools": self.intent_tools,
            "intent_resources": self.intent_resources,
            "intent_actions": self.intent_actions,
            "upstream_session_id": self.upstream_session_id,
            "agent_spiffe_id": self.agent_spiffe_id,
            "version": version,
        }

    def absorb(self, other: SessionState) -> None:
        """Fold a merged session's summary into this one."""
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        if other.principal:
            self.prefer_principal(other.principal, other.principal_type)
        for name in (
            "origin_type",
            "origin_principal",
            "agent_name",
            "agent_version",
            "agent_instance",
            "client_id",
            "upstream_session_id",
            "agent_spiffe_id",
        ):
            if not getattr(self, name) and getattr(other, name):
                setattr(self, name, getattr(other, name))
        # A declared session is never absorbed (see ``Stitcher._link``): only an asserted
        # intent can come from ``other``, and the declared one, if any, is ``self``'s.
        if other.intent and not self.declared:
            self.take_intent(other.intent, other.intent_source, other.intent_at or other.first_seen)
        self.scopes = sorted(set(self.scopes) | set(other.scopes))
        self.sources = sorted(set(self.sources) | set(other.sources))
        self.keys = self.keys + [k for k in other.keys if k not in self.keys]
        self.event_count += other.event_count
        self.action_count += other.action_count
        self.failure_count += other.failure_count


@dataclass(slots=True)
class StitchOutput:
    """Rows for each ledger table, produced by one batch."""

    raw_events: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    session_keys: list[dict[str, Any]] = field(default_factory=list)
    session_aliases: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)
    declarations: list[dict[str, Any]] = field(default_factory=list)
    attributions: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[tuple[str, list[dict[str, Any]]]]:
        # raw_events last: its presence marks a batch as done for replays after a crash.
        return [
            ("session_keys", self.session_keys),
            ("session_aliases", self.session_aliases),
            ("sessions", self.sessions),
            ("actions", self.actions),
            ("credentials", self.credentials),
            ("declarations", self.declarations),
            ("attributions", self.attributions),
            ("raw_events", self.raw_events),
        ]


@dataclass(slots=True)
class Link:
    session_id: str
    key_type: str
    key_value: str
    rule: str


class StitchState:
    """Key index, aliases, session summaries and tool calls awaiting their result."""

    def __init__(
        self,
        window: timedelta = timedelta(minutes=30),
        restitch: timedelta = timedelta(minutes=15),
    ) -> None:
        self.window = window
        self.restitch = restitch
        self.key_index: dict[tuple[str, str], str] = {}
        self.aliases: dict[str, str] = {}
        # root -> (alias, key type, key value, event id) of every session merged into it
        self.members: dict[str, list[tuple[str, str, str, str]]] = {}
        self.sessions: dict[str, SessionState] = {}
        self.last_by_principal: dict[tuple[str, str], str] = {}
        self.pending_calls: dict[str, dict[str, Any]] = {}  # rpc key -> action row
        self.early_results: dict[str, tuple[str, str, str]] = {}  # rpc key -> outcome
        # Attribution: the actions still open to a new label, by id and by session root.
        self.facts: dict[str, ActionFacts] = {}
        self.by_session: dict[str, list[str]] = {}
        self.contexts: dict[str, SessionContext] = {}  # context each root was last labelled in
        self.remapped: set[str] = set()  # roots that absorbed actions since the last labelling
        self.downstream: dict[str, set[str]] = {}  # upstream session id -> sessions it started
        self.watermark: datetime | None = None  # newest event time seen
        self.swept_at: datetime | None = None

    def add_facts(self, facts: ActionFacts, root: str) -> None:
        self.facts[facts.action_id] = facts
        self.by_session.setdefault(root, []).append(facts.action_id)

    def advance(self, event_time: datetime) -> None:
        """Move the watermark; now and then let go of actions past the re-stitch window."""
        if self.watermark is None or event_time > self.watermark:
            self.watermark = event_time
        if self.swept_at is None:
            self.swept_at = self.watermark
        if self.watermark - self.swept_at < self.restitch / 4:
            return
        self.swept_at = self.watermark
        cutoff = self.watermark - self.restitch
        closed = {aid for aid, f in self.facts.items() if f.event_time < cutoff}
        if not closed:
            return
        for aid in closed:
            del self.facts[aid]
        for root in list(self.by_session):
            kept = [aid for aid in self.by_session[root] if aid not in closed]
            if kept:
                self.by_session[root] = kept
            else:
                del self.by_session[root]
                self.contexts.pop(root, None)

    def resolve(self, session_id: str) -> str:
        root = session_id
        while root in self.aliases:
            root = self.aliases[root]
        while session_id != root:  # path compression
            self.aliases[session_id], session_id = root, self.aliases[session_id]
        return root

    @classmethod
    def restore(
        cls,
        *,
        window: timedelta,
        keys: Iterable[Mapping[str, Any]],
        aliases: Iterable[Mapping[str, Any]],
        sessions: Iterable[Mapping[str, Any]],
        pending_actions: Iterable[Mapping[str, Any]],
        open_actions: Iterable[Mapping[str, Any]] = (),
        restitch: timedelta = timedelta(minutes=15),
    ) -> StitchState:
        """Rebuild from ledger rows (read with FINAL). ``open_actions`` are the actions
        within the re-stitch window, each with ``signature`` of its current label."""
        state = cls(window, restitch)
        for k in keys:
            state.key_index[(k["key_type"], k["key_value"])] = k["session_id"]
        for a in aliases:
            if a["alias_id"] != a["session_id"]:
                state.aliases[a["alias_id"]] = a["session_id"]
                state.members.setdefault(a["session_id"], []).append(
                    (a["alias_id"], a["key_type"], a["key_value"], a["event_id"])
                )
        for s in sessions:
            session = SessionState(
                session_id=s["session_id"],
                first_seen=_parse_ts(s["first_seen"]),
                last_seen=_parse_ts(s["last_seen"]),
                **{
                    name: s[name]
                    for name in (
                        "principal",
                        "principal_type",
                        "origin_type",
                        "origin_principal",
                        "agent_name",
                        "agent_version",
                        "agent_instance",
                        "client_id",
                        "intent",
                        "scopes",
                        "sources",
                        "keys",
                        "event_count",
                        "action_count",
                        "failure_count",
                    )
                },
                declared=bool(s.get("declared", False)),
                intent_source=s.get("intent_source", ""),
                intent_tools=list(s.get("intent_tools", [])),
                intent_resources=list(s.get("intent_resources", [])),
                intent_actions=list(s.get("intent_actions", [])),
                upstream_session_id=s.get("upstream_session_id", ""),
                agent_spiffe_id=s.get("agent_spiffe_id", ""),
            )
            state.sessions[session.session_id] = session
            if session.upstream_session_id:
                state.downstream.setdefault(session.upstream_session_id, set()).add(
                    session.session_id
                )
        # The window rule joins a principal's keyless events to their most recent session.
        for session in sorted(state.sessions.values(), key=lambda s: s.last_seen):
            if session.principal:
                state.last_by_principal[(session.principal, session.client_id)] = session.session_id
        for row in pending_actions:
            rpc = row.get("rpc_key")
            if rpc:
                state.pending_calls[str(rpc)] = dict(row)
        for row in open_actions:
            at = _parse_ts(row["event_time"])
            facts = ActionFacts.of(dict(row), at)
            facts.emitted = row.get("signature") or ()
            state.add_facts(facts, state.resolve(facts.session_id))
            if state.watermark is None or at > state.watermark:
                state.watermark = at
        return state


def _parse_ts(text: str) -> datetime:
    from ingest.base import parse_time

    return parse_time(text, "timestamp")


class Stitcher:
    """Turns decoded events into ledger rows; one instance per worker, state kept across batches."""

    def __init__(self, state: StitchState | None = None) -> None:
        self.state = state or StitchState()

    # -- linking -----------------------------------------------------------------------------
    def _candidates(self, event: Event) -> list[Link]:
        """The first link found into each distinct session, strongest key first."""
        index, resolve = self.state.key_index, self.state.resolve
        found: dict[str, Link] = {}
        for key in event.keys:
            key_type = key[0]
            if key_type not in LINKING:
                continue
            sid = index.get(key)
            if sid is not None:
                sid = resolve(sid)
                if sid not in found:
                    found[sid] = Link(sid, key_type, key[1], RULE_SHARED_KEY)
            # A caller-chosen AWS session name equal to a binding links either way round:
            # the STS call may be logged before or after the token it names.
            if key_type == ev.KEY_AWS_SESSION_NAME:
                bound = [(target, key[1]) for target in SESSION_NAME_TARGETS]
            elif key_type in SESSION_NAME_TARGETS:
                bound = [(ev.KEY_AWS_SESSION_NAME, key[1])]
            else:
                bound = []
            for other in bound:
                sid = index.get(other)
                if sid is not None:
                    sid = resolve(sid)
                    if sid not in found:
                        found[sid] = Link(sid, other[0], key[1], RULE_SESSION_NAME)
        if event.kind == ev.TOOL_CALL:
            # A result seen before its call opened a session of its own: the call claims it.
            rpc = _rpc_key(event)
            sid = index.get((ev.KEY_MCP_RPC, rpc)) if rpc is not None else None
            if sid is not None:
                sid = resolve(sid)
                if sid not in found:
                    found[sid] = Link(sid, ev.KEY_MCP_RPC, str(rpc), RULE_RPC_PAIR)
        return list(found.values())

    def _fallback(self, event: Event) -> Link | None:
        for key_type, value in event.keys:
            if key_type == ev.KEY_MCP_RPC:
                sid = self.state.key_index.get((key_type, value))
                if sid is not None:
                    return Link(self.state.resolve(sid), key_type, value, RULE_RPC_PAIR)
        # The time window is the weakest evidence: only for events that carry no key of
        # their own (a new IdP session or token starts a new chain even for the same person).
        if event.principal and not any(k[0] in LINKING for k in event.keys):
            sid = self.state.last_by_principal.get((event.principal, event.client_id or ""))
            if sid is not None:
                sid = self.state.resolve(sid)
                session = self.state.sessions.get(sid)
                if session and abs(event.event_time - session.last_seen) <= self.state.window:
                    return Link(sid, "principal_client", event.principal, RULE_WINDOW)
        return None

    def _link(self, event: Event, out: StitchOutput, version: int) -> Link:
        found = self._candidates(event)
        if not found:
            fallback = self._fallback(event)
            if fallback is not None:
                return fallback
            first = event.keys[0] if event.keys else ("event", event.event_id)
            sid = new_session_id(f"{first[0]}:{first[1]}")
            if sid in self.state.sessions or sid in self.state.aliases:
                sid = new_session_id(f"event:{event.event_id}")
            self.state.sessions[sid] = SessionState(sid, event.event_time, event.event_time)
            return Link(sid, first[0], first[1], RULE_NEW)
        if len(found) == 1:
            return found[0]
        # Several sessions share this event: a declared one survives (its id was handed to
        # the declarer), else the earliest; the others become its aliases. Two declared
        # sessions stay apart (each declarer named its own; a trace id propagated from one
        # agent to the next is not a reason to merge them): the strongest key decides.
        sessions = self.state.sessions
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
                self._merge(root, link, event.event_id, RULE_MERGE, out, version)
        return next(link for link in found if link.session_id == root)

    def _merge(
        self, root: str, via: Link, event_id: str, rule: str, out: StitchOutput, version: int
    ) -> None:
        """Fold ``via.session_id`` into ``root``, recording the key and rule that did it."""
        state = self.state
        other = via.session_id
        state.sessions[root].absorb(state.sessions.pop(other))
        # The absorbed session and everything merged into it before now alias the root,
        # so that the ledger's alias rows always name the surviving session directly.
        moved = [(other, via.key_type, via.key_value, event_id)]
        moved += state.members.pop(other, [])
        for alias, key_type, key_value, merged_by in moved:
            state.aliases[alias] = root
            out.session_aliases.append(
                {
                    "alias_id": alias,
                    "session_id": root,
                    "rule": rule if alias == other else RULE_MERGE,
                    "key_type": key_type,
                    "key_value": key_value,
                    "event_id": merged_by,
                    "version": version,
                }
            )
        state.members.setdefault(root, []).extend(moved)
        # The absorbed session's actions are labelled again in the root's context.
        state.by_session.setdefault(root, []).extend(state.by_session.pop(other, []))
        state.contexts.pop(other, None)
        state.remapped.add(root)

    def declare(self, declaration: SessionDeclaration) -> StitchOutput:
        """Apply a session declaration: its bindings now lead to its session id, sessions
        already started by events carrying those bindings merge into it, and the declared
        origin, intent, agent and scopes become the session's."""
        out = StitchOutput()
        version = _version()
        state = self.state
        sid = declaration.session_id
        at = declaration.declared_at
        state.aliases.pop(sid, None)
        session = state.sessions.get(sid)
        if session is None:
            session = state.sessions[sid] = SessionState(sid, at, at)
        session.declared = True
        for key_type, value in declaration.bindings.correlation_keys():
            existing = state.key_index.get((key_type, value))
            if existing is not None and state.resolve(existing) != sid:
                owner = state.resolve(existing)
                if state.sessions[owner].declared:
                    continue  # another declaration holds this binding; it stays its own
                link = Link(owner, key_type, value, RULE_DECLARED)
                self._merge(sid, link, "", RULE_DECLARED, out, version)
            if existing is None:
                state.key_index[(key_type, value)] = sid
                session.keys.append(f"{key_type}:{value}")
                out.session_keys.append(
                    {
                        "key_type": key_type,
                        "key_value": value,
                        "session_id": sid,
                        "first_seen": ts(at),
                        "event_id": "",
                        "version": version,
                    }
                )
        origin = declaration.origin
        session.origin_type = origin.type
        session.origin_principal = (
            origin.principal or origin.job_id or origin.upstream_session_id or ""
        )
        intent = declaration.intent
        session.intent, session.intent_source = intent.text, "declared"
        session.intent_tools = list(intent.tools)
        session.intent_resources = list(intent.resources)
        session.intent_actions = list(intent.actions)
        if origin.upstream_session_id:
            session.upstream_session_id = origin.upstream_session_id
            state.downstream.setdefault(origin.upstream_session_id, set()).add(sid)
        agent = declaration.agent
        session.agent_name = agent.id
        session.agent_version = agent.version or session.agent_version
        session.agent_instance = agent.instance or agent.spiffe_id or session.agent_instance
        session.agent_spiffe_id = agent.spiffe_id or session.agent_spiffe_id
        session.client_id = declaration.bindings.client_id or session.client_id
        session.scopes = sorted(set(session.scopes) | set(declaration.scopes))
        session.first_seen = min(session.first_seen, at)
        out.sessions.append(session.row(version))
        out.declarations.append(
            {
                "session_id": sid,
                "declared_at": ts(at),
                "declaration": declaration.model_dump_json(),
                "declared_by": declaration.declared_by or "",
                "version": version,
            }
        )
        self._attribute([sid], out, version)
        return out

    # -- rows ---------------------------------------------------------------------------------
    def process(self, batch: Sequence[Envelope]) -> StitchOutput:
        out = StitchOutput()
        version = _version()
        touched: set[str] = set()
        in_time_order = sorted(batch, key=lambda e: e.event.event_time)
        for env in in_time_order:
            event = env.event
            link = self._link(event, out, version)
            sid = link.session_id
            touched.add(sid)
            self._register_keys(event, sid, out, version)
            session = self.state.sessions[sid]
            self._summarise(session, event)
            out.raw_events.append(_raw_row(env, sid))
            if event.kind == ev.TOOL_RESULT:
                self._apply_result(event, out, version)
            else:
                session.action_count += 1
                row = self._action_row(event, link, version)
                out.actions.append(row)
                self.state.add_facts(ActionFacts.of(row, event.event_time), sid)
            if event.kind == ev.TOKEN_GRANT:
                out.credentials.append(_credential_row(event, sid, version))
            if event.principal:
                self.state.last_by_principal[(event.principal, event.client_id or "")] = sid
        roots = {self.state.resolve(sid) for sid in touched}
        for root in roots:
            if root in self.state.sessions:
                out.sessions.append(self.state.sessions[root].row(version))
        self._attribute(roots, out, version)
        if in_time_order:
            self.state.advance(in_time_order[-1].event.event_time)
        return out

    # -- attribution --------------------------------------------------------------------------
    def _attribute(self, roots: Iterable[str], out: StitchOutput, version: int) -> None:
        """Label new actions, and label again every open action of a session whose
        context changed (its own, or an upstream session's that its chain passes through)."""
        state = self.state
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
            context = self.context(root)
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

    def context(self, root: str) -> SessionContext:
        session = self.state.sessions[root]
        return SessionContext(
            session_id=root,
            agent=session.agent,
            agent_ids=tuple(i for i in (session.agent_instance, session.agent_spiffe_id) if i),
            principal=session.principal,
            principal_type=session.principal_type,
            intent=session.intent_view(),
            upstream=self._upstream(session, {root}),
        )

    def _upstream(self, session: SessionState, seen: set[str]) -> tuple[Hop, ...]:
        """The hops from ``session``'s origin back to the first origin of its chain."""
        via = "declaration" if session.declared else "token_grant"
        if session.origin_type in ("human", "schedule"):
            return (Hop(session.origin_type, session.origin_principal, "", via),)
        if session.origin_type != "agent":
            return ()
        given = session.upstream_session_id or session.origin_principal
        root = self.state.resolve(given)
        upstream = self.state.sessions.get(root)
        if upstream is None or root in seen or len(seen) > 16:
            return (Hop("agent", "", given, "declaration"),)  # not in the ledger (yet)
        hop = Hop("agent", upstream.agent, root, "declaration", upstream.intent_view())
        return (hop, *self._upstream(upstream, seen | {root}))

    def _register_keys(self, event: Event, sid: str, out: StitchOutput, version: int) -> None:
        index = self.state.key_index
        session = self.state.sessions[sid]
        for key_type, value in event.keys:
            if (key_type, value) in index:
                continue
            index[(key_type, value)] = sid
            if key_type != ev.KEY_MCP_RPC:
                session.keys.append(f"{key_type}:{value}")
            out.session_keys.append(
                {
                    "key_type": key_type,
                    "key_value": value,
                    "session_id": sid,
                    "first_seen": ts(event.event_time),
                    "event_id": event.event_id,
                    "version": version,
                }
            )

    def _summarise(self, session: SessionState, event: Event) -> None:
        session.first_seen = min(session.first_seen, event.event_time)
        session.last_seen = max(session.last_seen, event.event_time)
        session.event_count += 1
        if event.source not in session.sources:
            session.sources = sorted([*session.sources, event.source])
        if event.outcome == ev.FAILURE:
            session.failure_count += 1
        if event.principal:
            # Prefer a person over a workload identity as the session's principal.
            event_human = event.principal_type in HUMAN_TYPES
            if not session.principal or (event_human and session.principal_type not in HUMAN_TYPES):
                session.principal = event.principal
                session.principal_type = event.principal_type or ""
        if (
            event.kind == ev.TOKEN_GRANT
            and event.principal_type == "User"
            and event.principal
            and not session.declared  # a declared origin is the declarer's word; keep it
        ):
            # A person authorised the token the agent acts with: the chain's origin.
            session.origin_type, session.origin_principal = "human", event.principal
        for name in ("agent_name", "agent_version", "agent_instance", "client_id"):
            value = getattr(event, name)
            if value and not getattr(session, name):
                setattr(session, name, value)
        if event.intent and not session.declared:
            source = event.attributes.get("intent_source", "")
            session.take_intent(event.intent, source, event.event_time)
        if event.scopes:
            session.scopes = sorted(set(session.scopes) | set(event.scopes))

    def _action_row(self, event: Event, link: Link, version: int) -> dict[str, Any]:
        row = {
            "action_id": event.event_id,
            "session_id": link.session_id,
            "event_time": ts(event.event_time),
            "source": event.source,
            "kind": event.kind,
            "operation": event.operation,
            "service": event.service or "",
            "resource": event.resource or "",
            "arguments": event.attributes.get("arguments", ""),
            "principal": event.principal or "",
            "principal_type": event.principal_type or "",
            "client_id": event.client_id or "",
            "agent_name": event.agent_name or "",
            "agent_version": event.agent_version or "",
            "agent_instance": event.agent_instance or "",
            "scopes": event.scopes,
            "intent": event.intent or "",
            "outcome": event.outcome,
            "outcome_detail": event.outcome_detail or "",
            "outcome_event_id": "",
            "rpc_key": "",
            "link_key_type": link.key_type,
            "link_key": link.key_value,
            "link_rule": link.rule,
            "access": access_of(event),
            "actors": list(actors_of(event)),
            "version": version,
        }
        if event.kind == ev.TOOL_CALL:
            rpc = _rpc_key(event)
            if rpc is not None:
                row["rpc_key"] = rpc
                early = self.state.early_results.pop(rpc, None)
                if early is not None:
                    row["outcome"], row["outcome_detail"], row["outcome_event_id"] = early
                else:
                    self.state.pending_calls[rpc] = row
        return row

    def _apply_result(self, event: Event, out: StitchOutput, version: int) -> None:
        rpc = _rpc_key(event)
        if rpc is None:
            return
        call = self.state.pending_calls.pop(rpc, None)
        outcome = (event.outcome, event.outcome_detail or "", event.event_id)
        if call is None:
            self.state.early_results[rpc] = outcome
            return
        updated = dict(call)
        updated["outcome"], updated["outcome_detail"], updated["outcome_event_id"] = outcome
        updated["version"] = version + 1  # replaces the pending row, even within one batch
        out.actions.append(updated)


def _rpc_key(event: Event) -> str | None:
    for key_type, value in event.keys:
        if key_type == ev.KEY_MCP_RPC:
            return value
    return None


def _raw_row(env: Envelope, sid: str) -> dict[str, Any]:
    # The raw record is the ledger's source of truth: every projection can be rebuilt by
    # parsing it again, so the normalized event is not stored twice.
    e = env.event
    ref = env.raw_ref or ("", 0, 0)
    return {
        "event_id": e.event_id,
        "source": e.source,
        "kind": e.kind,
        "event_time": ts(e.event_time),
        "ingested_at": ts(env.ingested_at),
        "ingest_batch": env.ingest_batch,
        "position": e.position,
        "raw_topic": ref[0],
        "raw_partition": ref[1],
        "raw_offset": ref[2],
        "raw": e.raw,
        "session_id": sid,
    }


def _credential_row(event: Event, sid: str, version: int) -> dict[str, Any]:
    attrs = event.attributes
    credential_id = attrs.get("jti") or attrs.get("issued_access_key") or event.event_id
    return {
        "credential_id": credential_id,
        "kind": "access_token" if attrs.get("jti") else "aws_temporary_key",
        "session_id": sid,
        "issued_at": ts(event.event_time),
        "expires_at": attrs.get("expires_at", ""),
        "principal": event.principal or "",
        "client_id": event.client_id or "",
        "scopes": event.scopes,
        "fingerprint": attrs.get("token_fp", ""),
        "claims": attrs.get("claims", ""),
        "event_id": event.event_id,
        "version": version,
    }
