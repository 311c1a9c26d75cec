"""Session explorer: one session (``session_id``, followed through merges) with its agent,
origin, intent and scope, its chain of actions with each one's label and drift, the sessions
that delegated to it or that it delegated to, what was merged into it, its contractions and
its credentials."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.models import dashboard as model

from dashboards.model import (
    DATASOURCE,
    SESSION_DASHBOARD,
    inline,
    ledger_dashboard,
    sql,
    table_panel,
    time_series,
)

UID = SESSION_DASHBOARD
ASKED = "${session_id:singlequote}"
# The session asked for after merges: the one it was merged into, or itself.
ROOT = (
    f"(SELECT if(count() = 0, {ASKED}, any(session_id)) "
    f"FROM ${{database}}.session_aliases FINAL WHERE alias_id = {ASKED})"
)
# Every session id that stands for the one asked: its root and the sessions merged into it.
MEMBERS = sql(f"""
    SELECT {ASKED}
    UNION ALL
    SELECT alias_id FROM ${{database}}.session_aliases FINAL WHERE session_id = {ASKED}
    UNION ALL
    SELECT session_id FROM ${{database}}.session_aliases FINAL WHERE alias_id = {ASKED}
    UNION ALL
    SELECT alias_id FROM ${{database}}.session_aliases FINAL
    WHERE session_id IN (
        SELECT session_id FROM ${{database}}.session_aliases FINAL WHERE alias_id = {ASKED}
    )
""")
SESSION_IDS_SQL = sql("""
    SELECT session_id
    FROM ${database}.sessions FINAL
    WHERE $__timeFilter(last_seen)
        AND session_id NOT IN (SELECT alias_id FROM ${database}.session_aliases FINAL)
    ORDER BY last_seen DESC
    LIMIT 500
