"""The ClickHouse HTTP interface over the embedded chDB ledger.

The process that owns chDB serves it, so ``clickhouse-connect``, Grafana's ClickHouse data
source and the other worker processes query the embedded ledger exactly as they would a
server. Two users, both with a password: ``writer`` (the ledger's own credential, may write)
and the analyst user (one read-only statement at a time, checked by the engine's parser and
run on a ``readonly = 1`` connection; see ``ledger.sqlguard``). Nobody else gets in.

Settings given as URL parameters are ignored for everyone: only ``param_*`` query
parameters, ``default_format``, ``database`` and ``query_id`` reach the engine.
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

from kernel.errors import ConfigError, StoreError
from ledger.chdb_store import ChdbStore, private_spool_dir
from ledger.sqlguard import CheckedStatements, UnsafeQuery, analyst_statement

__all__ = ["ANALYST", "WRITER", "Credentials", "build_app"]

WRITER = "writer"
ANALYST = "analyst"
# "INSERT INTO db.table [(a, b)] FORMAT Name", as clickhouse-connect sends with data in the body.
_INSERT_WITH_DATA = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[A-Za-z_][\w.]*)\s*(?P<columns>\([\w\s,`]*\))?"
    r"\s*FORMAT\s+(?P<format>[A-Za-z]+)\s*$",
    re.IGNORECASE,
)
_INSERT_LINE_MAX = 64 << 10  # an INSERT's first line, with its column list, at most
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FORMAT = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# chDB turns these into Python objects instead of bytes: no use over HTTP.
_PYTHON_FORMATS = frozenset({"dataframe", "datastore", "arrowtable"})
_QUERY_ID = re.compile(r"^[\w.:-]{1,128}$")
# The engine's own "Code: N. DB::Exception: … (NAME)" frame, stripped before ours is added.
_ENGINE_PREFIX = re.compile(r"^(?:Code: \d+\. DB::Exception: )+")
_ERROR_NAME = re.compile(r"[A-Z_]+")
_STATUS_BY_ERROR = {
    "UNKNOWN_TABLE": 404,
    "UNKNOWN_DATABASE": 404,
    "READONLY": 403,
    "SYNTAX_ERROR": 400,
    "UNKNOWN_IDENTIFIER": 400,
    "UNKNOWN_FUNCTION": 400,
    "UNKNOWN_FORMAT": 400,
    "BAD_ARGUMENTS": 400,
    "UNKNOWN_QUERY_PARAMETER": 400,
    "BAD_QUERY_PARAMETER": 400,
}
MAX_FORM_PART = 256 << 20


def _same(given: str, expected: str) -> bool:
    # Bytes: compare_digest refuses non-ASCII str.
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class Credentials:
    """The two users of the interface; an empty analyst password lets no analyst in."""

    writer_password: str
    analyst_user: str
    analyst_password: str

    def __post_init__(self) -> None:
        if not self.writer_password:
            raise ConfigError("the ledger's writer credential needs a password")
        if self.analyst_user == WRITER:
            raise ConfigError(f"the analyst user cannot be named {WRITER!r}; choose another name")

    def role(self, user: str, password: str) -> str | None:
        """``writer``, ``analyst``, or ``None`` for anyone else or a wrong password."""
        if user == WRITER:
            return WRITER if _same(password, self.writer_password) else None
        if not self.analyst_user or not self.analyst_password:
            return None
        user_ok = _same(user, self.analyst_user)
        password_ok = _same(password, self.analyst_password)
        return ANALYST if user_ok and password_ok else None


def _credentials_of(request: Request) -> tuple[str, str]:
    """User and password as ClickHouse takes them: headers, basic auth, or URL parameters."""
    headers = request.headers
    user = headers.get("x-clickhouse-user")
    if user is not None:
        return user, headers.get("x-clickhouse-key", "")
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user_pass = base64.b64decode(auth[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        name, _, password = user_pass.partition(":")
        return name, password
    params = request.query_params
    return params.get("user", "default"), params.get("password", "")


def _error(status: int, code: int, name: str, message: str) -> Response:
    text = f"Code: {code}. DB::Exception: {message}. ({name})\n"
    return PlainTextResponse(
        text, status_code=status, headers={"X-ClickHouse-Exception-Code": str(code)}
    )


def _engine_message(text: str) -> str:
    """``text`` without the engine's own frame (string operations: the text echoes SQL)."""
    text = _ENGINE_PREFIX.sub("", text)
    while True:
        text = text.rstrip(" .\n")
        start = text.rfind("(") if text.endswith(")") else -1
        inner = text[start + 1 : -1]
        if start < 0 or not (inner.startswith("version ") or _ERROR_NAME.fullmatch(inner)):
            return text
        text = text[:start]


