"""A generated ledger for the query bench: sessions, their actions, the actions' labels and
drift scores, the contractions the drifting ones caused, and a few merged sessions.

Everything is built a column at a time with numpy and pyarrow (no Python object per row) and
inserted as Arrow batches, so ten million actions load in minutes on a small machine. The
shape follows what the stitcher writes (``ledger.rows``): action ids are random, so a
session's actions lie scattered over the ``actions`` table ordered by ``action_id``, as they
do in a live ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.store import LedgerStore

BATCH = 500_000  # actions per inserted batch
ACTIONS_PER_SESSION = 20
START = datetime(2026, 10, 1, tzinfo=UTC)
SPAN_S = 30 * 86_400  # the generated actions span thirty days from START
AGENTS = 40
TOOLS = (
    "read_inbox",
    "send_mail",
    "search_docs",
    "query_db",
    "write_db",
    "create_ticket",
    "s3_get_object",
    "s3_put_object",
    "github_create_pr",
    "slack_post",
)
SCOPES = ("mail.read", "mail.send", "docs.read", "db.read", "db.write", "tickets", "s3", "repo")
LABELS = ("agent_delegated", "direct_user", "agent_autonomous", "unattributed")
LABEL_SHARES = (0.70, 0.10, 0.12, 0.08)
ORIGINS = ("human", "schedule", "agent")
ORIGIN_SHARES = (0.8, 0.1, 0.1)
OUTCOMES = ("success", "failure", "pending")
OUTCOME_SHARES = (0.93, 0.05, 0.02)
FLAG_AT = 0.8  # a drift score from here on is flagged and contracts the session's scope
FLAGGED_SHARE = 0.005

Progress = Callable[[str, int], None]


@dataclass(slots=True)
class Sample:
    """What the bench draws realistic query parameters from."""

    session_ids: np.ndarray  # every session id (str objects), in generation order
    agents: list[str]
    persons: list[str]
    start: datetime
    span_s: int


def _strings(prefix: str, numbers: np.ndarray) -> pa.Array:
    """``prefix`` + each number in decimal, built in Arrow's C++ (no Python str per row)."""
    digits = pc.cast(pa.array(numbers), pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def _pick(values: tuple[str, ...] | list[str], index: np.ndarray) -> pa.Array:
    return pc.take(pa.array(values, pa.string()), pa.array(index))


def _times(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype(np.int64), pa.timestamp("us", tz="UTC"))


def _const(value: str, n: int) -> pa.Array:
    return pa.array(np.full(n, value, dtype=object), pa.string())


def _scope_sets(rng: np.random.Generator) -> pa.Array:
    """64 sets of scopes (each a sorted subset), for sessions and actions to take from."""
    sets = []
    for _ in range(64):
        mask = rng.random(len(SCOPES)) < 0.4
        sets.append(sorted(s for s, keep in zip(SCOPES, mask, strict=True) if keep) or ["s3"])
    return pa.array(sets, pa.list_(pa.string()))


class LedgerGenerator:
    """``actions`` actions in ``actions // ACTIONS_PER_SESSION`` sessions, by seed."""

    def __init__(self, actions: int, seed: int = 7) -> None:
        self.actions = actions
        self.sessions = max(1, actions // ACTIONS_PER_SESSION)
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.agents = [f"agent-{i:02d}" for i in range(AGENTS)]
        self.persons = [f"user{i}@acme.example" for i in range(max(10, self.sessions // 50))]
        self.scope_sets = _scope_sets(rng)
        # Per session: its id number, agent, person, origin, scopes, start time.
        self.session_numbers = rng.integers(0, 2**62, self.sessions, dtype=np.int64)
        self.session_agent = rng.integers(0, AGENTS, self.sessions)
        self.session_person = rng.integers(0, len(self.persons), self.sessions)
        self.session_origin = rng.choice(len(ORIGINS), self.sessions, p=ORIGIN_SHARES)
        self.session_scopes = rng.integers(0, len(self.scope_sets), self.sessions)
        start_us = int(START.timestamp() * 1e6)
        self.session_start = start_us + rng.integers(0, SPAN_S * 1_000_000, self.sessions)
        self.session_last = self.session_start.copy()

    def sample(self) -> Sample:
        ids = pc.cast(_strings("s-", self.session_numbers), pa.string())
        return Sample(
            np.asarray(ids.to_numpy(zero_copy_only=False)),
            self.agents,
            self.persons,
            START,
            SPAN_S,
        )

    def action_batches(self) -> Iterator[dict[str, pa.Table]]:
        """The rows of ``actions``, ``attributions``, ``drift`` and ``contractions``, one
        batch of up to ``BATCH`` actions at a time."""
        for first in range(0, self.actions, BATCH):
            yield self._batch(min(BATCH, self.actions - first))

    def _batch(self, n: int) -> dict[str, pa.Table]:
        rng = self.rng
        session = rng.integers(0, self.sessions, n)
        # Each action within its session's first six hours.
        when = self.session_start[session] + rng.integers(0, 6 * 3600 * 1_000_000, n)
        np.maximum.at(self.session_last, session, when)
        ids = _strings("a-", rng.integers(0, 2**62, n, dtype=np.int64))
        session_ids = _strings("s-", self.session_numbers[session])
        agents = _pick(self.agents, self.session_agent[session])
        persons = _pick(self.persons, self.session_person[session])
        tool = rng.integers(0, len(TOOLS), n)
        tools = _pick(TOOLS, tool)
        times = _times(when)
        version = pa.array(np.ones(n, dtype=np.uint64))
        label = rng.choice(len(LABELS), n, p=LABEL_SHARES)
        actions = pa.table(
            {
                "action_id": ids,
                "session_id": session_ids,
                "event_time": times,
                "source": _const("mcp", n),
                "kind": _const("tool_call", n),
                "operation": _const("tools/call", n),
                "service": _const("mcp", n),
                "resource": tools,
                "arguments": _const("{}", n),
                "principal": persons,
                "principal_type": _const("User", n),
                "client_id": agents,
                "agent_name": agents,
                "agent_version": _const("1.0", n),
                "agent_instance": agents,
                "scopes": pc.take(self.scope_sets, pa.array(self.session_scopes[session])),
                "outcome": _pick(OUTCOMES, rng.choice(len(OUTCOMES), n, p=OUTCOME_SHARES)),
                "link_key_type": _const("mcp_session", n),
                "link_key": session_ids,
                "link_rule": _const("shared_key", n),
                "access": _pick(("read", "write"), (tool % 2).astype(np.int64)),
                "version": version,
            }
        )
        origin = self.session_origin[session]
        attributions = pa.table(
            {
                "action_id": ids,
                "session_id": session_ids,
                "event_time": times,
                "label": _pick(LABELS, label),
                "rule": _pick(
                    ("intent_covers", "person_own_credentials", "outside_intent", "no_session_key"),
                    label,
                ),
                "agent": agents,
                "origin_type": _pick(ORIGINS, origin),
                "origin_principal": persons,
                "chain": _const("[]", n),
                "confused_deputy": pa.array(rng.random(n) < 0.002),
                "evidence": _const("[]", n),
                "version": version,
            }
        )
        # Most actions stay close to their intent; one in FLAGGED_SHARE drifts and is flagged.
        flagged = rng.random(n) < FLAGGED_SHARE
        score = np.where(
            flagged,
            FLAG_AT + rng.random(n) * (1 - FLAG_AT),
            np.minimum(rng.beta(1.2, 8.0, n), FLAG_AT - 0.01),
        )
        decision = np.where(flagged, 1, 0)
        contraction_ids = _strings("c-", rng.integers(0, 2**62, n, dtype=np.int64))
        drift_contraction = pc.if_else(pa.array(flagged), contraction_ids, _const("", n))
        drift = pa.table(
            {
                "action_id": ids,
                "session_id": session_ids,
                "event_time": times,
                "agent": agents,
                "tool": tools,
                "score": pa.array(score, pa.float64()),
                "flagged": pa.array(flagged),
                "out_of_bounds": pa.array(flagged & (rng.random(n) < 0.3)),
                "reasons": pa.array([[]] * n, pa.list_(pa.string())),
                "model_version": _const("drift-bench", n),
                "decision": _pick(("allow", "narrow"), decision),
                "policy_rule": _const("default", n),
                "contraction_id": drift_contraction,
                "scored_at": times,
                "version": version,
            }
        )
        picked = pa.array(np.flatnonzero(flagged))
        removed = pa.ListArray.from_arrays(
            pa.array(np.arange(len(picked) + 1, dtype=np.int32)), pc.take(tools, picked)
        )
        contractions = pa.table(
            {
                "contraction_id": pc.take(contraction_ids, picked),
                "session_id": pc.take(session_ids, picked),
                "agent": pc.take(agents, picked),
                "cause_action_id": pc.take(ids, picked),
                "cause_tool": pc.take(tools, picked),
                "decision": _const("narrow", len(picked)),
                "removed_tools": removed,
                "removed_scopes": pa.array([[]] * len(picked), pa.list_(pa.string())),
                "remaining_tools": pa.array([[]] * len(picked), pa.list_(pa.string())),
                "remaining_scopes": pc.take(actions.column("scopes").combine_chunks(), picked),
                "score": pc.take(pa.array(score, pa.float64()), picked),
                "model_version": _const("drift-bench", len(picked)),
                "reasons": pa.array([["outside_intent"]] * len(picked), pa.list_(pa.string())),
                "policy_rule": _const("default", len(picked)),
                "event_time": pc.take(times, picked),
                "decided_at": pc.take(times, picked),
            }
        )
        return {
            "actions": actions,
            "attributions": attributions,
            "drift": drift,
            "contractions": contractions,
        }

    def session_table(self) -> pa.Table:
        """Every session, with the last action time its actions gave it."""
        n = self.sessions
        ids = _strings("s-", self.session_numbers)
        agents = _pick(self.agents, self.session_agent)
        persons = _pick(self.persons, self.session_person)
        return pa.table(
            {
                "session_id": ids,
                "first_seen": _times(self.session_start),
                "last_seen": _times(self.session_last),
                "principal": persons,
                "principal_type": _const("User", n),
                "origin_type": _pick(ORIGINS, self.session_origin),
                "origin_principal": persons,
                "agent_name": agents,
                "agent_version": _const("1.0", n),
                "agent_instance": agents,
                "client_id": agents,
                "intent": _pick(
                    ("Triage the inbox", "Sync customers", "Fix the build"), self.session_agent % 3
                ),
                "scopes": pc.take(self.scope_sets, pa.array(self.session_scopes)),
                "sources": pa.array([["mcp"]] * n, pa.list_(pa.string())),
                "event_count": pa.array(np.full(n, ACTIONS_PER_SESSION, dtype=np.uint32)),
                "action_count": pa.array(np.full(n, ACTIONS_PER_SESSION, dtype=np.uint32)),
                "declared": pa.array(self.session_origin != 1),
                "intent_source": _const("declared", n),
                "version": pa.array(np.ones(n, dtype=np.uint64)),
            }
        )

    def alias_table(self) -> pa.Table:
        """One session in a hundred also went by another id, merged into it."""
        merged = np.flatnonzero(self.rng.random(self.sessions) < 0.01)
        n = len(merged)
        return pa.table(
            {
                "alias_id": _strings("s-merged-", self.session_numbers[merged]),
                "session_id": _strings("s-", self.session_numbers[merged]),
                "rule": _const("merge_shared_key", n),
                "key_type": _const("jti", n),
                "key_value": _strings("jti-", merged.astype(np.int64)),
                "event_id": _const("", n),
                "version": pa.array(np.ones(n, dtype=np.uint64)),
            }
        )


def load_ledger(store: LedgerStore, actions: int, progress: Progress) -> Sample:
    """A fresh ledger of ``actions`` generated actions in ``store``'s database."""
    store.ensure_schema()
    generator = LedgerGenerator(actions)
    done = 0
    for batch in generator.action_batches():
        for table, data in batch.items():
            if data.num_rows:
                store.insert_arrow(table, data)
        done += batch["actions"].num_rows
        progress("actions", done)
    store.insert_arrow("sessions", generator.session_table())
    store.insert_arrow("session_aliases", generator.alias_table())
    progress("sessions", generator.sessions)
    return generator.sample()
