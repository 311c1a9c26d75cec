"""The server backend: a ClickHouse server (or the embedded ledger's HTTP front) through
``clickhouse-connect``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import orjson

from kernel.errors import StoreError
from ledger.store import LedgerStore, store_error

if TYPE_CHECKING:
    import pyarrow as pa


class ClickHouseStore(LedgerStore):
    def __init__(
        self,
        url: str,
        database: str = "agentledger",
        *,
        timeout_s: float = 60,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        """``url`` may carry ``user:password@``; ``username``/``password`` win over it, so a
        caller need not put a password into a URL."""
        super().__init__(database)
        import clickhouse_connect  # heavy import, only where a server is used
        from clickhouse_connect.driver.exceptions import ClickHouseError

        self._error_type = ClickHouseError
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StoreError(f"not a ClickHouse HTTP URL: {url!r}")
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname,
                port=parts.port or (8443 if parts.scheme == "https" else 8123),
                username=username or unquote(parts.username or "default"),
                password=password if password is not None else unquote(parts.password or ""),
                secure=parts.scheme == "https",
                compress=False,
                connect_timeout=10,
                send_receive_timeout=timeout_s,
                autogenerate_session_id=False,
            )
        except ClickHouseError as exc:
            raise store_error(
                f"cannot reach ClickHouse at {parts.hostname}:{parts.port}: {exc}"
            ) from exc
        self.url = url

    def command(self, sql: str) -> None:
        try:
            self._client.command(sql)
        except self._error_type as exc:
            raise store_error(str(exc)) from exc

    def query_rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        try:
            result = self._client.raw_query(
                sql, parameters=dict(params) if params else None, fmt="JSONEachRow"
            )
        except self._error_type as exc:
            raise store_error(str(exc)) from exc
        return [orjson.loads(line) for line in bytes(result).splitlines() if line]

    def query_arrow_stream(self, sql: str, params: Mapping[str, Any] | None = None) -> bytes:
        try:
            result = self._client.raw_query(
                sql, parameters=dict(params) if params else None, fmt="ArrowStream"
            )
        except self._error_type as exc:
            raise store_error(str(exc)) from exc
        return bytes(result)

    def insert_json(self, table: str, body: bytes) -> None:
        try:
            self._client.raw_insert(
                f"{self.database}.{table}", insert_block=body, fmt="JSONEachRow"
            )
        except self._error_type as exc:
            raise store_error(str(exc)) from exc

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        # ``INSERT INTO db.table (columns) FORMAT Arrow`` with the Arrow file as the body and
        # the statement in the URL: the server (or the embedded ledger's front) reads the
        # columns as they are, and the client copies nothing into a text body.
        try:
            self._client.insert_arrow(f"{self.database}.{table}", data)
        except self._error_type as exc:
            raise store_error(str(exc)) from exc

    def close(self) -> None:
        self._client.close()
