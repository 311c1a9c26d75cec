"""The projections the stitcher writes: what it reads back to resume, and clearing them for
a rebuild (``raw_events`` and ``declarations`` are records and are never cleared)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from kernel import events as ev
from ledger.chains import TABLE as CHAIN_TABLE
from ledger.chains import fill_statements
from ledger.replay import newest_raw_events
from ledger.store import LedgerStore

PROJECTIONS = (
    "sessions",
    "actions",
    "credentials",
    "session_keys",
    "session_aliases",
    "attributions",
    "web_identities",
)


@dataclass(slots=True)
class StitchRows:
    """The rows a stitcher resumes from, as the ledger holds them."""

    keys: list[dict[str, Any]]
    aliases: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    pending_actions: list[dict[str, Any]]  # tool calls still waiting for their outcome
    open_actions: list[dict[str, Any]]  # actions within the re-stitch window
    open_labels: list[dict[str, Any]]  # the attributions of those open actions
    # The tokens sessions held, live within the re-stitch window, and the token exchanges
    # still waiting for one.
    web_identities: list[dict[str, Any]]


def newest_event_time(store: LedgerStore) -> str | None:
    """The newest event time ``raw_events`` holds (a stitcher's watermark); None if none."""
    [row] = store.query_rows(
        f"SELECT max(event_time) AS newest, count() AS n FROM {store.database}.raw_events"
    )
    return str(row["newest"]) if int(row["n"]) else None


def stitch_rows(store: LedgerStore, open_since: str | None) -> StitchRows:
    """What a stitcher needs to go on where the ledger stands; ``open_since``
    (``DateTime64`` text): the event time from which the stitcher kept actions open to a
    new label, and tokens and exchanges (None: nothing of them)."""
    db = store.database
    params = {"since": open_since or "2299-12-31 00:00:00"}
    recent = "event_time >= {since:DateTime64(6, 'UTC')}"
    open_actions = store.query_rows(f"SELECT * FROM {db}.actions FINAL WHERE {recent}", params)
    # What the stitcher's sweeps would have kept (``StitchState._sweep_tokens``).
    web_identities = store.query_rows(
        f"SELECT role, issuer, subject, audience, name, session_id, issued_at, expires_at, "
        f"waiting FROM {db}.web_identities FINAL WHERE "
        "(role = 'token' AND expires_at >= {since:DateTime64(6, 'UTC')}) "
        "OR (role = 'exchange' AND waiting AND issued_at >= {since:DateTime64(6, 'UTC')}) "
        "ORDER BY role, issuer, subject, audience, name",
        params,
    )
    open_labels = store.query_rows(
        f"SELECT * FROM {db}.attributions FINAL WHERE action_id IN "
        f"(SELECT action_id FROM {db}.actions WHERE {recent})",
        params,
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
        web_identities=web_identities,
    )


def recorded_versions(store: LedgerStore, versions: Collection[int]) -> set[int]:
    """Which of ``versions`` (stitch versions, one a batch) a record carries: a raw event
    (``stitch_version``) or a declaration. Records go last in a write, so a batch whose
    version none carries did not finish its write (``processors.recount``)."""
    if not versions:
        return set()
    db = store.database
    found = store.query_rows(
        f"SELECT DISTINCT stitch_version AS v FROM {db}.raw_events "
        "WHERE stitch_version IN {vs:Array(UInt64)} "
        f"UNION DISTINCT SELECT DISTINCT version AS v FROM {db}.declarations "
        "WHERE version IN {vs:Array(UInt64)}",
        {"vs": sorted(versions)},
    )
    return {int(row["v"]) for row in found}


# The records a JSON-RPC pairing is made of: requests (tool calls and other MCP messages)
# and the results that answer them.
PAIRING_KINDS = (ev.TOOL_CALL, ev.MCP_MESSAGE, ev.TOOL_RESULT)


def pairing_rows(
    store: LedgerStore, since: str, limit: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The requests and results at or after ``since`` (``DateTime64`` text), the newest
    ``limit`` of them, oldest first (``raw_events`` rows, to be parsed again), and the latest
    ``actions`` row of each tool call among them: what a stitcher held for pairing."""
    db = store.database
    rows = newest_raw_events(store, since, PAIRING_KINDS, limit)
    calls = [row["event_id"] for row in rows if row["kind"] == ev.TOOL_CALL]
    actions: dict[str, dict[str, Any]] = {}
    if calls:
        for row in store.query_rows(
            f"SELECT * FROM {db}.actions FINAL WHERE action_id IN {{ids:Array(String)}}",
            {"ids": calls},
        ):
            actions[row["action_id"]] = row
    return rows, actions


def truncate_projections(store: LedgerStore) -> None:
    """Empty every projection (a rebuild fills them again from the records). The chain
    table is emptied too and given back the drift, which a rebuild keeps; the rest of it
    comes back through its views as the rebuild writes actions and labels."""
    for table in PROJECTIONS:
        store.command(f"TRUNCATE TABLE IF EXISTS {store.database}.{table}")
    store.command(f"TRUNCATE TABLE IF EXISTS {store.database}.{CHAIN_TABLE}")
    for statement in fill_statements(store.database, ("drift",)):
        store.command(statement)