""")


def _members(text: str) -> str:
    """``text`` with each ``@MEMBERS@`` line replaced by the member subquery."""
    return inline(text, "@MEMBERS@", MEMBERS)


def _session_variable() -> builders.QueryVariable:
    return (
        builders.QueryVariable("session_id")
        .label("Session")
        .description("A session id (a merged one opens the session it was merged into).")
        .datasource(DATASOURCE)
        .query({"editorType": "sql", "rawSql": SESSION_IDS_SQL})
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .current(model.VariableOption(text="", value=""))
    )


def build() -> builders.Dashboard:
    return (
        ledger_dashboard(
            UID,
            "Agent Ledger: session explorer",
            "One session's chain: agent, origin, intent, scope, and every action with its "
            "label, drift and the key that linked it.",
        )
        .with_variable(_session_variable())
        .with_panel(
            table_panel(
                "Session",
                sql(f"""
                    SELECT session_id, agent_name, agent_version, agent_instance,
                        agent_spiffe_id, origin_type, origin_principal, upstream_session_id,
                        intent, intent_source, declared, intent_tools, scopes, sources,
                        first_seen, last_seen, event_count, action_count, failure_count
                    FROM ${{database}}.sessions FINAL
                    WHERE session_id = {ROOT}
                """),
                "Who acted (agent), for whom (origin), under which intent and scope.",
                session_columns=("session_id", "upstream_session_id"),
                height=5,
            )
        )
        .with_panel(
            table_panel(
                "Chain",
                _members(
                    sql("""
                        SELECT time, action_session AS session_id, action_source AS source,
                            action_kind AS kind, action_operation AS operation,
                            action_resource AS resource, action_outcome AS outcome,
                            action_label AS label, label_rule,
                            action_confused_deputy AS confused_deputy,
                            if(scored, action_score, NULL) AS drift,
                            action_decision AS decision, action_link_rule AS link_rule,
                            action_link_key_type AS link_key_type,
                            action_link_key AS link_key, action_id
                        FROM (
                            SELECT action_id,
                                argMaxIf(event_time, version, part = 'action') AS time,
                                argMaxIf(session_id, version, part = 'action')
                                    AS action_session,
                                argMaxIf(source, version, part = 'action') AS action_source,
                                argMaxIf(kind, version, part = 'action') AS action_kind,
                                argMaxIf(operation, version, part = 'action')
                                    AS action_operation,
                                argMaxIf(resource, version, part = 'action')
                                    AS action_resource,
                                argMaxIf(outcome, version, part = 'action') AS action_outcome,
                                argMaxIf(label, version, part = 'label') AS action_label,
                                argMaxIf(rule, version, part = 'label') AS label_rule,
                                argMaxIf(confused_deputy, version, part = 'label')
                                    AS action_confused_deputy,
                                countIf(part = 'drift') > 0 AS scored,
                                argMaxIf(score, version, part = 'drift') AS action_score,
                                argMaxIf(decision, version, part = 'drift')
                                    AS action_decision,
                                argMaxIf(link_rule, version, part = 'action')
                                    AS action_link_rule,
                                argMaxIf(link_key_type, version, part = 'action')
                                    AS action_link_key_type,
                                argMaxIf(link_key, version, part = 'action')
                                    AS action_link_key
                            FROM ${database}.chain_by_session
                            WHERE session_id IN (
                                @MEMBERS@
                            )
                            GROUP BY action_id
                            HAVING countIf(part = 'action') > 0
                        )
                        ORDER BY time, action_id
                        LIMIT 1000
                    """)
                ),
                "Every action of the session and of the sessions merged into it, in time "
                "order: its label and the rule that decided it, its drift and the policy's "
                "decision, and the key that linked it to the session. A session id links to "
                "its own chain.",
                session_columns=("session_id",),
                height=14,
            )
        )
        .with_panel(
            table_panel(
                "Delegation",
                sql(f"""
                    SELECT relation, session_id, agent_name, origin_type, origin_principal,
                        intent, first_seen
                    FROM (
                        SELECT 'delegated by' AS relation, session_id, agent_name, origin_type,
                            origin_principal, intent, first_seen
                        FROM ${{database}}.sessions FINAL
                        WHERE session_id IN (
                            SELECT if(upstream_session_id != '', upstream_session_id,
                                origin_principal)
                            FROM ${{database}}.sessions FINAL
                            WHERE session_id = {ROOT} AND origin_type = 'agent'
                        )
                        UNION ALL
                        SELECT 'delegated to' AS relation, session_id, agent_name, origin_type,
                            origin_principal, intent, first_seen
                        FROM ${{database}}.sessions FINAL
                        WHERE origin_type = 'agent'
                            AND (upstream_session_id = {ROOT} OR origin_principal = {ROOT})
                    )
                    ORDER BY first_seen, session_id
                """),
                "The session whose agent started this one, and the sessions this one's agent "
                "started.",
                session_columns=("session_id",),
                span=12,
                height=7,
            )
        )
        .with_panel(
            table_panel(
                "Merged sessions",
                sql(f"""
                    SELECT alias_id AS merged_session, rule, key_type, key_value, event_id
                    FROM ${{database}}.session_aliases FINAL
                    WHERE session_id = {ROOT}
                    ORDER BY alias_id
                """),
                "Sessions merged into this one when an event joined them, and the key that did it.",
                span=12,
                height=7,
            )
        )
        .with_panel(
            time_series(
                "Drift along the session",
                _members(
                    sql("""
                        SELECT event_time AS time, tool, score AS drift
                        FROM ${database}.drift FINAL
                        WHERE session_id IN (
                            @MEMBERS@
                        )
                        ORDER BY time, tool
                    """)
                ),
                "Each scored action's drift score, by tool.",
                span=12,
            )
        )
        .with_panel(
            table_panel(
                "Contractions",
                _members(
                    sql("""
                        SELECT decided_at, decision, cause_tool, round(score, 4) AS drift,
                            removed_tools, removed_scopes, remaining_tools, remaining_scopes,
                            policy_rule, reasons, contraction_id
                        FROM ${database}.contractions FINAL
                        WHERE session_id IN (
                            @MEMBERS@
                        )
                        ORDER BY decided_at, contraction_id
                    """)
                ),
                "What the policy took away from this session, and why.",
                span=12,
                height=8,
            )
        )
        .with_panel(
            table_panel(
                "Credentials",
                _members(
                    sql("""
                        SELECT issued_at, kind, credential_id, principal, client_id, scopes,
                            expires_at
                        FROM ${database}.credentials FINAL
                        WHERE session_id IN (
                            @MEMBERS@
                        )
                        ORDER BY issued_at, credential_id
                    """)
                ),
                "The tokens and keys the session held (their ids and claims, never the secret).",
                height=7,
            )
        )
    )
