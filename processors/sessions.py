"""Stitching state: each session's running summary, the key index and aliases that lead to it,
and the actions still open to a new label.

The state is a projection of the ledger too: ``StitchState.restore`` rebuilds it from the
``session_keys``, ``session_aliases``, ``sessions`` and pending ``actions`` rows (and, when
given, the results still waiting for their request).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, Final

from ingest.base import parse_time
from kernel import events as ev
from kernel.events import Event
from kernel.vocabulary import ATTR_INTENT_SOURCE, HUMAN_TYPES, INTENT_SOURCES, ORIGIN_HUMAN
from ledger.rows import SessionRow
from processors.labels import ActionFacts, Intent, SessionContext, agent_name
from processors.rpc_state import RpcGroup, RpcRequest, RpcResult, rpc_key_of

# Who may state a session's intent, most authoritative first: the declarer, the token
# service (transaction-token purpose), then the agent's own client and its spans.
INTENT_RANK: Final = {source: rank for rank, source in enumerate(INTENT_SOURCES)}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MERGE_LOG: Final = 10_000  # merges remembered for ``StitchState.merged_since``


def sweep_mark(watermark: datetime, restitch: timedelta) -> datetime:
    """Where a stitch state with ``watermark`` was last swept: the watermark rounded down
    to a quarter of the re-stitch window, counted from the epoch. The state is swept each
    time its watermark crosses one, of what is older than the mark less the window."""
    step = restitch / 4
    return _EPOCH + ((watermark - _EPOCH) // step) * step


def open_since(watermark: datetime, restitch: timedelta) -> datetime:
    """What a stitch state with ``watermark`` keeps open: from this event time on."""
    return sweep_mark(watermark, restitch) - restitch


def new_session_id(first_key: str) -> str:
    return "s-" + hashlib.sha256(first_key.encode()).hexdigest()[:20]


def principal_rank(principal: str, principal_type: str) -> tuple[bool, bool, str, str]:
    """A session's principal is a person rather than a workload identity, one the source
    gave a type rather than none, and among equals the smallest: a choice that does not
    depend on the order the session's events arrive in (a restarted stitcher reads them
    in another order, as do more workers)."""
    return principal_type not in HUMAN_TYPES, not principal_type, principal, principal_type


@dataclass(slots=True)
class SessionState(SessionRow):
    """A session's ``sessions`` row, kept up to date event by event."""

    intent_at: datetime | None = None  # when an asserted intent was seen (earliest wins)
    # The counters as of the last row written (or restored), with what merged in since:
    # the base of the next batch's row. ``based_at``: the version that took it as its base.
    # ``merging``: the sessions merged into it since, whose counters ``written`` includes.
    written: tuple[int, int, int] = (0, 0, 0)
    merging: list[str] = field(default_factory=list)
    based_at: int = -1

    def row(self, version: int) -> dict[str, Any]:
        """The row to write, based on the counters the session had when its batch began
        (a second row of the same batch keeps that base)."""
        if self.based_at != version:
            self.based_at = version
            self.base_event_count, self.base_action_count, self.base_failure_count = self.written
            self.base_merged = []
        self.base_merged = self.base_merged + self.merging
        self.merging = []
        self.written = (self.event_count, self.action_count, self.failure_count)
        return SessionRow.row(self, version)

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
        """Take ``principal`` if it ranks before the session's (``principal_rank``)."""
        if not self.principal or principal_rank(principal, principal_type) < principal_rank(
            self.principal, self.principal_type
        ):
            self.principal, self.principal_type = principal, principal_type

    def add_event(self, event: Event) -> None:
        """Fold one event of this session into its summary."""
        at = event.event_time
        if at < self.first_seen:
            self.first_seen = at
        if at > self.last_seen:
            self.last_seen = at
        self.event_count += 1
        if event.source not in self.sources:
            self.sources = sorted([*self.sources, event.source])
        if event.outcome == ev.FAILURE:
            self.failure_count += 1
        principal = event.principal
        if principal and (
            principal != self.principal or (event.principal_type or "") != self.principal_type
        ):
            self.prefer_principal(principal, event.principal_type or "")
        if (
            event.kind == ev.TOKEN_GRANT
            and event.principal_type == "User"
            and event.principal
            and not self.declared  # a declared origin is the declarer's word; keep it
        ):
            # A person authorised the token the agent acts with: the chain's origin.
            self.origin_type, self.origin_principal = ORIGIN_HUMAN, event.principal
        # The agent and the client the session's events name: the first value seen stays.
        if event.agent_name and not self.agent_name:
            self.agent_name = event.agent_name
        if event.agent_version and not self.agent_version:
            self.agent_version = event.agent_version
        if event.agent_instance and not self.agent_instance:
            self.agent_instance = event.agent_instance
        if event.client_id and not self.client_id:
            self.client_id = event.client_id
        if event.intent and not self.declared:
            source = event.attributes.get(ATTR_INTENT_SOURCE, "")
            self.take_intent(event.intent, source, event.event_time)
        if event.scopes:
            self.scopes = sorted(set(self.scopes) | set(event.scopes))

    def drop_event(self, event: Event) -> None:
        """Take back a result this session had counted (it pairs with another request now).
        ``first_seen`` and ``last_seen`` keep what they were: a bound, not an exact span."""
        self.event_count -= 1
        if event.outcome == ev.FAILURE:
            self.failure_count -= 1

    def absorb(self, other: SessionState) -> None:
        """Fold a merged session's summary into this one."""
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        if other.principal:
            self.prefer_principal(other.principal, other.principal_type)
        for name in _KEPT_IF_UNSET:
            if not getattr(self, name) and getattr(other, name):
                setattr(self, name, getattr(other, name))
        # A declared session is never absorbed (see ``processors.linking``): only an asserted
        # intent can come from ``other``, and the declared one, if any, is ``self``'s.
        if other.intent and not self.declared:
            self.take_intent(other.intent, other.intent_source, other.intent_at or other.first_seen)
        self.scopes = sorted(set(self.scopes) | set(other.scopes))
        self.sources = sorted(set(self.sources) | set(other.sources))
        self.keys = self.keys + [k for k in other.keys if k not in self.keys]
        self.event_count += other.event_count
        self.action_count += other.action_count
        self.failure_count += other.failure_count
        # What it had when the batch began becomes part of this one's base.
        (events, actions, failures), more = self.written, other.written
        self.written = (events + more[0], actions + more[1], failures + more[2])
        self.merging = [*self.merging, other.session_id, *other.merging]


