"""The ledger's side of tamper evidence: chain heads, chained rows and digests, read and
written (``kernel.evidence`` says what the hashes are; ``processors.evidence`` makes them).

A record's hash is computed by the ledger itself when a check reads the chain
(``RECORD_HASH_SQL``): the check reads about 200 bytes a record, not the records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kernel.evidence import RECORD_FIELDS
from ledger.rows import Row
from ledger.store import LedgerStore


def _record_hash_sql() -> str:
    parts = []
    for name in RECORD_FIELDS:
        text = f"toString({name})"
        parts.append(f"toString(lengthUTF8({text})), ':', {text}")
    return f"lower(hex(SHA256(concat({', '.join(parts)}))))"


# ``kernel.evidence.record_hash`` of a ``raw_events`` row, as hex, in the ledger's SQL.
RECORD_HASH_SQL = _record_hash_sql()


def chain_heads(store: LedgerStore, streams: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Each stream's last position in the ledger and its chain hash (streams with none left
    out)."""
    if not streams:
        return {}
    rows = store.query_rows(
        "SELECT chain_stream AS stream, max(chain_seq) AS seq, "
        "argMax(chain_hash, chain_seq) AS head "
        f"FROM {store.database}.raw_events WHERE chain_stream IN {{s:Array(String)}} "
        "GROUP BY chain_stream",
        {"s": list(streams)},
    )
    return {row["stream"]: (int(row["seq"]), row["head"]) for row in rows}


def chain_hashes_after(store: LedgerStore, stream: str, after: int) -> list[tuple[int, str]]:
    """The positions of ``stream`` after ``after`` and their chain hashes, in order."""
    rows = store.query_rows(
        f"SELECT chain_seq AS seq, chain_hash AS hash FROM {store.database}.raw_events FINAL "
        "WHERE chain_stream = {s:String} AND chain_seq > {a:UInt64} ORDER BY chain_seq",
        {"s": stream, "a": after},
    )
    return [(int(row["seq"]), row["hash"]) for row in rows]


def last_digests(store: LedgerStore, streams: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each stream's newest digest (``digest_id``, ``last_seq``, ``head``), if it has one."""
    if not streams:
        return {}
    rows = store.query_rows(
        "SELECT stream, argMax(digest_id, last_seq) AS id, max(last_seq) AS last, "
        f"argMax(head, last_seq) AS last_head FROM {store.database}.evidence_digests FINAL "
        "WHERE stream IN {s:Array(String)} GROUP BY stream",
        {"s": list(streams)},
    )
    return {
        row["stream"]: {
            "digest_id": row["id"],
            "last_seq": int(row["last"]),
            "head": row["last_head"],
        }
        for row in rows
    }


def insert_digests(store: LedgerStore, rows: Iterable[Row]) -> None:
    store.insert_rows("evidence_digests", list(rows))


# -- what a check reads ------------------------------------------------------------------------
def digests(store: LedgerStore) -> list[dict[str, Any]]:
    """Every digest, by stream and position."""
    return store.query_rows(
        "SELECT stream, first_seq, last_seq, digest_id, made_at, kid, body, signature "
        f"FROM {store.database}.evidence_digests FINAL ORDER BY stream, first_seq"
    )


def chained_streams(store: LedgerStore) -> list[str]:
    rows = store.query_rows(
        f"SELECT DISTINCT chain_stream AS s FROM {store.database}.raw_events "
        "WHERE chain_stream != '' ORDER BY s"
    )
    return [row["s"] for row in rows]


def chained_rows(store: LedgerStore, stream: str, first_seq: int) -> list[dict[str, Any]]:
    """The rows of ``stream`` from position ``first_seq`` on, as the ledger holds them now:
    position, event id, stored chain hashes and the record's hash computed afresh."""
    return store.query_rows(
        "SELECT chain_seq AS seq, event_id, chain_prev AS prev, chain_hash AS hash, "
        f"{RECORD_HASH_SQL} AS record FROM {store.database}.raw_events FINAL "
        "WHERE chain_stream = {s:String} AND chain_seq >= {f:UInt64} "
        "ORDER BY chain_seq, event_id",
        {"s": stream, "f": first_seq},
    )


def unchained(store: LedgerStore, limit: int = 10) -> tuple[int, int, list[str]]:
    """Rows in no chain: how many were stored before the first chained row (written before
    tamper evidence was on), how many after, and the first few of those after."""
    db = store.database
    rows = store.query_rows(
        "SELECT countIf(stored_at < first) AS before, countIf(stored_at >= first) AS after, "
        "arraySlice(groupArrayIf(event_id, stored_at >= first), 1, {n:UInt32}) AS ids "
        f"FROM {db}.raw_events FINAL "
        # With no chained row at all, every row is from before (2299: DateTime64's last year).
        "CROSS JOIN (SELECT ifNull(minOrNull(stored_at), "
        "toDateTime64('2299-12-31 00:00:00', 6, 'UTC')) AS first "
        f"FROM {db}.raw_events WHERE chain_stream != '') AS started WHERE chain_stream = ''",
        {"n": limit},
    )
    if not rows:
        return 0, 0, []
    row = rows[0]
    return int(row["before"]), int(row["after"]), list(row["ids"])
