"""The ledger store: one interface, two backends (chDB in-process, ClickHouse over HTTP).

Both speak SQL with ``{name:Type}`` parameters and take inserts as Arrow columns typed from
the ledger's schema (``ledger.columns``), or as JSON Lines where rows do not fit those, so
the same row-building code and the same contract tests serve both.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from kernel.errors import RefusedError, StoreError
from ledger.chains import TABLE as CHAIN_TABLE
from ledger.chains import fill_statements
from ledger.event_keys import TABLE as KEYS_TABLE
from ledger.event_keys import fill_statement as fill_keys
from ledger.event_keys import lookup_literals, lookup_with_parameters
from ledger.schema import ddl, merge_settings

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Ids that need no quoting inside a SQL string literal, one a line (``existing_event_ids``).
_PLAIN_IDS = re.compile(r"[A-Za-z0-9_.:\n-]*")
_LITERALS_MAX = 200_000  # characters of ids in one statement
_ERROR_CODE = re.compile(r"Code:\s*(\d+)\.")
_ERROR_NAME = re.compile(r"\(([A-Z][A-Z0-9_]*)\)")
# The engine's errors that judge the data sent, not the ledger's state: the same rows sent
# again are refused again. Anything else (no answer, a timeout, TOO_MANY_PARTS,
# MEMORY_LIMIT_EXCEEDED, a 5xx without one of these, an unknown table) is an outage or the
# ledger's own trouble, and waits for the ledger instead: dead-lettering rows over it would
# throw away good records.
REFUSALS = frozenset(
    {
        "VIOLATED_CONSTRAINT",  # 469
        "TYPE_MISMATCH",  # 53
        "INCORRECT_DATA",  # 117
        "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",  # 321
        "ARGUMENT_OUT_OF_BOUND",  # 69
        "CANNOT_CONVERT_TYPE",  # 70
        "TOO_LARGE_STRING_SIZE",  # 131
        "TOO_LARGE_ARRAY_SIZE",  # 128
        "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",  # 349
        "DECIMAL_OVERFLOW",  # 407
        "CANNOT_READ_ARRAY_FROM_TEXT",  # 130
    }
)
REFUSAL_PREFIXES = ("CANNOT_PARSE_",)  # CANNOT_PARSE_TEXT (6), _DATETIME (41), _NUMBER (72)…


def is_refusal(name: str | None) -> bool:
    """Whether an engine error of this name refuses the data itself (``REFUSALS``)."""
    return bool(name) and (name in REFUSALS or str(name).startswith(REFUSAL_PREFIXES))


def store_error(message: str) -> StoreError:
    """A ``StoreError`` carrying ClickHouse's error code and name where the text has them;
    a ``RefusedError`` when that error refuses the data itself (``is_refusal``).

    The name is the message's *last* parenthesised capitals: earlier ones may be SQL the
    engine quotes back (``failed at position 1 (SELECT)``).
    """
    code = _ERROR_CODE.search(message)
    names = _ERROR_NAME.findall(message, code.end()) if code else []
    if code and names:
        kind = RefusedError if is_refusal(names[-1]) else StoreError
        return kind(message.strip(), code=int(code.group(1)), name=names[-1])
    return StoreError(message.strip())


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def param_text(value: Any) -> str:
    """A query parameter in ClickHouse's text form, as the HTTP interface takes ``param_*``."""
    if isinstance(value, list | tuple):
        return (
            "[" + ",".join(_quote(v) if isinstance(v, str) else param_text(v) for v in value) + "]"
        )
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def json_lines(rows: Iterable[Mapping[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(row) for row in rows)


class LedgerStore(ABC):
    """What processors and commands need from the ledger."""

    def __init__(self, database: str) -> None:
        if not _IDENTIFIER.match(database):
            raise StoreError(f"invalid database name {database!r}")
        self.database = database

    # -- backend primitives ------------------------------------------------------------
    @abstractmethod
    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, OPTIMIZE)."""

    @abstractmethod
    def query_rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts; ``params`` fill ``{name:Type}`` placeholders."""

    @abstractmethod
    def query_arrow_stream(self, sql: str, params: Mapping[str, Any] | None = None) -> bytes:
        """A SELECT's result as Arrow stream bytes (``FORMAT ArrowStream``)."""

    @abstractmethod
    def insert_json(self, table: str, body: bytes) -> None:
        """Insert JSON Lines into ``table`` of this store's database."""

    @abstractmethod
    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Insert an Arrow table (its columns, by name) into ``table`` of this database."""

    def close(self) -> None:  # noqa: B027 (optional for backends)
        """Release the backend."""

    # -- shared behaviour ----------------------------------------------------------------
    def ensure_schema(self) -> None:
        # A ledger created before the chain table or the event keys gains them, with what
        # its tables hold.
        fill_chain = not self.has_table(CHAIN_TABLE)
        fill_event_keys = not self.has_table(KEYS_TABLE)
        for statement in ddl(self.database):
            self.command(statement)
        for statement in merge_settings(self.database, self.knows_setting("merge_selector_base")):
            self.command(statement)
        if fill_chain:
            for statement in fill_statements(self.database):
                self.command(statement)
        if fill_event_keys:
            # One pass over two of raw_events' columns: 3 s at five million events (chDB,
            # two cores).
            log.info("copying the event keys of %s.raw_events into %s", self.database, KEYS_TABLE)
            self.command(fill_keys(self.database))

    def knows_setting(self, name: str) -> bool:
        """Whether the engine has the MergeTree table setting ``name``."""
        rows = self.query_rows(
            "SELECT count() AS n FROM system.merge_tree_settings WHERE name = {name:String}",
            {"name": name},
        )
        return bool(int(rows[0]["n"]))

    def has_table(self, table: str) -> bool:
        rows = self.query_rows(
            "SELECT count() AS n FROM system.tables WHERE database = {db:String} "
            "AND name = {table:String}",
            {"db": self.database, "table": table},
        )
        return bool(int(rows[0]["n"]))

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` as Arrow columns: no text for the engine to parse, and nothing
        encoded per row here. Rows that do not fit the table's types go as JSON Lines."""
        if not rows:
            return
        from ledger.columns import arrow_table  # pyarrow: only where rows are written

        data = arrow_table(table, rows)
        if data is None:
            self.insert_json(table, json_lines(rows))
        else:
            self.insert_arrow(table, data)

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table | None:
        """A SELECT's result as Arrow columns, as the engine types them (``String`` may come
        as binary); ``None`` when it has no rows."""
        data = self.query_arrow_stream(sql, params)
        if not data:
            return None
        import pyarrow as pa

        table = pa.ipc.open_stream(data).read_all()
        return table if table.num_rows else None

    def existing_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` the ledger already holds (replays add nothing)."""
        if not event_ids:
            return set()
        listed = "\n".join(event_ids)
        longest = max(map(len, event_ids))
        plain = _PLAIN_IDS.fullmatch(listed) and listed.count("\n") == len(event_ids) - 1
        if plain and longest <= 1_000:
            # The ledger's own ids (hex digests) as literals: a client binds an array
            # parameter one character at a time in Python (about 6 µs an id). A statement
            # stays under the engine's ``max_query_size`` (256 KiB).
            per_query = _LITERALS_MAX // (longest + 3)
            found: set[str] = set()
            for start in range(0, len(event_ids), per_query):
                literals = "','".join(event_ids[start : start + per_query])
                rows = self.query_rows(
                    f"SELECT event_id FROM {self.database}.raw_events "
                    f"WHERE event_id IN ('{literals}')"
                )
                found.update(r["event_id"] for r in rows)
            return found
        rows = self.query_rows(
            f"SELECT event_id FROM {self.database}.raw_events "
            "WHERE event_id IN {ids:Array(String)}",
            {"ids": list(event_ids)},
        )
        return {r["event_id"] for r in rows}

    def held_events(self, keys: Sequence[tuple[str, int]]) -> set[str]:
        """Which of the events ``keys`` (id, event time in µs since the epoch) the ledger
        already holds, asked of ``event_keys`` (ordered by time first: a batch of recent
        events reads the granules of its minutes, however large the ledger). The same answer
        as ``existing_event_ids`` for events of the times given: an event's id hashes its
        record, which holds its time."""
        if not keys:
            return set()
        listed = "\n".join(i for i, _ in keys)
        longest = max(len(i) for i, _ in keys)
        plain = _PLAIN_IDS.fullmatch(listed) and listed.count("\n") == len(keys) - 1
        if plain and longest <= 1_000:
            # As ``existing_event_ids``, written into the statement: each key at most 24
            # characters of time and escaped separators beside its id.
            per_query = _LITERALS_MAX // (longest + 24)
            found: set[str] = set()
            for start in range(0, len(keys), per_query):
                sql = lookup_literals(self.database, keys[start : start + per_query])
                found.update(r["event_id"] for r in self.query_rows(sql))
            return found
        rows = self.query_rows(
            lookup_with_parameters(self.database),
            {"times": [t for _, t in keys], "ids": [i for i, _ in keys]},
        )
        return {r["event_id"] for r in rows}

    def existing_dead_letter_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` the ledger's ``dead_letters`` already holds."""
        if not ids:
            return set()
        rows = self.query_rows(
            f"SELECT dead_letter_id FROM {self.database}.dead_letters "
            "WHERE dead_letter_id IN {ids:Array(String)}",
            {"ids": list(ids)},
        )
        return {r["dead_letter_id"] for r in rows}

    def count(self, table: str, where: str = "1", params: Mapping[str, Any] | None = None) -> int:
        if not _IDENTIFIER.match(table):
            raise StoreError(f"invalid table name {table!r}")
        rows = self.query_rows(
            f"SELECT count() AS n FROM {self.database}.{table} FINAL WHERE {where}",
            params,
        )
        return int(rows[0]["n"])

    def __enter__(self) -> LedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
