"""Every panel of the committed dashboards, as Grafana's ClickHouse data source would send it,
run as the analyst through the ledger's SQL endpoint against a ledger the real pipeline
filled: the attribution scenarios (every label but unattributed, a delegation chain with a
confused deputy) and the injected mail session (drift, a contraction), through the broker,
the worker and chDB. Each panel answers with the columns it is drawn from, and with rows
where the seed guarantees some."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from agentledger.panels import grafana_interval, panel_queries, variable_queries
from tests import scenarios
from tests.drift_records import declaration, injected_session
from tests.integration.conftest import ANALYST_PASSWORD, ANALYST_USER, RunningStack
from tests.integration.helpers import declare, ingest, wait_processed, wait_stored
from tests.polling import wait_for

DRIFT = "Agent Ledger: drift overview/"
SESSION = "Agent Ledger: session explorer/"
ATTRIBUTION = "Agent Ledger: attribution/"
PIPELINE = "Agent Ledger: pipeline health/"
TIME_SERIES = ("time",)

# Each panel's columns, in order.
COLUMNS: dict[str, tuple[str, ...]] = {
    DRIFT + "Scored actions": ("scored",),
    DRIFT + "Flagged": ("flagged_share",),
    DRIFT + "Contractions": ("contractions",),
    DRIFT + "Sessions halted or revoked": ("ended_sessions",),
    DRIFT + "Drift by agent": (*TIME_SERIES, "agent", "drift"),
    DRIFT + "Drift by intent class": (*TIME_SERIES, "intent_class", "drift"),
    DRIFT + "Flagged actions by agent": (*TIME_SERIES, "agent", "flagged"),
    DRIFT + "Contractions by decision": (*TIME_SERIES, "decision", "contractions"),
    DRIFT + "Top drifting sessions": (
        "session_id",
        "agent",
        "max_drift",
        "mean_drift",
        "flagged",
        "out_of_bounds",
        "scored",
        "contractions",
        "decision_at_max",
        "last_scored",
    ),
    DRIFT + "Latest contractions": (
        "decided_at",
        "session_id",
        "agent",
        "decision",
        "cause_tool",
        "drift",
        "removed_tools",
        "removed_scopes",
        "policy_rule",
        "reasons",
        "model_version",
    ),
    SESSION + "Session": (
        "session_id",
        "agent_name",
        "agent_version",
        "agent_instance",
        "agent_spiffe_id",
        "origin_type",
        "origin_principal",
        "upstream_session_id",
        "intent",
        "intent_source",
        "declared",
        "intent_tools",
        "scopes",
        "sources",
        "first_seen",
        "last_seen",
        "event_count",
        "action_count",
        "failure_count",
    ),
    SESSION + "Chain": (
        "time",
        "session_id",
        "source",
        "kind",
        "operation",
        "resource",
        "outcome",
        "label",
        "label_rule",
        "confused_deputy",
        "drift",
        "decision",
        "link_rule",
        "link_key_type",
        "link_key",
        "action_id",
    ),
    SESSION + "Delegation": (
        "relation",
        "session_id",
        "agent_name",
        "origin_type",
        "origin_principal",
        "intent",
        "first_seen",
    ),
    SESSION + "Merged sessions": ("merged_session", "rule", "key_type", "key_value", "event_id"),
    SESSION + "Drift along the session": ("time", "tool", "drift"),
    SESSION + "Contractions": (
        "decided_at",
        "decision",
        "cause_tool",
        "drift",
        "removed_tools",
        "removed_scopes",
        "remaining_tools",
        "remaining_scopes",
        "policy_rule",
        "reasons",
        "contraction_id",
    ),
    SESSION + "Credentials": (
        "issued_at",
        "kind",
        "credential_id",
        "principal",
        "client_id",
        "scopes",
        "expires_at",
    ),
    ATTRIBUTION + "Labelled actions": ("labelled",),
    ATTRIBUTION + "Unattributed": ("unattributed_share",),
    ATTRIBUTION + "Agent on its own": ("autonomous_share",),
    ATTRIBUTION + "Confused deputies": ("confused_deputies",),
    ATTRIBUTION + "Actions by label": (*TIME_SERIES, "label", "actions"),
    ATTRIBUTION + "Unattributed share": (*TIME_SERIES, "unattributed_share"),
    ATTRIBUTION + "Labels by rule": ("label", "rule", "actions", "sessions", "last_seen"),
    ATTRIBUTION + "Labels by agent": (
        "agent",
        "actions",
        "direct_user",
        "agent_delegated",
        "agent_autonomous",
        "unattributed",
        "confused_deputies",
    ),
    ATTRIBUTION + "Possible confused deputies": (
        "time",
        "session_id",
        "agent",
        "operation",
        "resource",
        "label",
        "rule",
        "origin_type",
        "origin_principal",
        "chain",
        "action_id",
    ),
    PIPELINE + "Events stored": ("events",),
    PIPELINE + "Events/s": ("events_per_second",),
    PIPELINE + "Dead letters": ("dead_letters",),
    PIPELINE + "Unpaired results": ("unpaired_results",),
    PIPELINE + "Events stored per second, by source": (
        *TIME_SERIES,
        "source",
        "events_per_second",
    ),
    PIPELINE + "Dead letters, by source": (*TIME_SERIES, "dead_letter_source", "dead_letters"),
    PIPELINE + "Lag: ingest to ledger": (*TIME_SERIES, "p50", "p99"),
    PIPELINE + "Lag: ingest to drift decision": (*TIME_SERIES, "p50", "p99"),
    PIPELINE + "Dead letters by reason": (
        "dead_letter_source",
        "reason",
        "field",
        "dead_letters",
        "last_received",
        "last_position",
    ),
    PIPELINE + "Stored by source": (
        "source",
        "events",
        "ingest_batches",
        "first_event",
        "last_event",
        "last_stored",
    ),
    PIPELINE + "Shared Signals deliveries": (
        "stream",
        "delivery",
        "state",
        "sets",
        "max_attempts",
        "last_update",
        "last_error",
    ),
}
# Panels with nothing to show from this seed: no merges, no Shared Signals receivers, the
# chain worker's token granted by no identity provider record.
MAY_BE_EMPTY = {
    SESSION + "Merged sessions",
    SESSION + "Credentials",
    SESSION + "Contractions",
    SESSION + "Drift along the session",
    PIPELINE + "Shared Signals deliveries",
}
# Asked again of the injected mail session, which drifted and was contracted.
MAIL_SESSION_PANELS = {SESSION + "Drift along the session", SESSION + "Contractions"}


def _seed(stack: RunningStack, tmp_path: Path) -> None:
    items = scenarios.all_scenarios()
    for scenario in items:
        for body in scenario.declarations:
            declare(stack, body)
    declare(stack, declaration([]))
    # Declared before their records arrive, as a client declares at a session's start.
    declared = sum(len(s.declarations) for s in items) + 1
    wait_for(
        lambda: stack.store.count("declarations"),
        until=lambda n: n >= declared,
        timeout=60,
        what=f"{declared} declarations in the ledger",
    )
    records: dict[str, list[dict[str, Any]]] = {"okta": [], "mcp": [], "envoy": []}
    for scenario in [*items, injected_session()]:
        for source, found in scenario.records.items():
            records[source] += found
    total = 0
    for source, found in records.items():
        path = tmp_path / f"{source}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in found))
        report = ingest(stack, source, path, batch="dashboards")
        assert report.rejected == 0
        total += report.events
    wait_stored(stack.store, "dashboards", total)
    # Its markers also leave dead letters, which the pipeline panels count.
    wait_processed(stack)


def _run(endpoint: str, sql: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The panel's SQL as the analyst: column names and rows."""
    reply = httpx.post(
        f"http://{endpoint}/",
        params={"default_format": "JSON"},
        content=sql.encode(),
        auth=(ANALYST_USER, ANALYST_PASSWORD),
        timeout=60,
    )
    assert reply.status_code == 200, f"{reply.status_code}: {reply.text}\n{sql}"
    body = reply.json()
    return [column["name"] for column in body["meta"]], body["data"]


