"""The embedded backend: chDB, the ClickHouse engine in this process, data on disk.

Only one process may open a chDB data path; that process also serves the HTTP interface
(``ledger.http_front``) through which every other process reaches the same ledger.

Two connections share the data path: the session the ledger writes through, and a
``readonly = 1`` connection for analysts (``run_readonly``), on which the engine itself
refuses writes, DDL and settings changes whatever the statement's text.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from kernel.errors import StoreError
from ledger.store import LedgerStore, param_text, store_error

if TYPE_CHECKING:
    import pyarrow as pa

ANALYST_MAX_EXECUTION_S = 60
# Databases the engine brings along; never one of the ledger's.
ENGINE_DATABASES = frozenset({"system", "information_schema", "INFORMATION_SCHEMA"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _texts(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    return {k: v if isinstance(v, str) else param_text(v) for k, v in params.items()}


def spool(directory: Path, write: Callable[[str], None], suffix: str = ".insert") -> Path:
    """A new file in ``directory`` that ``write`` fills (given its name), for the engine to
    read with ``FROM INFILE``: it parses a file several times faster than insert data
    inlined in the statement's text, and binary formats cannot be inlined at all."""
    fd, name = tempfile.mkstemp(dir=directory, suffix=suffix)
    os.close(fd)
    try:
        write(name)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def infile(path: Path) -> str:
    """``path`` as the string literal of ``FROM INFILE``."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def checked_database(database: str) -> str:
    """``database`` quoted for ``USE``, once it is a plain name (nothing else is spliced)."""
    if not _IDENTIFIER.match(database):
        raise StoreError("the database must be a plain name", code=36, name="BAD_ARGUMENTS")
    return f"`{database}`"


# Insert data lives for one insert: in memory where the system offers a place for files.
# On a disk's file system the kernel's work for each file (made, written, deleted: one per
# table per write) showed in the ledger's profile (BENCHMARKS.md). ``mkdtemp`` makes the
# directory there private (0700) and its name unguessable.
_MEMORY_FILES = Path("/dev/shm")  # noqa: S108


def private_spool_dir() -> Path:
    """A new private directory for insert data (in ``/dev/shm`` where it is writable, else
    the temporary directory), removed when the process exits (a process that never closes
    its store, as a test's, would otherwise leave one behind each run)."""
    in_memory = _MEMORY_FILES.is_dir() and os.access(_MEMORY_FILES, os.W_OK | os.X_OK)
    path = Path(
        tempfile.mkdtemp(prefix="agentledger-spool-", dir=_MEMORY_FILES if in_memory else None)
    )
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


class Turns:
    """The engine's turns: one statement at a time (chDB runs one query at a time, whichever
    connection, and the HTTP front calls from threads), and of those waiting, a question
    before an insert. A worker asks which of its next batch's events the ledger holds while
    its last batch's write, an insert a table, is under way: with plain turns the question
    could wait out every insert of that write, with these it waits out one at most. An
    insert waiting lets at most ``questions_ahead`` questions go first, so a stream of
    questions (a dashboard's) cannot hold the writes back."""

    def __init__(self, questions_ahead: int = 8) -> None:
        self.questions_ahead = questions_ahead
        self._changed = threading.Condition(threading.Lock())
        self._busy = False
        self._questions = 0  # waiting
        self._inserts = 0  # waiting
        self._ahead = 0  # questions that went while an insert waited

    @contextmanager
    def turn(self, insert: bool = False) -> Iterator[None]:
        with self._changed:
            if insert:
                self._inserts += 1
            else:
                self._questions += 1
            try:
                while self._busy or not self._goes(insert):
                    self._changed.wait()
            finally:
                if insert:
                    self._inserts -= 1
                else:
                    self._questions -= 1
            self._busy = True
            if insert:
                self._ahead = 0
            elif self._inserts:
                self._ahead += 1
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()

    def _goes(self, insert: bool) -> bool:
        """Whether a statement waiting may take the free turn: an insert once no question
        waits or ``questions_ahead`` went first, a question until then."""
        inserts_first = self._ahead >= self.questions_ahead
        if insert:
            return not self._questions or inserts_first
        return not (self._inserts and inserts_first)

    @property
    def waiting(self) -> tuple[int, int]:
        """Questions and inserts waiting for a turn."""
        with self._changed:
            return self._questions, self._inserts


def is_insert(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "INSERT"


@dataclass(slots=True)
class _Connection:
    handle: Any
    current_db: str = "default"  # USE is per connection


class _Engine:
    """The open data path, shared by every view of it (one chDB path per process)."""

    def __init__(self, path: Path, session: Any) -> None:
        self.path = path
        self.writer = _Connection(session)
        self.turns = Turns()
        self.readonly: _Connection | None = None  # opened on the first analyst query
        self._spool_dir: Path | None = None

    def spool_dir(self) -> Path:
        """A private directory for insert data on its way to the engine (made on first use,
        removed with the engine)."""
        if self._spool_dir is None:
            self._spool_dir = private_spool_dir()
        return self._spool_dir

    def remove_spool(self) -> None:
        if self._spool_dir is not None:
            shutil.rmtree(self._spool_dir, ignore_errors=True)
            self._spool_dir = None

    def readonly_connection(self) -> _Connection:
        if self.readonly is None:
            import chdb

            # readonly=1, not mode=ro (readonly=2, which still allows table functions). The
            # time limit is the engine's too: chDB runs one query at a time, so one endless
            # analyst query would otherwise stall every writer.
            self.readonly = _Connection(
                chdb.connect(f"{self.path}?readonly=1&max_execution_time={ANALYST_MAX_EXECUTION_S}")
            )
        return self.readonly

    def writer_connection(self) -> _Connection:
        return self.writer


class ChdbStore(LedgerStore):
    def __init__(self, path: Path, database: str = "agentledger") -> None:
        super().__init__(database)
        from chdb import session as chdb_session  # heavy import, only where chDB is used

        path.mkdir(parents=True, exist_ok=True)
        try:
            session = chdb_session.Session(str(path))
        except Exception as exc:
            raise StoreError(
                f"cannot open the chDB ledger at {path}: {exc} "
                "(is another agentledger process using this data directory?)"
            ) from exc
        self.path = path
        self._engine = _Engine(path, session)
        self._owner = True

    def with_database(self, database: str) -> ChdbStore:
        """The same open ledger, another database (one chDB path per process)."""
        view = object.__new__(ChdbStore)
        LedgerStore.__init__(view, database)
        view.path, view._engine, view._owner = self.path, self._engine, False
        return view

    def _query(
        self,
        connection: Callable[[], _Connection],
        sql: str,
        fmt: str,
        params: Mapping[str, Any] | None,
        database: str | None,
    ) -> bytes:
        use = checked_database(database) if database is not None else None
        with self._engine.turns.turn(insert=is_insert(sql)):
            try:
                conn = connection()
                if use is not None and database != conn.current_db:
                    conn.handle.query(f"USE {use}", "TabSeparated")
                    conn.current_db = str(database)
                result = conn.handle.query(sql, fmt, params=_texts(params))
                data: bytes = result.bytes() if result is not None else b""
            except Exception as exc:
                raise store_error(str(exc)) from exc
        return data

    def run(
        self,
        sql: str,
        fmt: str = "JSONEachRow",
        params: Mapping[str, Any] | None = None,
        *,
        database: str | None = None,
    ) -> bytes:
        """Run any statement and return its output bytes in ``fmt`` (a FORMAT clause wins)."""
        return self._query(self._engine.writer_connection, sql, fmt, params, database)

    def run_readonly(
        self,
        sql: str,
        fmt: str = "JSONEachRow",
        params: Mapping[str, Any] | None = None,
        *,
        database: str | None = None,
    ) -> bytes:
        """Run ``sql`` on the ``readonly = 1`` connection; ``database`` becomes its current
        database (kept until another is given: analysts cannot run ``USE`` themselves)."""
        return self._query(self._engine.readonly_connection, sql, fmt, params, database)

    def ledger_databases(self) -> set[str]:
        """The databases that exist in the engine, less the engine's own."""
        rows = self.run_readonly("SELECT name FROM system.databases", "JSONEachRow")
        names = {str(orjson.loads(line)["name"]) for line in rows.splitlines() if line}
        return names - ENGINE_DATABASES

    def command(self, sql: str) -> None:
        self.run(sql, "TabSeparated")

    def query_rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        data = self.run(sql, "JSONEachRow", params)
        return [orjson.loads(line) for line in data.splitlines() if line]

    def query_arrow_stream(self, sql: str, params: Mapping[str, Any] | None = None) -> bytes:
        return self.run(sql, "ArrowStream", params)

    def insert_json(self, table: str, body: bytes) -> None:
        sql = f"INSERT INTO {self.database}.{table} FORMAT JSONEachRow\n"
        self.run(sql + body.decode(), "TabSeparated")

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        import pyarrow as pa

        if not all(_IDENTIFIER.match(name) for name in data.column_names):
            raise StoreError(f"invalid column names for {table}: {data.column_names}")

        def write(name: str) -> None:
            with pa.OSFile(name, "wb") as sink, pa.ipc.new_stream(sink, data.schema) as writer:
                writer.write_table(data)

        path = spool(self._engine.spool_dir(), write, ".arrows")
        columns = ", ".join(f"`{name}`" for name in data.column_names)
        try:
            self.run(
                f"INSERT INTO {self.database}.{table} ({columns}) "
                f"FROM INFILE {infile(path)} FORMAT ArrowStream",
                "TabSeparated",
            )
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._owner:
            engine = self._engine
            with engine.turns.turn():
                if engine.readonly is not None:
                    engine.readonly.handle.close()
                    engine.readonly = None
                engine.writer.handle.close()
                engine.remove_spool()
