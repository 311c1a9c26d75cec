"""Attribution: the four labels (a person acting directly, an agent doing what it was asked,
an agent acting on its own, not attributable) over time, the unattributed share, and the
actions where an upstream agent may have steered a downstream one (confused deputies)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders

from dashboards.model import ledger_dashboard, sql, stat_panel, table_panel, time_series

UID = "agentledger-attribution"


def build() -> builders.Dashboard:
    return (
        ledger_dashboard(
            UID,
            "Agent Ledger: attribution",
            "Who each action is attributed to: direct_user, agent_delegated, "
            "agent_autonomous or unattributed, with the rule that decided it.",
        )
        .with_panel(
            stat_panel(
                "Labelled actions",
                sql("""
                    SELECT count() AS labelled
                    FROM ${database}.attributions FINAL
                    WHERE $__timeFilter(event_time)
                """),
                "Actions labelled in the time range.",
            )
        )
        .with_panel(
            stat_panel(
                "Unattributed",
                sql("""
                    SELECT countIf(label = 'unattributed') / greatest(count(), 1)
                        AS unattributed_share
                    FROM ${database}.attributions FINAL
                    WHERE $__timeFilter(event_time)
                """),
                "Share of actions neither an agent nor a person could be established for.",
                unit="percentunit",
            )
        )
        .with_panel(
            stat_panel(
                "Agent on its own",
                sql("""
                    SELECT countIf(label = 'agent_autonomous') / greatest(count(), 1)
                        AS autonomous_share
                    FROM ${database}.attributions FINAL
                    WHERE $__timeFilter(event_time)
                """),
                "Share of actions an agent took without an instruction that covers them.",
                unit="percentunit",
            )
        )
        .with_panel(
            stat_panel(
                "Confused deputies",
                sql("""
                    SELECT countIf(confused_deputy) AS confused_deputies
                    FROM ${database}.attributions FINAL
                    WHERE $__timeFilter(event_time)
                """),
                "Actions where an upstream agent may have steered a downstream one beyond "
                "the originating intent.",
            )
        )
        .with_panel(
            time_series(
                "Actions by label",
                sql("""
                    SELECT toStartOfInterval(event_time, INTERVAL $__interval_s second) AS time,
                        label, count() AS actions
                    FROM ${database}.attributions FINAL
                    WHERE $__timeFilter(event_time)
                    GROUP BY time, label
                    ORDER BY time, label
                """),
                "Labelled actions per interval, by label.",
                span=16,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "Unattributed share",
                sql("""
                    SELECT toStartOfInterval(event_time, INTERVAL $__interval_s second) AS time,
                        countIf(label = 'unattributed') / count() AS unattributed_share
                    FROM ${database}.attributions FINAL
                    WHERE $__timeFilter(event_time)
                    GROUP BY time
                    ORDER BY time
                """),
                "Share of each interval's actions that could not be attributed.",
                unit="percentunit",
                span=8,
            )
        )
        .with_panel(
            table_panel(
                "Labels by rule",
                sql("""
                    SELECT label, rule, count() AS actions, uniqExact(session_id) AS sessions,
                        max(event_time) AS last_seen
                    FROM ${database}.attributions FINAL
                    WHERE $__timeFilter(event_time)
                    GROUP BY label, rule
                    ORDER BY label, actions DESC, rule
                """),
                "Which rule decided how many labels: the evidence an analyst starts from.",
                span=12,
                height=8,
            )
        )
        .with_panel(
            table_panel(
                "Labels by agent",
                sql("""
                    SELECT if(agent = '', '(no agent)', agent) AS agent, count() AS actions,
                        countIf(label = 'direct_user') AS direct_user,
                        countIf(label = 'agent_delegated') AS agent_delegated,
                        countIf(label = 'agent_autonomous') AS agent_autonomous,
                        countIf(label = 'unattributed') AS unattributed,
                        countIf(confused_deputy) AS confused_deputies
                    FROM ${database}.attributions FINAL
                    WHERE $__timeFilter(event_time)
                    GROUP BY agent
                    ORDER BY actions DESC, agent
                    LIMIT 100
                """),
                "Each agent's actions by label.",
                span=12,
                height=8,
            )
        )
        .with_panel(
            table_panel(
                "Possible confused deputies",
                sql("""
                    SELECT t.event_time AS time, t.session_id AS session_id, t.agent AS agent,
                        a.operation AS operation, a.resource AS resource, t.label AS label,
                        t.rule AS rule, t.origin_type AS origin_type,
                        t.origin_principal AS origin_principal, t.chain AS chain,
                        t.action_id AS action_id
                    FROM (
                        SELECT * FROM ${database}.attributions FINAL
                        WHERE $__timeFilter(event_time) AND confused_deputy
                    ) AS t
                    LEFT JOIN (
                        SELECT action_id, operation, resource FROM ${database}.actions FINAL
                        WHERE $__timeFilter(event_time)
                    ) AS a ON a.action_id = t.action_id
                    ORDER BY time DESC, action_id
                    LIMIT 200
                """),
                "Actions where the originating intent, passed down a delegation chain, did "
                "not cover what the downstream agent did. Click a session to open its chain.",
                session_columns=("session_id",),
            )
        )
    )
