"""The ledger's side of tamper evidence: chain heads, chained rows and digests, read and
written (``kernel.evidence`` says what the hashes are; ``processors.evidence`` makes them).

A record's hash is computed by the ledger itself when a check reads the chain
(``RECORD_HASH_SQL``): the check reads about 200 bytes a record, not the records.

A raw event the ledger refused (``processors.writes``) was chained before its write: its
place in the chain is kept by its dead letter, which holds the position, the hashes and
the fields its record hash covers. Such a stand-in counts as a position of its stream
wherever positions are read (the chain's head, the hashes a digest covers, a check's pages),
its record hash computed afresh from the fields it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from kernel.evidence import RECORD_FIELDS, record_hash
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


def _positions(db: str, where: str) -> str:
    """The chained positions of ``raw_events`` and of refused raw events' dead letters
    (stream, position, chain hash), both filtered by ``where``. Read without ``FINAL``: a
    row stored twice holds the same position and hashes, and ``FINAL`` over ``raw_events``
    would merge the whole table at every partition's take-over."""
    return (
        f"SELECT chain_stream, chain_seq, chain_hash FROM {db}.raw_events WHERE {where} "
        f"UNION ALL SELECT chain_stream, chain_seq, chain_hash FROM {db}.dead_letters "
        f"WHERE chain_stream != '' AND {where}"
    )


def chain_heads(store: LedgerStore, streams: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Each stream's last position in the ledger and its chain hash (streams with none left
    out)."""
    if not streams:
        return {}
    rows = store.query_rows(
        "SELECT chain_stream AS stream, max(chain_seq) AS seq, "
        "argMax(chain_hash, chain_seq) AS head FROM ("
        + _positions(store.database, "chain_stream IN {s:Array(String)}")
        + ") GROUP BY chain_stream",
        {"s": list(streams)},
    )
    return {row["stream"]: (int(row["seq"]), row["head"]) for row in rows}


def chain_hashes_after(store: LedgerStore, stream: str, after: int) -> list[tuple[int, str]]:
    """The positions of ``stream`` after ``after`` and their chain hashes, in order (each
    once)."""
    rows = store.query_rows(
        "SELECT DISTINCT chain_seq AS seq, chain_hash AS hash FROM ("
        + _positions(store.database, "chain_stream = {s:String} AND chain_seq > {a:UInt64}")
        + ") ORDER BY chain_seq",
        {"s": stream, "a": after},
    )
    return [(int(row["seq"]), row["hash"]) for row in rows]


def refused_links(store: LedgerStore, stream: str, first_seq: int) -> list[dict[str, Any]]:
    """The refused raw events of ``stream`` from position ``first_seq`` on, as a check reads
    a chained row (``_CHAINED``: its record hash computed afresh from the fields its dead
    letter holds), with the dead letter's id and the ledger's reason."""
    rows = store.query_rows(
        "SELECT chain_seq AS seq, chain_prev AS prev, chain_hash AS hash, chained_record, "
        f"dead_letter_id, reason FROM {store.database}.dead_letters FINAL "
        "WHERE chain_stream = {s:String} AND chain_seq >= {f:UInt64} ORDER BY chain_seq",
        {"s": stream, "f": first_seq},
    )
    links = []
    for row in rows:
        try:
            record: Any = orjson.loads(row["chained_record"])
            event_id = str(record.get("event_id", ""))
            record_hex = record_hash(record).hex()
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            event_id, record_hex = "", ""  # unreadable: its hash cannot hold
        links.append(
            {
                "seq": int(row["seq"]),
                "event_id": event_id,
                "prev": row["prev"],
                "hash": row["hash"],
                "record": record_hex,
                "dead_letter_id": row["dead_letter_id"],
                "reason": row["reason"],
            }
        )
    return links


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


# A chained row as a check reads it: position, event id, stored chain hashes, and the
# record's hash computed afresh from what the row holds now.
_CHAINED = (
    "SELECT chain_seq AS seq, event_id, chain_prev AS prev, chain_hash AS hash, "
    f"{RECORD_HASH_SQL} AS record FROM {{db}}.raw_events FINAL "
    "WHERE chain_stream = {{s:String}} AND "
)


def _chained(store: LedgerStore, where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    sql = _CHAINED.format(db=store.database) + where
    return store.query_rows(sql, params)


def chained_pages(
    store: LedgerStore, stream: str, first_seq: int, page_size: int
) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``stream`` from position ``first_seq`` on, by position then event id,
    ``page_size`` at a time (each page starts after the last row of the one before), the
    refused raw events' stand-ins (``refused_links``) in their places."""
    refused = refused_links(store, stream, first_seq)
    where = "chain_seq >= {f:UInt64}"
    params: dict[str, Any] = {"s": stream, "f": first_seq, "n": page_size}
    while True:
        rows = _chained(store, where + " ORDER BY chain_seq, event_id LIMIT {n:UInt32}", params)
        if not rows:
            if refused:
                yield refused
            return
        last = (int(rows[-1]["seq"]), rows[-1]["event_id"])
        if refused and (refused[0]["seq"], refused[0]["event_id"]) < last:
            mine = [r for r in refused if (r["seq"], r["event_id"]) < last]
            refused = refused[len(mine) :]
            rows = sorted(rows + mine, key=lambda r: (int(r["seq"]), r["event_id"]))
        yield rows
        where = "(chain_seq, event_id) > ({a:UInt64}, {i:String})"
        params.update(a=last[0], i=last[1])


def chained_with_hash(store: LedgerStore, stream: str, chain_hash: str) -> list[dict[str, Any]]:
    return _chained(
        store,
        "chain_hash = {h:String} ORDER BY chain_seq, event_id",
        {"s": stream, "h": chain_hash},
    )


def chained_after(store: LedgerStore, stream: str, chain_hash: str) -> int:
    """How many rows of ``stream`` were chained after the one whose hash is ``chain_hash``."""
    return store.count(
        "raw_events",
        "chain_stream = {s:String} AND chain_prev = {h:String}",
        {"s": stream, "h": chain_hash},
    )


def chained_between(
    store: LedgerStore, stream: str, after: tuple[int, str], before: tuple[int, str], limit: int
) -> list[dict[str, Any]]:
    return _chained(
        store,
        "(chain_seq, event_id) > ({a:UInt64}, {ai:String}) "
        "AND (chain_seq, event_id) < ({b:UInt64}, {bi:String}) "
        "ORDER BY chain_seq, event_id LIMIT {n:UInt32}",
        {"s": stream, "a": after[0], "ai": after[1], "b": before[0], "bi": before[1], "n": limit},
    )


def chained_fitting(
    store: LedgerStore, stream: str, record: str, event_id: str
) -> dict[str, Any] | None:
    """A row of ``stream`` other than ``event_id`` whose chain hash a record of hash
    ``record`` gives after that row's ``prev``: where that record was chained."""
    rows = _chained(
        store,
        "event_id != {e:String} AND "
        "chain_hash = lower(hex(SHA256(concat(unhex(chain_prev), unhex({r:String}))))) LIMIT 1",
        {"s": stream, "e": event_id, "r": record},
    )
    return rows[0] if rows else None


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
