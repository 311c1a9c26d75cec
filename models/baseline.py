"""An agent's behavioural baseline, learnt from the ledger's history: which tools and
operations it uses, with which access, and how many calls its sessions usually make.
List in, value out: the ledger query that feeds it lives in ``ledger.queries``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from models.features import Baseline

# An agent needs this many sessions in the history before its baseline is used at all.
MIN_SESSIONS = 5
# A session's call count above this quantile of the agent's sessions is unusual.
VOLUME_QUANTILE = 0.99


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
