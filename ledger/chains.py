"""``chain_by_session``: what a session's chain shows of its actions, their labels and their
drift, stored in session order, so that a chain is one contiguous read.

``actions``, ``attributions`` and ``drift`` are ordered by ``action_id``, a random id: a
session's twenty actions lie one per granule all over each table, and a chain read by id
decompresses a granule of every column it shows, per action, table and part. At ten million
actions that was most of the chain's 130 ms. This table holds the same rows again, only the
columns a chain shows, ordered by ``(session_id, action_id, part)``: a session's rows lie in
one or two granules of each part, and every part is compact (see ``COMPACT_PARTS``).

Nobody writes it. Three materialized views copy every row inserted into ``actions``,
``attributions`` and ``drift`` (whoever inserts it: the worker, a rebuild, a bulk load), as
one row each, ``part`` saying which table it came from and only that table's columns filled.
It is a ReplacingMergeTree by ``version`` like its sources, so each part of an action keeps
its latest version per session once merged; a reader takes the latest by ``argMax``
(``ledger/saved/session_chain.sql``).

It gives the same answer as reading the three tables by action id because every row of an
action names a session of the same chain: an action's own rows keep the session it was
linked to (a tool call answered later is the same row again), and its labels and drift name
the surviving session of the moment. A merge folds whole sessions together and re-points every
alias at the surviving session (``processors.linking.merge``), so all of those ids are the
chain's members: the chain's rows, read by its members, include every version of every one of
its actions.

An existing ledger gains the table, its views, and a copy of what its three tables hold, the
first time its schema is ensured (``LedgerStore.ensure_schema``).
"""

from __future__ import annotations

TABLE = "chain_by_session"
PARTS = ("actions", "attributions", "drift")

# The columns each source table gives the chain (each a column of the same name and type in
# both; ``version`` and the keys go with every one).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "actions": (
        "event_time",
        "source",
        "kind",
        "operation",
        "service",
        "resource",
        "principal",
        "agent_name",
        "agent_instance",
        "scopes",
        "outcome",
        "outcome_detail",
        "link_rule",
        "link_key_type",
        "link_key",
    ),
    "attributions": ("label", "rule", "confused_deputy"),
    "drift": ("score", "flagged", "decision"),
}
_PART_OF = {"actions": "action", "attributions": "label", "drift": "drift"}
VIEWS = tuple(f"{TABLE}_from_{source}" for source in PARTS)

_CREATE = """
    CREATE TABLE IF NOT EXISTS {db}.chain_by_session (
        session_id String,
        action_id String,
        part Enum8('action' = 1, 'label' = 2, 'drift' = 3),
        version UInt64,
        event_time DateTime64(6, 'UTC'),
        source LowCardinality(String),
        kind LowCardinality(String),
        operation String,
        service String,
        resource String,
        principal String,
        agent_name String,
        agent_instance String,
        scopes Array(String),
        outcome LowCardinality(String),
        outcome_detail String,
        link_rule LowCardinality(String),
        link_key_type LowCardinality(String),
        link_key String,
        label LowCardinality(String),
        rule LowCardinality(String),
        confused_deputy Bool,
        score Float32,
        flagged Bool,
        decision LowCardinality(String)
    ) ENGINE = ReplacingMergeTree(version) ORDER BY (session_id, action_id, part)
    SETTINGS index_granularity = 1024, {compact}
"""

# Every part compact, however large: a compact part keeps a granule's columns side by side,
# each compressed on its own, where a wide part keeps a file per column compressed in blocks
# of up to a megabyte. A chain reads one or two granules of every column from every part, so
# a wide part decompresses a block per column for a few dozen rows. At ten million actions
# (30 million rows in six parts), reading a chain took 37 ms of CPU from wide parts and 19 ms
# from compact ones, the same rows on the same machine (BENCHMARKS.md).
COMPACT_PARTS = "min_bytes_for_wide_part = 1099511627776"


def _select(database: str, source: str) -> str:
    columns = ", ".join(("session_id", "action_id", "version", *_COLUMNS[source]))
    return f"SELECT {columns}, '{_PART_OF[source]}' AS part FROM {database}.{source}"


def chain_ddl(database: str) -> list[str]:
    """The table, then one materialized view per source table feeding it (each copies the
    rows of every later insert into its source)."""
    statements = [
        " ".join(_CREATE.split()).format(db=database, compact=COMPACT_PARTS),
        # A table created before the setting: its new parts, and each merge's, are compact.
        f"ALTER TABLE {database}.{TABLE} MODIFY SETTING {COMPACT_PARTS}",
    ]
    statements += [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{view} "
        f"TO {database}.{TABLE} AS {_select(database, source)}"
        for source, view in zip(PARTS, VIEWS, strict=True)
    ]
    return statements


def fill_statements(database: str, sources: tuple[str, ...] = PARTS) -> list[str]:
    """Copy what ``sources`` hold now into the chain table: for a ledger created before the
    table, and for the drift a rebuild keeps after emptying the table. A row copied twice
    (inserted while this runs, so also copied by its view) is the same row and version
    again, which a reader and a merge take once."""
    columns = ("session_id", "action_id", "version")
    return [
        f"INSERT INTO {database}.{TABLE} ({', '.join((*columns, *_COLUMNS[s], 'part'))}) "
        f"{_select(database, s)}"
        for s in sources
    ]
