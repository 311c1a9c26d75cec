"""The ClickHouse HTTP interface over the embedded chDB ledger.

The process that owns chDB serves it, so ``clickhouse-connect``, Grafana's ClickHouse data
source and the other worker processes query the embedded ledger exactly as they would a
server. Two users: ``writer`` (the ledger's own credential, may write) and everyone else
(analysts: one read-only statement at a time; see ``ledger.sqlguard``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from agentledger.errors import StoreError
from ledger.chdb_store import ChdbStore
from ledger.sqlguard import UnsafeQuery, analyst_statement, read_only_problem

__all__ = ["WRITER", "Credentials", "build_app", "read_only_problem"]

WRITER = "writer"
# "INSERT INTO db.table [(a, b)] FORMAT Name", as clickhouse-connect sends with data in the body.
_INSERT_WITH_DATA = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[A-Za-z_][\w.]*)\s*(?P<columns>\([\w\s,`]*\))?"
    r"\s*FORMAT\s+(?P<format>[A-Za-z]+)\s*$",
    re.IGNORECASE,
)
_STATUS_BY_ERROR = {
    "UNKNOWN_TABLE": 404,
    "UNKNOWN_DATABASE": 404,
    "READONLY": 403,
    "SYNTAX_ERROR": 400,
    "UNKNOWN_IDENTIFIER": 400,
}
MAX_FORM_PART = 256 << 20


@dataclass(frozen=True, slots=True)
class Credentials:
    writer_password: str
    analyst_password: str = ""

    def role(self, user: str, password: str) -> str | None:
        """``writer``, ``analyst``, or ``None`` when the password is wrong."""
        given = password.encode()  # bytes: compare_digest refuses non-ASCII str
        if user == WRITER:
            return WRITER if hmac.compare_digest(given, self.writer_password.encode()) else None
        if hmac.compare_digest(given, self.analyst_password.encode()):
            return "analyst"
        return None


def _credentials_of(request: Request) -> tuple[str, str]:
    headers = request.headers
    user = headers.get("x-clickhouse-user")
    if user is not None:
        return user, headers.get("x-clickhouse-key", "")
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user_pass = base64.b64decode(auth[6:]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", "\x00invalid"
        name, _, password = user_pass.partition(":")
        return name, password
    params = request.query_params
    return params.get("user", "default"), params.get("password", "")


def _error(status: int, code: int, name: str, message: str) -> Response:
    text = f"Code: {code}. DB::Exception: {message}. ({name})\n"
    return PlainTextResponse(
        text, status_code=status, headers={"X-ClickHouse-Exception-Code": str(code)}
    )


def _spool(directory: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, suffix=".insert")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return Path(name)


def build_app(
    store: ChdbStore,
    credentials: Credentials,
    spool_dir: Path | None = None,
) -> Starlette:
    """The app; inserts are spooled through ``spool_dir`` (private to this process)."""
    if spool_dir is None:
        spool_dir = Path(tempfile.mkdtemp(prefix="agentledger-spool-"))
    spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    async def ping(_: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def clickhouse(request: Request) -> Response:
        params: dict[str, str] = dict(request.query_params)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            # Clients move long parameters (and the query) into a form, as ClickHouse allows.
            async with request.form(max_part_size=MAX_FORM_PART) as form:
                for name, value in form.items():
                    if isinstance(value, str):
                        params[name] = value
            body = b""
        else:
            body = await request.body()
        query = params.get("query")
        if query is None:
            sql, data = body.decode(), b""
        else:
            sql, data = query, body
        if not sql.strip():
            return _error(400, 62, "SYNTAX_ERROR", "Empty query")
        user, password = _credentials_of(request)
        role = credentials.role(user, password)
        if role is None:
            return _error(401, 516, "AUTHENTICATION_FAILED", f"{user}: Authentication failed")
        spooled: Path | None = None
        if role == WRITER:
            statement = sql
            if data:
                insert = _INSERT_WITH_DATA.match(sql)
                if insert:
                    # Parsed from a file, ClickHouse reads insert data several times faster
                    # than from inline SQL text, and the bytes are never copied into a str.
                    spooled = _spool(spool_dir, data)
                    statement = (
                        f"INSERT INTO {insert['table']}{insert['columns'] or ''} "
                        f"FROM INFILE '{spooled}' FORMAT {insert['format']}"
                    )
                else:
                    statement = f"{sql}\n{data.decode()}"
        else:
            try:
                statement = analyst_statement(sql)
            except UnsafeQuery as exc:
                return _error(403, 164, "READONLY", f"{user} is read-only: {exc}")
        fmt = params.get("default_format", "TabSeparated")
        query_params = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        database = params.get("database")
        try:
            output = await anyio.to_thread.run_sync(
                lambda: store.run(statement, fmt, query_params, database=database)
            )
        except StoreError as exc:
            if spooled is not None:
                spooled.unlink(missing_ok=True)
            status_code = _STATUS_BY_ERROR.get(exc.name or "", 500)
            return _error(status_code, exc.code or 1000, exc.name or "UNKNOWN_EXCEPTION", str(exc))
        if spooled is not None:
            spooled.unlink(missing_ok=True)
        return Response(
            output,
            media_type="text/plain; charset=UTF-8",
            headers={
                "X-ClickHouse-Format": fmt,
                "X-ClickHouse-Timezone": "UTC",
                "X-ClickHouse-Query-Id": params.get("query_id", str(uuid.uuid4())),
                "X-ClickHouse-Server-Display-Name": "agentledger",
                "X-ClickHouse-Summary": '{"read_rows":"0","written_rows":"0"}',
            },
        )

    return Starlette(
        routes=[
            Route("/", clickhouse, methods=["GET", "POST"]),
            Route("/ping", ping, methods=["GET", "HEAD"]),
        ]
    )
