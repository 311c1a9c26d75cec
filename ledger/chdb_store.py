"""The embedded backend: chDB, the ClickHouse engine in this process, data on disk.

Only one process may open a chDB data path; that process also serves the HTTP interface
(``ledger.http_front``) through which every other process reaches the same ledger.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from agentledger.errors import StoreError
from ledger.store import LedgerStore, param_text, store_error


def _texts(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    return {k: v if isinstance(v, str) else param_text(v) for k, v in params.items()}


class ChdbStore(LedgerStore):
    def __init__(self, path: Path, database: str = "agentledger") -> None:
        super().__init__(database)
        from chdb import session as chdb_session  # heavy import, only where chDB is used

        path.mkdir(parents=True, exist_ok=True)
        try:
            self._session = chdb_session.Session(str(path))
        except Exception as exc:
            raise StoreError(
                f"cannot open the chDB ledger at {path}: {exc} "
                "(is another agentledger process using this data directory?)"
            ) from exc
        self.path = path
        # A chDB session runs one query at a time; the HTTP front calls from threads.
        self._lock = threading.Lock()
        self._current_db = ["default"]  # shared by views: USE is per chDB session
        self._owner = True

    def with_database(self, database: str) -> ChdbStore:
        """The same open ledger, another database (one chDB path per process)."""
        view = object.__new__(ChdbStore)
        LedgerStore.__init__(view, database)
        view._session, view._lock, view.path = self._session, self._lock, self.path
        view._current_db = self._current_db
        view._owner = False
        return view

    def run(
        self,
        sql: str,
        fmt: str = "JSONEachRow",
        params: Mapping[str, Any] | None = None,
        *,
        database: str | None = None,
    ) -> bytes:
        """Run any statement and return its output bytes in ``fmt`` (a FORMAT clause wins)."""
        with self._lock:
            try:
                if database is not None and database != self._current_db[0]:
                    self._session.query(f"USE {database}", "TabSeparated")
                    self._current_db[0] = database
                result = self._session.query(sql, fmt, params=_texts(params))
            except Exception as exc:
                raise store_error(str(exc)) from exc
        data: bytes = result.bytes() if result is not None else b""
        return data

    def command(self, sql: str) -> None:
        self.run(sql, "TabSeparated")

    def query_rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        data = self.run(sql, "JSONEachRow", params)
        return [orjson.loads(line) for line in data.splitlines() if line]

    def insert_json(self, table: str, body: bytes) -> None:
        sql = f"INSERT INTO {self.database}.{table} FORMAT JSONEachRow\n"
        self.run(sql + body.decode(), "TabSeparated")

    def close(self) -> None:
        if self._owner:
            with self._lock:
                self._session.close()
