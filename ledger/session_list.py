"""The sessions an analyst looks at first: the latest, with what stands out in each (actions
an agent took on its own, possible confused deputies, drift the policy flagged, contractions),
filtered by agent, label, flagged or contracted, and time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions to list; each field left at its default filters nothing.

    ``since``/``until`` are ClickHouse time texts (UTC): a session is listed when it was
    active in that range (last seen at or after ``since``, first seen at or before
    ``until``)."""

    agent: str | None = None
    label: str | None = None
    flagged: bool = False
    contracted: bool = False
    since: str | None = None
    until: str | None = None


_TIME = "parseDateTime64BestEffort({%s:String}, 6, 'UTC')"


def _conditions(db: str, wanted: SessionFilter) -> tuple[list[str], dict[str, Any]]:
    conditions = [f"session_id NOT IN (SELECT alias_id FROM {db}.session_aliases FINAL)"]
    params: dict[str, Any] = {}
    if wanted.agent:
        conditions.append("agent_name = {agent:String}")
        params["agent"] = wanted.agent
    if wanted.label:
        conditions.append(
            f"session_id IN (SELECT session_id FROM {db}.attributions FINAL "
            "WHERE label = {label:String})"
        )
        params["label"] = wanted.label
    if wanted.flagged:
        conditions.append(f"session_id IN (SELECT session_id FROM {db}.drift FINAL WHERE flagged)")
    if wanted.contracted:
        conditions.append(f"session_id IN (SELECT session_id FROM {db}.contractions FINAL)")
    if wanted.since:
        conditions.append("last_seen >= " + _TIME % "since")
        params["since"] = wanted.since
    if wanted.until:
        conditions.append("first_seen <= " + _TIME % "until")
        params["until"] = wanted.until
    return conditions, params


def list_sessions(
    store: LedgerStore, limit: int = 50, wanted: SessionFilter | None = None
) -> list[dict[str, Any]]:
    """The latest sessions (of those ``wanted``), with how many of their actions an agent
    took on its own, how many were flagged as a possible confused deputy, how many drifted
    past the policy's threshold and the highest drift score, and how many contractions the
    policy decided for them."""
    db = store.database
    conditions, params = _conditions(db, wanted or SessionFilter())
    params["limit"] = limit
    return store.query_rows(
        "WITH page AS ("
        "SELECT session_id, first_seen, last_seen, principal, origin_type, origin_principal, "
        "agent_name, agent_version, agent_instance, intent, sources, event_count, "
        f"action_count, failure_count FROM {db}.sessions FINAL "
        f"WHERE {' AND '.join(conditions)} "
        "ORDER BY last_seen DESC, session_id LIMIT {limit:UInt32}) "
        "SELECT page.*, labels.autonomous AS autonomous_actions, "
        "labels.deputies AS confused_deputy_actions, "
        "drifts.flagged AS flagged_actions, drifts.top AS max_drift, "
        "cuts.n AS contraction_count FROM page LEFT JOIN ("
        "SELECT session_id AS label_session_id, "
        "countIf(label = 'agent_autonomous') AS autonomous, "
        f"countIf(confused_deputy) AS deputies FROM {db}.attributions FINAL "
        "WHERE session_id IN (SELECT session_id FROM page) GROUP BY session_id"
        ") AS labels ON labels.label_session_id = page.session_id LEFT JOIN ("
        "SELECT session_id AS drift_session_id, countIf(flagged) AS flagged, "
        f"round(max(score), 4) AS top FROM {db}.drift FINAL "
        "WHERE session_id IN (SELECT session_id FROM page) GROUP BY session_id"
        ") AS drifts ON drifts.drift_session_id = page.session_id LEFT JOIN ("
        "SELECT session_id AS cut_session_id, count() AS n "
        f"FROM {db}.contractions FINAL "
        "WHERE session_id IN (SELECT session_id FROM page) GROUP BY session_id"
        ") AS cuts ON cuts.cut_session_id = page.session_id "
        "ORDER BY page.last_seen DESC, page.session_id",
        params,
    )