# Engine errors that are the ledger's trouble, not the statement's.
_SERVER_ERRORS = frozenset(
    {"MEMORY_LIMIT_EXCEEDED", "CANNOT_ALLOCATE_MEMORY", "TIMEOUT_EXCEEDED", "ABORTED"}
)


def _store_error(exc: StoreError, *, from_analyst: bool = False) -> Response:
    """The HTTP answer to an engine error. An analyst's statement runs only once the engine
    has parsed and checked it, so an engine error on it (an unknown setting, a type
    mismatch, …) is the statement's fault: a 4xx, unless the ledger itself ran short."""
    name = exc.name or ""
    default = 400 if from_analyst and exc.code and name not in _SERVER_ERRORS else 500
    status = _STATUS_BY_ERROR.get(name, default)
    return _error(
        status, exc.code or 1000, exc.name or "UNKNOWN_EXCEPTION", _engine_message(str(exc))
    )


def _spool(directory: Path, data: bytes | memoryview) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, suffix=".insert")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return Path(name)


def _embedded_insert(body: bytes) -> tuple[str, memoryview] | None:
    """``INSERT INTO … FORMAT Name`` on the body's first line and the data after it, as
    clickhouse-connect sends an insert whose data it holds as bytes; the data is neither
    decoded nor copied (a binary format could not be decoded at all)."""
    end = body.find(b"\n", 0, _INSERT_LINE_MAX)
    if end < 0:
        return None
    try:
        statement = body[:end].decode()
    except UnicodeDecodeError:
        return None
    if _INSERT_WITH_DATA.match(statement) is None:
        return None
    return statement, memoryview(body)[end + 1 :]


def _parameter_problem(fmt: str, database: str | None) -> Response | None:
    if not _FORMAT.match(fmt) or fmt.lower() in _PYTHON_FORMATS:
        return _error(400, 73, "UNKNOWN_FORMAT", "the default_format parameter names no format")
    if database is not None and not _IDENTIFIER.match(database):
        return _error(400, 36, "BAD_ARGUMENTS", "the database parameter must be a plain name")
    return None


