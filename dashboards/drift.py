"""Drift overview: how far agents' actions drift from their sessions' intent, per agent and
per intent class (the drift policy's rule that matched the session's agent and intent), the
contractions the policy published, and the sessions that drift most."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.models import dashboard as model

from dashboards.model import (
    DATASOURCE,
    inline,
    ledger_dashboard,
    sql,
    stat_panel,
    table_panel,
    time_series,
)

UID = "agentledger-drift"
# Every panel's agent filter: all agents, or the ones picked.
AGENTS = "$__conditionalAll(agent IN (${agent:singlequote}), $agent)"
# Each action scored in the range once, as its latest version (what FINAL gives: a re-scored
# or re-stitched action has a newer row). Grouped by action rather than read with FINAL, so
# the engine reads the range's rows through drift's by_time projection (ordered by time)
# instead of the whole table: an action's time and agent are the same in every version (the
# action's own), so the range and agent filters pick every version of an action or none.
LATEST = sql(f"""
    SELECT action_id, event_time, agent,
        argMax(session_id, version) AS session_id, argMax(score, version) AS score,
        argMax(flagged, version) AS flagged, argMax(out_of_bounds, version) AS out_of_bounds,
        argMax(decision, version) AS decision, argMax(policy_rule, version) AS policy_rule,
        argMax(contraction_id, version) AS contraction_id
    FROM ${{database}}.drift
    WHERE $__timeFilter(event_time) AND {AGENTS}
    GROUP BY action_id, event_time, agent
""")
# Drift rows name the session that was the root when scored, so a later merge is followed
# through session_aliases.
SCORED = inline(
    sql("""
    SELECT if(merged.session_id = '', d.session_id, merged.session_id) AS root_session,
        d.agent AS agent, d.score AS score, d.flagged AS flagged,
        d.out_of_bounds AS out_of_bounds, d.decision AS decision,
        d.contraction_id AS contraction_id, d.event_time AS event_time
    FROM (
        @LATEST@
    ) AS d
    LEFT JOIN (
        SELECT alias_id, session_id FROM ${database}.session_aliases FINAL
    ) AS merged ON merged.alias_id = d.session_id
"""),
    "@LATEST@",
    LATEST,
)


def _latest(text: str) -> str:
    """``text`` with its ``@LATEST@`` line replaced by the range's scored actions."""
    return inline(sql(text), "@LATEST@", LATEST)


def _agent_variable() -> builders.QueryVariable:
    return (
        builders.QueryVariable("agent")
        .label("Agent")
        .datasource(DATASOURCE)
        .query(
            {
                "editorType": "sql",
                "rawSql": "SELECT DISTINCT agent FROM ${database}.drift "
                "WHERE $__timeFilter(event_time) ORDER BY agent",
            }
        )
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .current(model.VariableOption(text=["All"], value=["$__all"]))
    )


