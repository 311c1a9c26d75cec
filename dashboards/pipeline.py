"""Pipeline health, as far as the ledger's own tables show it: events stored per second by
source, dead letters and why, the lag from ingest to the ledger and to the drift decision,
results that answer no request, and the Shared Signals deliveries."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders

from dashboards.model import ledger_dashboard, sql, stat_panel, table_panel, time_series

UID = "agentledger-pipeline"


def build() -> builders.Dashboard:
    return (
        ledger_dashboard(
            UID,
            "Agent Ledger: pipeline health",
            "What the pipeline stored, what it could not parse, and how far behind it runs "
            "(all from the ledger's tables).",
        )
        .with_panel(
            stat_panel(
                "Events stored",
                sql("""
                    SELECT count() AS events
                    FROM ${database}.raw_events FINAL
                    WHERE $__timeFilter(stored_at)
                """),
                "Raw events the ledger stored in the time range.",
            )
        )
        .with_panel(
            stat_panel(
                "Events/s",
                sql("""
                    SELECT count() / greatest(dateDiff('second', $__fromTime, $__toTime), 1)
                        AS events_per_second
                    FROM ${database}.raw_events FINAL
                    WHERE $__timeFilter(stored_at)
                """),
                "Mean rate of stored events over the time range.",
                unit="suffix: events/s",
            )
        )
        .with_panel(
            stat_panel(
                "Dead letters",
                sql("""
                    SELECT count() AS dead_letters
                    FROM ${database}.dead_letters FINAL
                    WHERE $__timeFilter(received_at)
                """),
                "Records that could not be parsed or decoded, kept with their reason.",
            )
        )
        .with_panel(
            stat_panel(
                "Unpaired results",
                sql("""
                    SELECT count() AS unpaired_results
                    FROM ${database}.raw_events FINAL
                    WHERE $__timeFilter(stored_at) AND kind = 'tool_result' AND session_id = ''
                        AND event_id NOT IN (
                            SELECT outcome_event_id FROM ${database}.actions FINAL
                            WHERE outcome_event_id != ''
                        )
                """),
                "Tool results stored that answer no request the ledger holds (yet).",
            )
        )
        .with_panel(
            time_series(
                "Events stored per second, by source",
                sql("""
                    SELECT toStartOfInterval(stored_at, INTERVAL $__interval_s second) AS time,
                        source, count() / ($__interval_s) AS events_per_second
                    FROM ${database}.raw_events FINAL
                    WHERE $__timeFilter(stored_at)
                    GROUP BY time, source
                    ORDER BY time, source
                """),
                "Raw events written to the ledger per second, by source.",
                unit="suffix: events/s",
                span=12,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "Dead letters, by source",
                sql("""
                    SELECT toStartOfInterval(received_at, INTERVAL $__interval_s second) AS time,
                        if(source = '', '(unknown)', source) AS dead_letter_source,
                        count() AS dead_letters
                    FROM ${database}.dead_letters FINAL
                    WHERE $__timeFilter(received_at)
                    GROUP BY time, dead_letter_source
                    ORDER BY time, dead_letter_source
                """),
                "Dead letters per interval, by source.",
                span=12,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "Lag: ingest to ledger",
                sql("""
                    SELECT toStartOfInterval(stored_at, INTERVAL $__interval_s second) AS time,
                        quantile(0.5)(dateDiff('millisecond', ingested_at, stored_at)) / 1000
                            AS p50,
                        quantile(0.99)(dateDiff('millisecond', ingested_at, stored_at)) / 1000
                            AS p99
                    FROM ${database}.raw_events FINAL
                    WHERE $__timeFilter(stored_at)
                    GROUP BY time
                    ORDER BY time
                """),
                "Seconds from a record's ingest (produced to Kafka) to its row in the ledger.",
                unit="s",
                span=12,
            )
        )
        .with_panel(
            time_series(
                "Lag: ingest to drift decision",
                sql("""
                    SELECT toStartOfInterval(d.scored_at, INTERVAL $__interval_s second) AS time,
                        quantile(0.5)(dateDiff('millisecond', r.ingested_at, d.scored_at)) / 1000
                            AS p50,
                        quantile(0.99)(dateDiff('millisecond', r.ingested_at, d.scored_at))
                            / 1000 AS p99
                    FROM (
                        SELECT action_id, scored_at FROM ${database}.drift FINAL
                        WHERE $__timeFilter(scored_at)
                    ) AS d
                    INNER JOIN (
                        SELECT event_id, ingested_at FROM ${database}.raw_events FINAL
                        WHERE ingested_at <= $__toTime
                    ) AS r ON r.event_id = d.action_id
                    GROUP BY time
                    ORDER BY time
                """),
                "Seconds from a scored action's ingest to the policy's decision on it.",
                unit="s",
                span=12,
            )
        )
        .with_panel(
            table_panel(
                "Dead letters by reason",
                sql("""
                    SELECT if(source = '', '(unknown)', source) AS dead_letter_source, reason,
                        field, count() AS dead_letters, max(received_at) AS last_received,
                        argMax(position, received_at) AS last_position
                    FROM ${database}.dead_letters FINAL
                    WHERE $__timeFilter(received_at)
                    GROUP BY dead_letter_source, reason, field
                    ORDER BY dead_letters DESC, dead_letter_source, reason
                    LIMIT 100
                """),
                "Why records were refused, and where the latest of each kind was (file and "
                "line, or topic/partition/offset).",
                span=12,
            )
        )
        .with_panel(
            table_panel(
                "Stored by source",
                sql("""
                    SELECT source, count() AS events, uniqExact(ingest_batch) AS ingest_batches,
                        min(event_time) AS first_event, max(event_time) AS last_event,
                        max(stored_at) AS last_stored
                    FROM ${database}.raw_events FINAL
                    WHERE $__timeFilter(stored_at)
                    GROUP BY source
                    ORDER BY events DESC, source
                """),
                "Events stored per source in the time range, and the event times they cover.",
                span=12,
            )
        )
        .with_panel(
            table_panel(
                "Shared Signals deliveries",
                sql("""
                    SELECT stream, delivery, state, count() AS sets, max(attempts) AS max_attempts,
                        max(updated_at) AS last_update, argMax(last_error, updated_at) AS last_error
                    FROM ${database}.ssf_sets FINAL
                    WHERE $__timeFilter(created_at)
                    GROUP BY stream, delivery, state
                    ORDER BY stream, state
                """),
                "Security Event Tokens per receiver stream and state (pending, delivered, "
                "acked, failed).",
                height=7,
            )
        )
    )
