"""Contractions as the ledger keeps them: what analysts list, and what a restarted worker
reads back of the sessions it narrowed or ended."""

from __future__ import annotations

from typing import Any

from ledger.queries import session_members
from ledger.store import LedgerStore


def recent_contractions(store: LedgerStore, since: str) -> list[dict[str, Any]]:
    """Contractions decided at or after ``since`` (``DateTime64`` text), oldest first: what a
    restarted worker must know of the sessions it has narrowed or ended."""
    return store.query_rows(
        "SELECT contraction_id, session_id, decision, removed_tools, removed_scopes, decided_at "
        f"FROM {store.database}.contractions FINAL "
        "WHERE decided_at >= {since:DateTime64(6, 'UTC')} ORDER BY decided_at, contraction_id",
        {"since": since},
    )


def list_contractions(
    store: LedgerStore, *, session_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Contractions, newest first; of one session (with its merged ones) when given."""
    db = store.database
    where = "1"
    params: dict[str, Any] = {"limit": limit}
    if session_id is not None:
        where = "session_id IN {ids:Array(String)}"
        params["ids"] = session_members(store, session_id)
    rows = store.query_rows(
        f"SELECT * FROM {db}.contractions FINAL WHERE {where} "
        "ORDER BY decided_at DESC, contraction_id LIMIT {limit:UInt32}",
        params,
    )
    for row in rows:
        row["score"] = round(float(row["score"]), 4)
    return rows