def build_app(store: ChdbStore, credentials: Credentials) -> Starlette:
    """The app. Insert data is spooled through a directory private to this process, in
    memory where the system offers it (``ledger.chdb_store.private_spool_dir``): spooled on
    the data directory's disk, each write was copied through the disk's cache once more:
    about 0.6 s of the ledger's 9-10 s of CPU in a 200,000-event run (BENCHMARKS.md)."""
    spool_dir = private_spool_dir()
    # Saved queries and dashboard panels send the same statements again and again: each is
    # checked by the engine's parser once (ledger.sqlguard.CheckedStatements). The ledger's
    # databases are looked up again only for a name not seen among them before (one dropped
    # since is refused by the engine itself when the statement runs, as UNKNOWN_DATABASE).
    checked = CheckedStatements()
    databases: set[str] = set()

    def is_ledger_database(name: str) -> bool:
        if name not in databases:
            databases.update(store.ledger_databases())
        return name in databases

    async def ping(_: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    def as_writer(sql: str, data: bytes | memoryview) -> tuple[str, Path | None]:
        if not data:
            return sql, None
        insert = _INSERT_WITH_DATA.match(sql)
        if insert is None:
            return f"{sql}\n{bytes(data).decode()}", None
        # Parsed from a file, ClickHouse reads insert data several times faster than from
        # inline SQL text, and the bytes are never copied into a str.
        spooled = _spool(spool_dir, data)
        statement = (
            f"INSERT INTO {insert['table']}{insert['columns'] or ''} "
            f"FROM INFILE '{spooled}' FORMAT {insert['format']}"
        )
        return statement, spooled

    def as_analyst(
        sql: str, fmt: str, params: dict[str, str], database: str | None, binary_body: bool
    ) -> bytes:
        if database is not None and not is_ledger_database(database):
            raise StoreError(
                f"the database parameter names no ledger database: {database}",
                code=81,
                name="UNKNOWN_DATABASE",
            )
        statement = analyst_statement(store.run_readonly, sql, params, checked)
        if binary_body:
            # Only insert data comes as bytes, and inserts were refused above; a read
            # statement followed by bytes is not one ClickHouse would run either.
            raise StoreError("the request body is not UTF-8 text", code=62, name="SYNTAX_ERROR")
        # Without a database parameter, back to "default" as ClickHouse would: the readonly
        # connection is shared and would otherwise keep the last analyst's.
        return store.run_readonly(statement, fmt, params, database=database or "default")

    async def clickhouse(request: Request) -> Response:
        # Credentials come from headers or the URL only: nobody else gets a body read.
        user, password = _credentials_of(request)
        role = credentials.role(user, password)
        if role is None:
            return _error(401, 516, "AUTHENTICATION_FAILED", f"{user}: Authentication failed")
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            # Query text and insert data are read as they come; clients compress neither
            # once told not to (clickhouse-connect: compress=False).
            message = f"compressed request bodies ({encoding[:20]}) are not supported"
            return _error(415, 48, "NOT_IMPLEMENTED", message)
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
        data: bytes | memoryview = body
        embedded = _embedded_insert(body) if query is None and role == WRITER else None
        if embedded is not None:
            sql, data = embedded
        elif query is None:
            try:
                sql, data = body.decode(), b""
            except UnicodeDecodeError:
                return _error(400, 62, "SYNTAX_ERROR", "the query is not UTF-8 text")
        else:
            sql = query
        if not sql.strip():
            return _error(400, 62, "SYNTAX_ERROR", "Empty query")
        fmt = params.get("default_format", "TabSeparated")
        database = params.get("database")
        problem = _parameter_problem(fmt, database)
        if problem is not None:
            return problem
        query_params = {k[6:]: v for k, v in params.items() if k.startswith("param_")}

        def as_writer_run() -> bytes:
            # In the thread, with the engine: spooling a large insert would stall the loop.
            statement, spooled = as_writer(sql, data)
            try:
                return store.run(statement, fmt, query_params, database=database)
            finally:
                if spooled is not None:
                    spooled.unlink(missing_ok=True)

        try:
            if role == WRITER:
                output = await anyio.to_thread.run_sync(as_writer_run)
            else:
                binary_body = False
                if data:
                    # ClickHouse reads the body as the rest of the statement; so does the check.
                    try:
                        sql = f"{sql}\n{bytes(data).decode()}"
                    except UnicodeDecodeError:
                        binary_body = True
                output = await anyio.to_thread.run_sync(
                    lambda: as_analyst(sql, fmt, query_params, database, binary_body)
                )
        except UnsafeQuery as exc:
            return _error(403, 164, "READONLY", f"{user} is read-only: {exc.problem}")
        except UnicodeDecodeError:
            return _error(400, 62, "SYNTAX_ERROR", "the request body is not UTF-8 text")
        except StoreError as exc:
            return _store_error(exc, from_analyst=role != WRITER)
        query_id = params.get("query_id", "")
        return Response(
            output,
            media_type="text/plain; charset=UTF-8",
            headers={
                "X-ClickHouse-Format": fmt,
                "X-ClickHouse-Timezone": "UTC",
                "X-ClickHouse-Query-Id": query_id
                if _QUERY_ID.match(query_id)
                else str(uuid.uuid4()),
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
