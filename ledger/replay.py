"""The ledger's records read back in the order they are replayed: declarations, then
``raw_events`` in time order, page by page."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from kernel import events as ev
from ledger.store import LedgerStore

# Before any event time the ledger can hold: where a replay of raw_events starts.
_START = ("1900-01-01 00:00:00.000000", "")


def recorded_declarations(store: LedgerStore) -> list[str]:
    """Every declaration the ledger keeps (its JSON text), oldest first."""
    rows = store.query_rows(
        f"SELECT declaration FROM {store.database}.declarations FINAL "
        "ORDER BY declared_at, session_id"
    )
    return [row["declaration"] for row in rows]


def raw_event_pages(store: LedgerStore, page_size: int) -> Iterator[list[dict[str, Any]]]:
    """``raw_events`` rows by ``(event_time, event_id)``, ``page_size`` at a time.

    Each page starts after the last row of the one before (a key, not an offset).
    """
    after_time, after_id = _START
    while True:
        rows = store.query_rows(
            f"SELECT * FROM {store.database}.raw_events FINAL "
            "WHERE (event_time, event_id) > ({t:DateTime64(6, 'UTC')}, {i:String}) "
            "ORDER BY event_time, event_id LIMIT {n:UInt32}",
            {"t": after_time, "i": after_id, "n": page_size},
        )
        if not rows:
            return
        yield rows
        after_time, after_id = rows[-1]["event_time"], rows[-1]["event_id"]


# The kinds of record a session's drift context is made of: calls and what answered them.
TRAIL_KINDS = (ev.TOOL_CALL, ev.TOOL_RESULT, ev.API_CALL)


def newest_raw_events(
    store: LedgerStore, since: str, kinds: Collection[str], limit: int
) -> list[dict[str, Any]]:
    """The newest ``limit`` ``raw_events`` rows of ``kinds`` at or after ``since``
    (``DateTime64`` text), oldest first: what a restarted worker parses again."""
    rows = store.query_rows(
        f"SELECT * FROM {store.database}.raw_events FINAL "
        "WHERE event_time >= {since:DateTime64(6, 'UTC')} AND kind IN {kinds:Array(String)} "
        "ORDER BY event_time DESC, event_id DESC LIMIT {n:UInt32}",
        {"since": since, "kinds": list(kinds), "n": limit},
    )
    rows.reverse()
    return rows


def recent_trail_events(store: LedgerStore, since: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` calls and results at or after ``since`` (``DateTime64`` text),
    oldest first, each ``raw_events`` row with the ``access`` its action was labelled with
    (empty for a result): what a restarted worker feeds its sessions' trails with."""
    db = store.database
    rows = newest_raw_events(store, since, TRAIL_KINDS, limit)
    calls = [row["event_id"] for row in rows if row["kind"] != ev.TOOL_RESULT]
    access: dict[str, str] = {}
    if calls:
        for row in store.query_rows(
            f"SELECT action_id, access FROM {db}.actions FINAL "
            "WHERE action_id IN {ids:Array(String)}",
            {"ids": calls},
        ):
            access[row["action_id"]] = row["access"]
    for row in rows:
        row["access"] = access.get(row["event_id"], "")
    return rows