def test_every_panel_runs_as_the_analyst_with_its_columns(
    stack: RunningStack, ledger_http: str, tmp_path: Path
) -> None:
    _seed(stack, tmp_path)
    database = stack.settings.database
    window = {
        "time_from": scenarios.BASE - timedelta(days=1),
        "time_to": datetime.now(UTC) + timedelta(hours=1),
    }
    interval = grafana_interval(window["time_from"], window["time_to"])
    chain = {"database": database, "session_id": "s-chain-worker"}
    queries = panel_queries(chain, interval_s=interval, **window)
    assert sorted(title for title, _ in queries) == sorted(COLUMNS), "a panel is untested"

    answered: dict[str, list[dict[str, Any]]] = {}
    for title, sql in queries:
        assert "$" not in sql, f"{title}: a macro or variable left unexpanded: {sql}"
        columns, rows = _run(ledger_http, sql)
        assert tuple(columns) == COLUMNS[title], title
        answered[title] = rows
        if title not in MAY_BE_EMPTY:
            assert rows, f"{title} shows nothing of the seeded ledger:\n{sql}"

    mail = {"database": database, "session_id": "s-mail-1"}
    for title, sql in panel_queries(mail, interval_s=interval, **window):
        if title in MAIL_SESSION_PANELS:
            columns, rows = _run(ledger_http, sql)
            assert tuple(columns) == COLUMNS[title] and rows, title
            answered[f"{title} (mail)"] = rows

    # What the seed says the panels must show.
    labels = {row["label"] for row in answered[ATTRIBUTION + "Labels by rule"]}
    assert {"direct_user", "agent_delegated", "agent_autonomous"} <= labels
    deputies = answered[ATTRIBUTION + "Possible confused deputies"]
    assert {row["session_id"] for row in deputies} == {"s-chain-worker"}
    contracted = {
        r["session_id"] for r in answered[DRIFT + "Top drifting sessions"] if int(r["contractions"])
    }
    latest = answered[DRIFT + "Latest contractions"]
    # Shown as the declared sessions they were merged into, whatever id scoring saw.
    assert {"s-mail-1", "s-autonomous"} <= contracted == {r["session_id"] for r in latest}
    assert {r["decision"] for r in latest} <= {"narrow", "halt", "revoke"}
    delegation = answered[SESSION + "Delegation"]
    assert [(r["relation"], r["session_id"]) for r in delegation] == [
        ("delegated by", "s-chain-orchestrator")
    ]
    [session] = answered[SESSION + "Session"]
    assert session["upstream_session_id"] == "s-chain-orchestrator"
    # The chain holds the actions of the session and of those merged into it (the stitched
    # session the declaration's token joined), and the worker's delete beyond its intent.
    merged = {row["merged_session"] for row in answered[SESSION + "Merged sessions"]}
    chain_rows = answered[SESSION + "Chain"]
    assert {row["session_id"] for row in chain_rows} <= {"s-chain-worker", *merged}
    assert any(row["confused_deputy"] for row in chain_rows)
    assert {row["label"] for row in chain_rows} >= {"agent_delegated"}
    assert int(answered[PIPELINE + "Dead letters"][0]["dead_letters"]) >= 1
    assert len(answered[SESSION + "Contractions (mail)"]) == 1

    # The template variables' own queries run too, and offer the seeded values.
    offered = {
        title: _run(ledger_http, sql)[1]
        for title, sql in variable_queries({"database": database}, **window)
    }
    assert {"s-chain-worker", "s-mail-1"} <= {
        row["session_id"] for row in offered[SESSION + "session_id"]
    }
    assert database in {row["database"] for row in offered[DRIFT + "database"]}
    assert offered[DRIFT + "agent"], "the drift overview offers no agent"
