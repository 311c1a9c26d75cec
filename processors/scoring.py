"""Scoring on the stream: each action is scored as it is stitched, in the same batch, and the
policy turns the score into a decision; a contracting decision becomes a ``Contraction``.

List in, rows out, as the stitcher is: ``DriftStage.score`` takes the batch the stitcher just
processed (its envelopes and its output) and returns the ``drift`` and ``contractions`` rows
and the contractions to publish. The sink publishes those before it writes the ledger, so an
enforcement point hears of a drifting action as soon as the batch that holds it is stitched.

Each session keeps a trail (``models.trail.SessionTrail``), fed in event-time order: its
intent, each ``tools/list`` answer its servers gave, each call (scored, then added), and each
result's text, where injected instructions arrive. One session gets one contraction per
cause; once a session is halted or revoked, later actions are scored and recorded but publish
nothing more (every call is refused already).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from kernel import events as ev
from kernel.contraction import ALLOW, HALT, NARROW, REVOKE, Contraction
from kernel.events import Event, now_utc
from kernel.events import ch_ts as ts
from kernel.mcp_results import catalogue_digest, is_listing, result_text
from kernel.policy import Policy, SessionFacts
from kernel.verdicts import Limits, decision
from kernel.vocabulary import ATTR_RESULT_TEXT, ATTR_TOOLS_DIGEST
from ledger.drift_rows import DriftOutput, contraction_row, drift_row
from ledger.rows import Row, StitchOutput
from models.trail import Call, DeclaredIntent, DriftScore, Scorer, SessionTrail, ToolInfo
from processors.scored_events import SCORED_KINDS, call_of, result_of
from processors.sessions import SessionState, StitchState

log = logging.getLogger(__name__)
_LISTINGS_MAX = 1024  # distinct tools/list answers remembered
_NOTHING: frozenset[str] = frozenset()
# The listings of a session that saw none (half of all sessions: API calls, MCP clients
# that cached their listing), shared until a session sees its first.
_NO_LISTINGS: Mapping[str, tuple[str, ...]] = MappingProxyType({})

# Keys an enforcement point can bind a connection by (a JSON-RPC pairing key binds none).
_BINDING_KEYS = frozenset(
    {ev.KEY_JTI, ev.KEY_TOKEN_FP, ev.KEY_MCP_SESSION, ev.KEY_TRACE, ev.KEY_TXN}
)


def _fed_time(item: tuple[Event, Row]) -> datetime:
    return item[0].event_time


@dataclass(slots=True, init=False)
class _SessionDrift:
    """A session's scoring context: the model's trail and what the policy has done."""

    trail: SessionTrail
    intent_key: tuple[Any, ...]
    listed: Mapping[str, tuple[str, ...]]  # server -> tool names
    listed_tools: tuple[str, ...] | None  # ``listed``'s tools, sorted; None: to redo
    # Tools and scopes contracted away so far. Immutable, each change a new set: most
    # sessions never lose one, and share the one empty set.
    removed: frozenset[str]
    removed_scopes: frozenset[str]
    narrowings: int
    ended_by: str  # the contraction that halted or revoked the session
    last_seen: datetime | None
    rule: tuple[str, Limits] | None  # the policy's rule for the session's intent_key

    def __init__(self, trail: SessionTrail) -> None:
        # Written out, as ``models.trail``'s value classes are: compiled, it runs natively
        # (one is made for every session).
        self.trail = trail
        self.intent_key = ()
        self.listed = _NO_LISTINGS
        self.listed_tools = None
        self.removed = _NOTHING
        self.removed_scopes = _NOTHING
        self.narrowings = 0
        self.ended_by = ""
        self.last_seen = None
        self.rule = None

    def absorb(self, merged: _SessionDrift) -> None:
        """A session merged into this one (a declaration arriving after its first events):
        what the policy did to either stands for both. The surviving trail is kept."""
        self.removed |= merged.removed
        self.removed_scopes |= merged.removed_scopes
        self.narrowings += merged.narrowings
        self.ended_by = self.ended_by or merged.ended_by
        for server, names in merged.listed.items():
            if server not in self.listed:
                self.see_listing(server, names)

    def see_listing(self, server: str, names: tuple[str, ...]) -> None:
        listed = self.listed if isinstance(self.listed, dict) else {}
        listed[server] = names
        self.listed = listed
        self.listed_tools = None

    def all_listed(self) -> tuple[str, ...]:
        """Every tool the session's servers listed, sorted (worked out again only after a
        listing)."""
        if self.listed_tools is None:
            self.listed_tools = tuple(sorted({t for names in self.listed.values() for t in names}))
        return self.listed_tools


@dataclass(slots=True)
class ScoringStats:
    scored: int = 0
    flagged: int = 0
    contractions: int = 0
    model_ns: int = 0  # time inside the model's ``score``
    stage_ns: int = 0  # the whole stage, trails, policy and rows included

    def as_dict(self) -> dict[str, Any]:
        per = max(self.scored, 1)
        return {
            "scored": self.scored,
            "flagged": self.flagged,
            "contractions": self.contractions,
            "model_us_per_action": round(self.model_ns / per / 1000, 2),
            "stage_us_per_action": round(self.stage_ns / per / 1000, 2),
        }


class DriftStage:
    """Scores the actions of each stitched batch; one per worker, state kept across batches."""

    def __init__(
        self,
        scorer: Scorer,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = now_utc,
        max_sessions: int = 200_000,
    ) -> None:
        self.scorer = scorer
        self.policy = policy or Policy()
        self.clock = clock
        self.max_sessions = max_sessions
        self.sessions: dict[str, _SessionDrift] = {}
        self.stats = ScoringStats()
        # The stitch state, and its merge count, when every session here was last a root.
        self._followed: tuple[StitchState | None, int] = (None, 0)
        self._listings: dict[str, tuple[ToolInfo, ...]] = {}  # by ``catalogue_digest``
        # Each session's context once its trail has the session's intent, for one batch (or
        # one restore): the stitch state does not change while a batch is scored.
        self._current: dict[str, tuple[_SessionDrift, SessionState]] = {}

    def score(
        self, state: StitchState, stitched: StitchOutput, version: int
    ) -> tuple[DriftOutput, list[Contraction]]:
        """Score a stitched batch's actions in event-time order, from what the stitcher says
        of them (``StitchOutput.fed``: each call's row and each result's, which session
        each joined; ``answered``: which call a result answered)."""
        started = time.perf_counter_ns()
        out = DriftOutput()
        published: list[Contraction] = []
        now = self.clock()
        scored_at = ts(now)  # one scoring time for the batch, formatted once
        self._follow_merges(state)  # a declaration applied since the last batch may merge
        self._current.clear()
        # Only calls and results feed the trails, in arrival order; sorted by time (a
        # stable sort: events of one time keep their order).
        fed = sorted(stitched.fed, key=_fed_time)
        answered = stitched.answered
        for event, row in fed:
            if event.kind == ev.TOOL_RESULT:
                sid = row["session_id"]
                if sid:
                    self._see_result(state, event, state.resolve(sid), answered)
            else:
                root = state.resolve(row["session_id"])
                contraction = self._score(state, root, event, row, now, scored_at, version, out)
                if contraction is not None:
                    published.append(contraction)
        self._current.clear()
        self._sweep(state)
        self.stats.stage_ns += time.perf_counter_ns() - started
        return out, published

    def restore(self, contractions: Iterable[Row]) -> None:
        """What the policy did to each session before a restart (``contractions`` rows,
        oldest first): its narrowings, what they took away, and whether it was ended. A
        restarted worker then publishes no second contraction for an ended session, nor a
        narrowing of what was taken already. The trails, the text the agents read, are fed
        by ``restore_trails``."""
        for row in contractions:
            drift = self.sessions.get(row["session_id"])
            if drift is None:
                drift = self.sessions[row["session_id"]] = _SessionDrift(self.scorer.new_trail())
            if row["decision"] == NARROW:
                drift.narrowings += 1
                drift.removed = drift.removed.union(row["removed_tools"])
                drift.removed_scopes = drift.removed_scopes.union(row["removed_scopes"])
            elif row["decision"] in (HALT, REVOKE) and not drift.ended_by:
                drift.ended_by = row["contraction_id"]
        self._followed = (None, 0)  # those ids may have merged before the restart

    def restore_trails(self, state: StitchState, events: Iterable[tuple[Event, str, str]]) -> int:
        """Feed the trails of ``state``'s sessions what their agents read and called before a
        restart: ``(event, session_id, access)`` of each call and result, oldest first, as
        the ledger recorded them. Calls go through the model as when they were scored (its
        trail keeps count of them), but nothing is recorded, counted or published. Returns
        the events fed."""
        fed = 0
        self._current.clear()
        for event, session_id, access in events:
            root = state.resolve(session_id)
            if root not in state.sessions:
                continue  # a session the stitcher no longer holds
            if event.kind == ev.TOOL_RESULT:
                self._see_result(state, event, root, {})
            elif event.kind in SCORED_KINDS:
                drift, _ = self._session(state, root)
                drift.last_seen = event.event_time
                self.scorer.score(
                    drift.trail, call_of(event, access if access in ev.ACCESS_CLASSES else "")
                )
            else:
                continue
            fed += 1
        self._current.clear()
        self._follow_merges(state)
        return fed

    # -- one session's context ------------------------------------------------------------------
    def _session(self, state: StitchState, root: str) -> tuple[_SessionDrift, SessionState]:
        known = self._current.get(root)
        if known is not None:
            return known
        session = state.sessions[root]
        drift = self.sessions.get(root)
        if drift is None:
            drift = self.sessions[root] = _SessionDrift(self.scorer.new_trail())
        key = (
            session.intent,
            session.declared,
            len(session.intent_tools),
            len(session.scopes),
            session.agent,
        )
        if key != drift.intent_key:
            drift.intent_key = key
            drift.rule = None
            drift.trail.set_intent(_intent_of(session))
            drift.trail.set_agent(session.agent, bool(session.upstream_session_id))
        self._current[root] = (drift, session)
        return drift, session

    def _see_result(
        self, state: StitchState, event: Event, root: str, answered: dict[str, str]
    ) -> None:
        if root not in state.sessions:
            return
        # The MCP source carries a result's text with the event, and names a listing's
        # catalogue; a catalogue not read yet, a result with no text, or an event normalized
        # before the source carried them, is read from the record.
        attributes = event.attributes if event.source == "mcp" else {}
        text = attributes.get(ATTR_RESULT_TEXT)
        listed: tuple[ToolInfo, ...] | None = None
        if text is None:
            digest = attributes.get(ATTR_TOOLS_DIGEST)
            listed = self._listings.get(digest) if digest else None
            if listed is None:
                result = result_of(event)
                if result is None:
                    return
                if is_listing(result):
                    listed = self._listing(result["tools"])
                else:
                    text = result_text(result)
        drift, _ = self._session(state, root)
        drift.last_seen = event.event_time
        if listed is not None:
            server = event.service or ""
            drift.see_listing(server, tuple(t.name for t in listed if t.name))
            changes = drift.trail.see_tools(server, listed)
            if changes:
                log.info("session %s: tools of %s changed: %s", root, server, "; ".join(changes))
            return
        call_id = answered.get(event.event_id, "")
        drift.trail.see_result(call_id, text or "", event.outcome == ev.FAILURE)

    def _listing(self, tools: list[Any]) -> tuple[ToolInfo, ...]:
        """The tools of a ``tools/list`` answer. A server gives the same catalogue to every
        session: it is read once, and its ``ToolInfo`` objects are the ones the trails'
        cache of tool readings knows already."""
        key = catalogue_digest(tools)
        listed = self._listings.get(key)
        if listed is None:
            listed = tuple(ToolInfo.from_mcp(t) for t in tools if isinstance(t, dict))
            if len(self._listings) >= _LISTINGS_MAX:
                self._listings.clear()
            self._listings[key] = listed
        return listed

    def _score(
        self,
        state: StitchState,
        root: str,
        event: Event,
        action: Row,
        now: datetime,
        scored_at: str,
        version: int,
        out: DriftOutput,
    ) -> Contraction | None:
        """Score one action (``action``: the stitcher's row of it, whose access class and
        formatted event time the drift row takes)."""
        drift, session = self._session(state, root)
        agent = session.agent  # a property, worked out once here
        drift.last_seen = event.event_time
        access = action["access"]
        call = call_of(event, access if access in ev.ACCESS_CLASSES else "")
        began = time.perf_counter_ns()
        scored = self.scorer.score(drift.trail, call)
        self.stats.model_ns += time.perf_counter_ns() - began
        self.stats.scored += 1
        self.stats.flagged += scored.flagged
        if drift.rule is None:
            drift.rule = self.policy.limits(agent, session.intent, session.declared)
        rule, limits = drift.rule
        decided, contraction = ALLOW, None
        # Most actions are allowed: for those the policy builds no facts and no verdict.
        if decision(limits, scored.score, scored.flagged, scored.out_of_bounds) != ALLOW:
            decided, rule, contraction = self._decide(
                drift, session, root, event, call, scored, now
            )
        if contraction is not None:
            out.contractions.append(contraction_row(contraction))
        out.drift.append(
            drift_row(
                scored,
                action_id=event.event_id,
                session_id=root,
                event_time=action["event_time"],
                agent=agent,
                tool=call.tool,
                decision=decided,
                policy_rule=rule,
                contraction_id=contraction.contraction_id if contraction is not None else "",
                scored_at=scored_at,
                version=version,
            )
        )
        return contraction

    def _decide(
        self,
        drift: _SessionDrift,
        session: SessionState,
        root: str,
        event: Event,
        call: Call,
        scored: DriftScore,
        now: datetime,
    ) -> tuple[str, str, Contraction | None]:
        """The policy's decision and rule for an action its limits do not allow, and the
        contraction it publishes (``None``: the session was ended already, or a narrowing
        takes away nothing not taken before: the agent tried a removed tool again)."""
        facts = SessionFacts(
            agent=session.agent,
            intent=session.intent,
            declared=session.declared,
            scopes=(
                tuple(s for s in session.scopes if s not in drift.removed_scopes)
                if drift.removed_scopes
                else tuple(session.scopes)
            ),
            tools=_allowed_tools(session, drift),
            narrowings=drift.narrowings,
        )
        verdict = self.policy.decide(
            facts,
            score=scored.score,
            flagged=scored.flagged,
            out_of_bounds=scored.out_of_bounds,
            tool=call.tool,
            access=call.access,
        )
        repeated = (
            verdict.decision == NARROW
            and set(verdict.removed_tools) <= drift.removed
            and set(verdict.removed_scopes) <= drift.removed_scopes
        )
        if verdict.decision == ALLOW or drift.ended_by or repeated:
            return verdict.decision, verdict.rule, None
        contraction = Contraction(
            session_id=root,
            agent=facts.agent,
            cause_action_id=event.event_id,
            cause_tool=call.tool,
            decision=verdict.decision,
            score=scored.score,
            model_version=scored.model_version,
            event_time=event.event_time,
            decided_at=now,
            removed_tools=verdict.removed_tools,
            removed_scopes=verdict.removed_scopes,
            remaining_tools=verdict.remaining_tools,
            remaining_scopes=verdict.remaining_scopes,
            reasons=tuple(scored.reasons),
            policy_rule=f"{self.policy.name}:{verdict.rule}",
            keys=_binding_keys(session),
        )
        drift.removed = drift.removed.union(verdict.removed_tools)
        drift.removed_scopes = drift.removed_scopes.union(verdict.removed_scopes)
        if verdict.decision == NARROW:
            drift.narrowings += 1
        if verdict.decision in (HALT, REVOKE):
            drift.ended_by = contraction.contraction_id
        self.stats.contractions += 1
        return verdict.decision, verdict.rule, contraction

    def _follow_merges(self, state: StitchState) -> None:
        followed, count = self._followed
        merged = state.merged_since(count) if followed is state else None
        self._followed = (state, state.merge_count)
        if merged is not None:
            # Every session here was a root then: only the ids merged since, in the order
            # they were, can be aliases now. (A look at every session resolved each of them,
            # tens of milliseconds a batch once a worker holds a hundred thousand.)
            candidates = [sid for sid in merged if sid in self.sessions]
        else:
            candidates = list(self.sessions)
        for sid in candidates:
            root = state.resolve(sid)
            drift = self.sessions.get(sid)
            if root == sid or drift is None:
                continue
            del self.sessions[sid]
            survivor = self.sessions.setdefault(root, drift)
            if survivor is not drift:
                survivor.absorb(drift)

    def _sweep(self, state: StitchState) -> None:
        """Trails follow merges to the surviving session; idle ones past the session window
        are let go (at most ``max_sessions`` are kept)."""
        self._follow_merges(state)
        if len(self.sessions) <= self.max_sessions:
            return
        cutoff = state.watermark - state.window if state.watermark else None
        if cutoff is not None:
            idle = [s for s, d in self.sessions.items() if d.last_seen and d.last_seen < cutoff]
            for sid in idle:
                del self.sessions[sid]
        while len(self.sessions) > self.max_sessions:
            del self.sessions[next(iter(self.sessions))]


def _intent_of(session: SessionState) -> DeclaredIntent | None:
    if not session.intent:
        return None
    return DeclaredIntent(
        text=session.intent,
        tools=tuple(session.intent_tools),
        resources=tuple(session.intent_resources),
        actions=tuple(session.intent_actions),
        scopes=tuple(session.scopes),
        declared=session.declared,
    )


def _allowed_tools(session: SessionState, drift: _SessionDrift) -> tuple[str, ...]:
    """The tools the session may still call: declared ones, else those its servers listed."""
    tools = session.intent_tools or drift.all_listed()
    if not drift.removed:
        return tuple(tools)
    return tuple(t for t in tools if t not in drift.removed)


def _binding_keys(session: SessionState) -> tuple[tuple[str, str], ...]:
    keys = []
    for key in session.keys:
        key_type, _, value = key.partition(":")
        if key_type in _BINDING_KEYS and value:
            keys.append((key_type, value))
    return tuple(keys)