# A merge keeps the surviving session's value of each text column and takes the absorbed
# one's where it has none; the principal and the intent have rules of their own.
_KEPT_IF_UNSET: Final = tuple(
    column.name
    for column in fields(SessionRow)
    if isinstance(column.default, str)
    and column.name not in {"principal", "principal_type", "intent", "intent_source"}
)


@dataclass(slots=True)
class LiveToken:
    """A bearer token some event of ``session_id`` presented (``processors.federation``)."""

    session_id: str
    issued_at: datetime
    expires_at: datetime
    name: str  # its jti, else its keyed fingerprint


@dataclass(slots=True)
class Exchange:
    """A token exchange no key links to the session holding its token, waiting for the
    re-stitch window to pass it (``processors.federation``); ``row``: its action row, when
    this stitcher wrote it or read it back (written again with the decision)."""

    session_id: str
    at: datetime
    event_id: str
    row: dict[str, Any] | None = None


class StitchState:
    """Key index, aliases, session summaries and requests and results awaiting each other."""

    def __init__(
        self,
        window: timedelta = timedelta(minutes=30),
        restitch: timedelta = timedelta(minutes=15),
    ) -> None:
        self.window = window
        self.restitch = restitch
        self.key_index: dict[tuple[str, str], str] = {}
        self.aliases: dict[str, str] = {}
        # The ids made aliases by merges, newest last (the last ``MERGE_LOG``), and how many
        # there were in all: a reader that keeps per-session state (the drift stage) looks
        # at what merged since it last looked instead of resolving every session it holds.
        self.merged: deque[str] = deque(maxlen=MERGE_LOG)
        self.merge_count = 0
        # root -> (alias, key type, key value, event id) of every session merged into it
        self.members: dict[str, list[tuple[str, str, str, str]]] = {}
        self.sessions: dict[str, SessionState] = {}
        self.last_by_principal: dict[tuple[str, str], str] = {}
        self.rpc_groups: dict[str, RpcGroup] = {}  # rpc key -> its requests and results
        # (issuer, subject, audience) -> live tokens by name; and exchanges still unlinked
        self.live_tokens: dict[tuple[str, str, str], dict[str, LiveToken]] = {}
        self.exchanges: dict[tuple[str, str, str], list[Exchange]] = {}
        # Attribution: the actions still open to a new label, by id and by session root.
        self.facts: dict[str, ActionFacts] = {}
        self.by_session: dict[str, list[str]] = {}
        self.contexts: dict[str, SessionContext] = {}  # context each root was last labelled in
        self.remapped: set[str] = set()  # roots that absorbed actions since the last labelling
        self.downstream: dict[str, set[str]] = {}  # upstream session id -> sessions it started
        self.watermark: datetime | None = None  # newest event time seen
        self.swept_at: datetime | None = None  # the sweep mark of the last sweep
        # What the batch in hand brought that is older than the window already: the
        # actions (labelled once) and rpc keys let go of as the batch ends.
        self.late_facts: list[str] = []
        self.late_rpc: set[str] = set()

    def note_alias(self, alias: str) -> None:
        self.merged.append(alias)
        self.merge_count += 1

    def merged_since(self, count: int) -> list[str] | None:
        """The ids made aliases since ``merge_count`` was ``count``; None when the log no
        longer reaches back that far."""
        new = self.merge_count - count
        if new < 0 or new > len(self.merged):
            return None
        return list(islice(self.merged, len(self.merged) - new, None))

    def add_facts(self, facts: ActionFacts, root: str) -> None:
        self.facts[facts.action_id] = facts
        self.by_session.setdefault(root, []).append(facts.action_id)
        if self.is_late(facts.event_time):
            self.late_facts.append(facts.action_id)

    def open_calls(self) -> dict[str, list[str]]:
        """rpc key -> ids of the tool calls still waiting for their result."""
        found: dict[str, list[str]] = {}
        for rpc, group in self.rpc_groups.items():
            for request in group.requests.values():
                if request.row is not None and not request.result:
                    found.setdefault(rpc, []).append(request.event_id)
        return found

    def waiting_results(self) -> dict[str, list[str]]:
        """rpc key -> ids of the results held without a request to answer (yet)."""
        found: dict[str, list[str]] = {}
        for rpc, group in self.rpc_groups.items():
            for result in group.results.values():
                if not result.request:
                    found.setdefault(rpc, []).append(result.event.event_id)
        return found

    @property
    def open_since(self) -> datetime | None:
        """The event time before which actions, tokens and exchanges are let go of (and
        pairs settled); None before the first batch."""
        return None if self.swept_at is None else self.swept_at - self.restitch

    def is_late(self, at: datetime) -> bool:
        """Whether something of event time ``at`` is older than what the state keeps."""
        return self.swept_at is not None and at < self.swept_at - self.restitch

    def advance(self, event_time: datetime) -> None:
        """Move the watermark; let go of what is past the re-stitch window when it crosses
        a sweep mark (``sweep_mark``), and of what this batch brought that was already past
        it (labelled once, kept open no longer): what the state holds is then a function of
        its watermark alone, as a state restored from the ledger at that watermark holds."""
        if self.watermark is None or event_time > self.watermark:
            self.watermark = event_time
        mark = sweep_mark(self.watermark, self.restitch)
        if mark != self.swept_at:
            self.swept_at = mark
            cutoff = mark - self.restitch
            self.sweep_rpc(cutoff, mark - self.window)
            self._sweep_tokens(cutoff)
            self.late_facts.clear()
            self.late_rpc.clear()
            self._close({aid for aid, f in self.facts.items() if f.event_time < cutoff})
            return
        self.let_go_late()

    def let_go_late(self) -> None:
        """Let go of what arrived already past the re-stitch window (labelled once, kept
        open no longer), as a sweep at the current mark would have."""
        if self.swept_at is None:
            return
        mark = self.swept_at
        if self.late_rpc:
            self.sweep_rpc(mark - self.restitch, mark - self.window, self.late_rpc)
            self.late_rpc.clear()
        if self.late_facts:
            for aid in self.late_facts:
                facts = self.facts.pop(aid, None)
                root = self.resolve(facts.session_id) if facts is not None else ""
                kept = self.by_session.get(root)
                if kept is not None and aid in kept:
                    kept.remove(aid)
                    if not kept:
                        del self.by_session[root]
                        self.contexts.pop(root, None)
            self.late_facts.clear()

    def _close(self, closed: set[str]) -> None:
        """No new label for the actions ``closed`` any more."""
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

    def _sweep_tokens(self, cutoff: datetime) -> None:
        """Let go of tokens expired before the re-stitch window, and of exchanges older (the
        stitcher has decided them already: ``Stitcher._advance``)."""
        for identity in list(self.live_tokens):
            tokens = self.live_tokens[identity]
            for name in [n for n, t in tokens.items() if t.expires_at < cutoff]:
                del tokens[name]
            if not tokens:
                del self.live_tokens[identity]
        for identity in list(self.exchanges):
            kept = [e for e in self.exchanges[identity] if e.at >= cutoff]
            if kept:
                self.exchanges[identity] = kept
            else:
                del self.exchanges[identity]

    def sweep_rpc(
        self, settled: datetime, given_up: datetime, rpcs: Iterable[str] | None = None
    ) -> None:
        """Let go of pairs older than the re-stitch window (no late request will move their
        result any more), of other requests left unanswered as long, and of results that
        waited longer than the session window (they stay in the ledger, unpaired). Tool
        calls still waiting stay: they are the ledger's pending actions. ``rpcs``: only
        those keys' groups."""
        for rpc in list(self.rpc_groups if rpcs is None else rpcs):
            group = self.rpc_groups.get(rpc)
            if group is None:
                continue
            for result_id, result in list(group.results.items()):
                at = result.event.event_time
                request = group.requests.get(result.request)
                if request is None:
                    if at < given_up:
                        group.drop_result(result_id)
                elif at < settled and request.at < settled:
                    group.drop_result(result_id)
                    group.let_go(request.event_id)
            for request_id, request in list(group.requests.items()):
                if request.row is None and not request.result and request.at < settled:
                    group.let_go(request_id)
            if not group.requests and not group.results:
                del self.rpc_groups[rpc]

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
        waiting_results: Iterable[Event] = (),
    ) -> StitchState:
        """Rebuild from ledger rows (read with FINAL). ``open_actions`` are the actions
        within the re-stitch window, each with ``signature`` of its current label;
        ``waiting_results`` the results stored unpaired (``ledger.queries.unpaired_results``,
        parsed again), so that a request arriving after a restart still finds its result."""
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
            session = SessionState.from_row(s, _parse_ts)
            session.written = (session.event_count, session.action_count, session.failure_count)
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
                group = state.rpc_groups.setdefault(str(rpc), RpcGroup())
                call_id = str(row["action_id"])
                at = _parse_ts(row["event_time"])
                group.hold(
                    RpcRequest(
                        call_id,
                        at,
                        str(row["session_id"]),
                        dict(row),
                        own=(str(row["outcome"]), str(row.get("outcome_detail") or "")),
                    )
                )
        for event in waiting_results:
            rpc = rpc_key_of(event)
            if rpc is not None:
                group = state.rpc_groups.setdefault(rpc, RpcGroup())
                group.hold_result(RpcResult(event))
                group.unsettled.add(event.event_id)
        for row in open_actions:
            at = _parse_ts(row["event_time"])
            facts = ActionFacts.of(dict(row), at)
            facts.emitted = row.get("signature") or 0
            state.add_facts(facts, state.resolve(facts.session_id))
            if state.watermark is None or at > state.watermark:
                state.watermark = at
        return state


def _parse_ts(value: Any) -> datetime:
    return parse_time(value, "timestamp")
