"""The ledger read for export: every action of a time range, oldest first, page by page,
each with its label and drift (``queries.action_record``), the source record it came from,
and the credential it granted when it was a token grant."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ledger.queries import action_records, labelled
from ledger.store import LedgerStore

# Before and after any event time the ledger can hold: an open end of the range.
_EARLIEST = "1900-01-01 00:00:00.000000"
_LATEST = "2299-12-31 23:59:59.999999"


@dataclass(slots=True)
class ExportedAction:
    """One action as analysts read it, the ``raw_events`` row it came from (``None`` if the
    ledger holds none: raw events are written last), its ``credentials`` row (grants), and
    the agent its session names (an MCP call often names only the agent's instance)."""

    action: dict[str, Any]
    raw: dict[str, Any] | None
    credential: dict[str, Any] | None
    session: dict[str, Any] | None


def exported_actions(
    store: LedgerStore,
    *,
    since: str | None = None,
    until: str | None = None,
    page_size: int = 5_000,
) -> Iterator[list[ExportedAction]]:
    """Actions with ``since <= event_time < until`` (``DateTime64(6, 'UTC')`` text; either
    end open when ``None``), by ``(event_time, action_id)``, ``page_size`` at a time. Each
    page starts after the last row of the one before (a key, not an offset), so a ledger
    being written to while it is read neither skips nor repeats an action already passed."""
    db = store.database
    after_time, after_id = _EARLIEST, ""
    bounds = {"since": since or _EARLIEST, "until": until or _LATEST}
    where = (
        "event_time >= {since:DateTime64(6, 'UTC')} AND event_time < {until:DateTime64(6, 'UTC')}"
        " AND (event_time, action_id) > ({t:DateTime64(6, 'UTC')}, {i:String})"
    )
    while True:
        rows = store.query_rows(
            labelled(db, where) + " ORDER BY a.event_time, a.action_id LIMIT {n:UInt32}",
            {**bounds, "t": after_time, "i": after_id, "n": page_size},
        )
        if not rows:
            return
        records = action_records(store, rows)
        ids = [record["action_id"] for record in records]
        raws = _by_id(
            store.query_rows(
                "SELECT event_id, source, kind, event_time, position, raw "
                f"FROM {db}.raw_events FINAL WHERE event_id IN {{ids:Array(String)}}",
                {"ids": ids},
            ),
            "event_id",
        )
        grants = _by_id(
            store.query_rows(
                "SELECT credential_id, kind, issued_at, expires_at, event_id "
                f"FROM {db}.credentials FINAL WHERE event_id IN {{ids:Array(String)}}",
                {"ids": ids},
            ),
            "event_id",
        )
        sessions = _by_id(
            store.query_rows(
                "SELECT session_id, agent_name, agent_version, agent_instance "
                f"FROM {db}.sessions FINAL WHERE session_id IN {{ids:Array(String)}}",
                {"ids": sorted({r["session"]["session_id"] for r in records})},
            ),
            "session_id",
        )
        yield [
            ExportedAction(
                record,
                raws.get(record["action_id"]),
                grants.get(record["action_id"]),
                sessions.get(record["session"]["session_id"]),
            )
            for record in records
        ]
        after_time, after_id = rows[-1]["event_time"], rows[-1]["action_id"]


def _by_id(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}
