"""The projections the stitcher writes: what it reads back to resume, and clearing them for
a rebuild (``raw_events`` and ``declarations`` are records and are never cleared)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ledger.chains import TABLE as CHAIN_TABLE
from ledger.chains import fill_statements
from ledger.store import LedgerStore

PROJECTIONS = (
    "sessions",
    "actions",
    "credentials",
    "session_keys",
    "session_aliases",
    "attributions",
)


@dataclass(slots=True)
class StitchRows:
    """The rows a stitcher resumes from, as the ledger holds them."""

    keys: list[dict[str, Any]]
    aliases: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    pending_actions: list[dict[str, Any]]  # tool calls still waiting for their outcome
    open_actions: list[dict[str, Any]]  # actions within the re-stitch window of the newest
    open_labels: list[dict[str, Any]]  # the attributions of those open actions


def stitch_rows(store: LedgerStore, restitch: timedelta) -> StitchRows:
    """What a stitcher needs to go on where the ledger stands."""
    db = store.database
    # The actions still open to a new label: those within the re-stitch window of the newest.
    recent = (
        f"event_time >= (SELECT max(event_time) FROM {db}.actions) "
        f"- toIntervalMicrosecond({int(restitch.total_seconds() * 1_000_000)})"
    )
    open_actions = store.query_rows(f"SELECT * FROM {db}.actions FINAL WHERE {recent}")
    open_labels = store.query_rows(
        f"SELECT * FROM {db}.attributions FINAL WHERE action_id IN "
        f"(SELECT action_id FROM {db}.actions WHERE {recent})"
    )
    return StitchRows(
        keys=store.query_rows(
            f"SELECT key_type, key_value, session_id FROM {db}.session_keys FINAL"
        ),
        aliases=store.query_rows(
            f"SELECT alias_id, session_id, key_type, key_value, event_id "
            f"FROM {db}.session_aliases FINAL"
        ),
        sessions=store.query_rows(f"SELECT * FROM {db}.sessions FINAL"),
        pending_actions=store.query_rows(
            f"SELECT * FROM {db}.actions FINAL WHERE kind = 'tool_call' AND outcome = 'pending'"
        ),
        open_actions=open_actions,
        open_labels=open_labels,
    )


def truncate_projections(store: LedgerStore) -> None:
    """Empty every projection (a rebuild fills them again from the records). The chain
    table is emptied too and given back the drift, which a rebuild keeps; the rest of it
    comes back through its views as the rebuild writes actions and labels."""
    for table in PROJECTIONS:
        store.command(f"TRUNCATE TABLE IF EXISTS {store.database}.{table}")
    store.command(f"TRUNCATE TABLE IF EXISTS {store.database}.{CHAIN_TABLE}")
    for statement in fill_statements(store.database, ("drift",)):
        store.command(statement)