def build() -> builders.Dashboard:
    return (
        ledger_dashboard(
            UID,
            "Agent Ledger: drift overview",
            "How far agents' actions drift from their sessions' declared or inferred intent, "
            "and what the drift policy did about it.",
        )
        .with_variable(_agent_variable())
        .with_panel(
            stat_panel(
                "Scored actions",
                _latest("""
                    SELECT count() AS scored
                    FROM (
                        @LATEST@
                    )
                """),
                "Agent actions the drift model scored in the time range.",
            )
        )
        .with_panel(
            stat_panel(
                "Flagged",
                _latest("""
                    SELECT countIf(flagged) / greatest(count(), 1) AS flagged_share
                    FROM (
                        @LATEST@
                    )
                """),
                "Share of scored actions the model flagged as drifting.",
                unit="percentunit",
            )
        )
        .with_panel(
            stat_panel(
                "Contractions",
                sql(f"""
                    SELECT count() AS contractions
                    FROM ${{database}}.contractions FINAL
                    WHERE $__timeFilter(event_time) AND {AGENTS}
                """),
                "Scope contractions the policy published (narrow, halt, revoke).",
            )
        )
        .with_panel(
            stat_panel(
                "Sessions halted or revoked",
                sql(f"""
                    SELECT uniqExact(session_id) AS ended_sessions
                    FROM ${{database}}.contractions FINAL
                    WHERE $__timeFilter(event_time) AND decision IN ('halt', 'revoke')
                        AND {AGENTS}
                """),
                "Sessions the policy stopped: every later call refused.",
            )
        )
        .with_panel(
            time_series(
                "Drift by agent",
                _latest("""
                    SELECT toStartOfInterval(event_time, INTERVAL $__interval_s second) AS time,
                        agent, round(avg(score), 4) AS drift
                    FROM (
                        @LATEST@
                    )
                    GROUP BY time, agent
                    ORDER BY time, agent
                """),
                "Mean drift score of each agent's scored actions per interval (0: as intended, "
                "1: far from the intent).",
                span=12,
            )
        )
        .with_panel(
            time_series(
                "Drift by intent class",
                _latest("""
                    SELECT toStartOfInterval(event_time, INTERVAL $__interval_s second) AS time,
                        if(policy_rule = '', 'defaults', policy_rule) AS intent_class,
                        round(avg(score), 4) AS drift
                    FROM (
                        @LATEST@
                    )
                    GROUP BY time, intent_class
                    ORDER BY time, intent_class
                """),
                "Mean drift score per interval, by intent class: the drift policy's rule that "
                "matched the session's agent and intent (defaults: no rule matched).",
                span=12,
            )
        )
        .with_panel(
            time_series(
                "Flagged actions by agent",
                _latest("""
                    SELECT toStartOfInterval(event_time, INTERVAL $__interval_s second) AS time,
                        agent, countIf(flagged) AS flagged
                    FROM (
                        @LATEST@
                    )
                    GROUP BY time, agent
                    ORDER BY time, agent
                """),
                "Actions flagged as drifting per interval, by agent.",
                span=12,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "Contractions by decision",
                sql(f"""
                    SELECT toStartOfInterval(event_time, INTERVAL $__interval_s second) AS time,
                        decision, count() AS contractions
                    FROM ${{database}}.contractions FINAL
                    WHERE $__timeFilter(event_time) AND {AGENTS}
                    GROUP BY time, decision
                    ORDER BY time, decision
                """),
                "Contractions per interval (at the drifting action's time), by decision.",
                span=12,
                stacked=True,
            )
        )
        .with_panel(
            table_panel(
                "Top drifting sessions",
                inline(
                    sql("""
                    SELECT root_session AS session_id, any(agent) AS agent,
                        round(max(score), 4) AS max_drift, round(avg(score), 4) AS mean_drift,
                        countIf(flagged) AS flagged, countIf(out_of_bounds) AS out_of_bounds,
                        count() AS scored, countIf(contraction_id != '') AS contractions,
                        argMax(decision, score) AS decision_at_max,
                        max(event_time) AS last_scored
                    FROM (
                        @SCORED@
                    )
                    GROUP BY root_session
                    ORDER BY max_drift DESC, flagged DESC, session_id
                    LIMIT 20
                """),
                    "@SCORED@",
                    SCORED,
                ),
                "The sessions whose actions drift most (merged sessions counted as one). "
                "Click a session to open its chain.",
                session_columns=("session_id",),
            )
        )
        .with_panel(
            table_panel(
                "Latest contractions",
                sql(f"""
                    SELECT c.decided_at AS decided_at,
                        if(merged.session_id = '', c.session_id, merged.session_id) AS session_id,
                        c.agent AS agent, c.decision AS decision, c.cause_tool AS cause_tool,
                        round(c.score, 4) AS drift, c.removed_tools AS removed_tools,
                        c.removed_scopes AS removed_scopes, c.policy_rule AS policy_rule,
                        c.reasons AS reasons, c.model_version AS model_version
                    FROM (
                        SELECT * FROM ${{database}}.contractions FINAL
                        WHERE $__timeFilter(event_time) AND {AGENTS}
                    ) AS c
                    LEFT JOIN (
                        SELECT alias_id, session_id FROM ${{database}}.session_aliases FINAL
                    ) AS merged ON merged.alias_id = c.session_id
                    ORDER BY decided_at DESC, c.contraction_id
                    LIMIT 50
                """),
                "What the policy took away, and why (a merged session shown as the one it was "
                "merged into).",
                session_columns=("session_id",),
            )
        )
    )
