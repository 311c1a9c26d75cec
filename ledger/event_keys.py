"""``event_keys``: every raw event's id under its event time, so that the worker's question
"which of this batch's events does the ledger hold?" reads a few granules however large the
ledger grows.

``raw_events`` is ordered by ``event_id``, a hash: a batch's ids fall one in every granule,
so asking for 2,500 of them reads the table's whole ``event_id`` column. In one merged part
that took 21 ms at 100,000 events, 35 ms at a million and about 250 ms at five million, on
every batch (BENCHMARKS.md). Here the same ids are ordered by ``(event_time, event_id)``. An
event's id hashes its record, so a replay carries its original's time: the batch asks for its
``(time, id)`` pairs, and a batch of recent events (or of a file replayed, which runs in time
order) touches only the granules of its own minutes: about 10 ms at 100,000 events, a
million and five million alike. The one exception is an event whose time is not its
record's but the moment ingest saw it (a bare MCP message, which carries none): replayed, it
bears another time, so the worker asks for those by id (``processors.sink_parts.observed_ids``).

Nobody writes it. A materialized view copies the two columns of every row inserted into
``raw_events`` (whoever inserts it: the worker, a bulk load). Like its source it is a
ReplacingMergeTree, so a row copied twice is kept once when merged, and a reader asks only
whether an id is there. An existing ledger gains the table, its view, and a copy of what
``raw_events`` holds, the first time its schema is ensured (``LedgerStore.ensure_schema``).
"""

from __future__ import annotations

from collections.abc import Sequence

TABLE = "event_keys"
VIEW = f"{TABLE}_from_raw_events"

_CREATE = """
    CREATE TABLE IF NOT EXISTS {db}.event_keys (
        event_time DateTime64(6, 'UTC'),
        event_id String
    ) ENGINE = ReplacingMergeTree ORDER BY (event_time, event_id)
"""
_COLUMNS = "event_time, event_id"


def keys_ddl(database: str) -> list[str]:
    """The table, then the view that fills it from ``raw_events`` (which must exist)."""
    return [
        " ".join(_CREATE.split()).format(db=database),
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{VIEW} TO {database}.{TABLE} "
        f"AS SELECT {_COLUMNS} FROM {database}.raw_events",
    ]


def fill_statement(database: str) -> str:
    """Copy the keys of what ``raw_events`` holds now: for a ledger created before the table.
    A row copied twice (inserted while this runs, so also copied by the view) is the same
    key again, which a reader takes once."""
    return (
        f"INSERT INTO {database}.{TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM {database}.raw_events"
    )


def lookup_literals(database: str, keys: Sequence[tuple[str, int]]) -> str:
    """The statement asking which of ``keys`` (id, event time in µs since the epoch) are held,
    the keys written into it as tab-separated text (the caller makes sure the ids need no
    quoting or escaping). The engine reads that text in one pass, where it parses literals
    one by one: 2,500 keys as two literal arrays took 21 ms against an empty table, 6 ms as
    text (22 and 8 ms against a million keys)."""
    text = "\\n".join(f"{t}\\t{i}" for i, t in keys)
    asked = (
        "SELECT fromUnixTimestamp64Micro(t, 'UTC'), i "
        f"FROM format(TSV, 't Int64, i String', '{text}')"
    )
    return f"SELECT event_id FROM {database}.{TABLE} WHERE (event_time, event_id) IN ({asked})"


def lookup_with_parameters(database: str) -> str:
    """The same, the keys bound as the parameters ``times`` and ``ids`` (for ids that would
    need quoting)."""
    asked = (
        "SELECT fromUnixTimestamp64Micro(k.1, 'UTC'), k.2 "
        "FROM (SELECT arrayJoin(arrayZip({times:Array(Int64)}, {ids:Array(String)})) AS k)"
    )
    return f"SELECT event_id FROM {database}.{TABLE} WHERE (event_time, event_id) IN ({asked})"
