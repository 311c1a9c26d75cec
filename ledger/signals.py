"""The Shared Signals outbox in the ledger (``ssf_sets``): each SET as signed, per receiver
stream, and its delivery state; what the transmitter reads back when it starts again.

A row is replaced by a later ``version`` of itself (a state change); reads use ``FINAL``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from ledger.store import LedgerStore

TABLE: Final = "ssf_sets"
PENDING: Final = "pending"  # not yet delivered (push) or not yet acknowledged (poll)
DELIVERED: Final = "delivered"  # a push receiver answered 202
ACKED: Final = "acked"  # a poll receiver acknowledged it
FAILED: Final = "failed"  # refused for good (push 400, retries spent, or a poll setErr)
STATES: Final = (PENDING, DELIVERED, ACKED, FAILED)

_version_lock = threading.Lock()
_last_version = 0


def next_version() -> int:
    """Strictly increasing within this process, so a state change always wins its merge."""
    global _last_version
    with _version_lock:
        _last_version = max(_last_version + 1, time.time_ns())
        return _last_version


def known_contractions(store: LedgerStore, stream: str, contraction_ids: Sequence[str]) -> set[str]:
    """Which of ``contraction_ids`` already have a SET on ``stream`` (a replay adds none)."""
    if not contraction_ids:
        return set()
    rows = store.query_rows(
        f"SELECT contraction_id FROM {store.database}.{TABLE} "
        "WHERE stream = {stream:String} AND contraction_id IN {ids:Array(String)}",
        {"stream": stream, "ids": list(contraction_ids)},
    )
    return {r["contraction_id"] for r in rows}


def write_row(row: Mapping[str, Any], version: int) -> dict[str, Any]:
    return {**row, "version": version}


def write_sets(store: LedgerStore, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert (or, with a higher ``version``, replace) outbox rows."""
    store.insert_rows(TABLE, [write_row(r, next_version()) for r in rows])


def open_sets(store: LedgerStore) -> list[dict[str, Any]]:
    """Every SET still waiting for delivery or acknowledgement, oldest first."""
    return store.query_rows(
        "SELECT stream, contraction_id, jti, session_id, delivery, token, state, attempts, "
        f"last_error, created_at FROM {store.database}.{TABLE} FINAL "
        "WHERE state = {state:String} ORDER BY created_at, jti",
        {"state": PENDING},
    )


def set_rows(store: LedgerStore, stream: str | None = None) -> list[dict[str, Any]]:
    """The outbox as it stands (every state), oldest first; one stream's when named."""
    where, params = ("WHERE stream = {stream:String}", {"stream": stream}) if stream else ("", {})
    return store.query_rows(
        "SELECT stream, contraction_id, jti, session_id, delivery, state, attempts, last_error, "
        f"created_at, updated_at FROM {store.database}.{TABLE} FINAL {where} "
        "ORDER BY created_at, jti",
        params,
    )


def state_counts(store: LedgerStore) -> dict[str, dict[str, int]]:
    """Per stream, how many SETs are in each state."""
    rows = store.query_rows(
        f"SELECT stream, state, count() AS n FROM {store.database}.{TABLE} FINAL "
        "GROUP BY stream, state ORDER BY stream, state"
    )
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["stream"], {})[row["state"]] = int(row["n"])
    return counts
