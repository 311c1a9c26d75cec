"""An agent's behavioural baseline, learnt from the ledger's history: which tools and
operations it uses, with which access, and how many calls its sessions usually make.
List in, value out: the ledger query that feeds it lives in ``ledger.queries``."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from models import text
from models.session import Trail
from models.trail import Call

# An agent needs this many sessions in the history before its baseline is used at all.
MIN_SESSIONS = 5
# A session's call count above this quantile of the agent's sessions is unusual.
VOLUME_QUANTILE = 0.99


@dataclass(slots=True)
class Baseline:
    """An agent's usual behaviour, learnt from the ledger: tools and kinds it uses, and the
    per-session call count it rarely exceeds."""

    tools: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()  # accesses it had: read, write, delete
    session_calls_p99: float = 0.0
    sessions: int = 0


def baseline_readings(
    trail: Trail, call: Call, kind: str, baseline: Baseline
) -> dict[str, tuple[float, str]]:
    """Where ``call`` leaves its agent's baseline: feature -> (value, reason)."""
    found: dict[str, tuple[float, str]] = {}
    if not baseline.sessions:
        return found
    agent = trail.agent or "the agent"
    if call.tool not in baseline.tools:
        found["baseline_new_tool"] = (1.0, f"{agent} never used {call.tool}")
    access = call.access or text.ACCESS_OF_KIND[kind]
    if baseline.kinds and access not in baseline.kinds:
        found["baseline_new_kind"] = (1.0, f"{agent} never had {access} access before")
    calls = trail.call_count + 1
    if baseline.session_calls_p99 and calls > baseline.session_calls_p99:
        found["baseline_volume"] = (
            min(3.0, math.log2(calls / baseline.session_calls_p99) + 1),
            f"{calls} calls, above this agent's usual {baseline.session_calls_p99:g} per session",
        )
    return found


def fit_baselines(
    actions: Iterable[Mapping[str, Any]], min_sessions: int = MIN_SESSIONS
) -> dict[str, Baseline]:
    """Per agent, from action rows (``session_id``, ``agent_name``, ``operation``,
    ``access``): the tools it used, the accesses it had, and the ``VOLUME_QUANTILE`` of its
    sessions' call counts. Agents with fewer than ``min_sessions`` sessions get none."""
    tools: dict[str, set[str]] = defaultdict(set)
    accesses: dict[str, set[str]] = defaultdict(set)
    calls: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in actions:
        agent = str(row.get("agent_name") or "")
        session = str(row.get("session_id") or "")
        if not agent or not session:
            continue
        operation = str(row.get("operation") or "")
        if operation:
            tools[agent].add(operation)
        access = str(row.get("access") or "")
        if access:
            accesses[agent].add(access)
        calls[agent][session] += 1
    found: dict[str, Baseline] = {}
    for agent, per_session in calls.items():
        if len(per_session) < min_sessions:
            continue
        counts = sorted(per_session.values())
        p99 = counts[min(len(counts) - 1, int(VOLUME_QUANTILE * len(counts)))]
        found[agent] = Baseline(
            tools=frozenset(tools[agent]),
            kinds=frozenset(accesses[agent]),
            session_calls_p99=float(p99),
            sessions=len(per_session),
        )
    return found
