"""The ClickHouse HTTP interface over the embedded chDB ledger.

The process that owns chDB serves it, so ``clickhouse-connect``, Grafana's ClickHouse data
source and the other worker processes query the embedded ledger exactly as they would a
server. Two users: ``writer`` (the ledger's own credential, may write) and everyone else
(analysts: one read-only statement at a time, no table functions that reach outside).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from agentledger.errors import StoreError
from ledger.chdb_store import ChdbStore

WRITER = "writer"
MAX_FORM_PART = 256 << 20
_READ_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN")
_OUTSIDE_FUNCTIONS = re.compile(
    r"\b(file|url|urlCluster|s3|s3Cluster|gcs|azureBlobStorage|hdfs|remote|remoteSecure|"
    r"cluster|mysql|postgresql|sqlite|mongodb|redis|jdbc|odbc|executable|python|input)\s*\(",
    re.IGNORECASE,
)
_STRINGS_AND_COMMENTS = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`|--[^\n]*|/\*.*?\*/", re.DOTALL
)


@dataclass(frozen=True, slots=True)
class Credentials:
    writer_password: str
    analyst_password: str = ""

    def role(self, user: str, password: str) -> str | None:
        """``writer``, ``analyst``, or ``None`` when the password is wrong."""
        if user == WRITER:
            return WRITER if hmac.compare_digest(password, self.writer_password) else None
        if hmac.compare_digest(password, self.analyst_password):
            return "analyst"
        return None


def read_only_problem(sql: str) -> str | None:
    """Why ``sql`` is not one read-only statement, or ``None`` when it is."""
    code = _STRINGS_AND_COMMENTS.sub(" ", sql).strip().rstrip(";").strip()
    if ";" in code:
        return "one statement per request"
    first = code.split(None, 1)[0].upper() if code else ""
    if first not in _READ_STATEMENTS:
        return f"{first or 'empty'} statements need the writer credential"
    if _OUTSIDE_FUNCTIONS.search(code):
        return "table functions that read outside the ledger are not allowed"
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


def build_app(
    store: ChdbStore,
    credentials: Credentials,
    status: Callable[[], dict[str, Any]] | None = None,
) -> Starlette:
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
            sql, data = body.decode(), ""
        else:
            sql, data = query, body.decode()
        if not sql.strip():
            return _error(400, 62, "SYNTAX_ERROR", "Empty query")
        user, password = _credentials_of(request)
        role = credentials.role(user, password)
        if role is None:
            return _error(401, 516, "AUTHENTICATION_FAILED", f"{user}: Authentication failed")
        if role != WRITER:
            problem = read_only_problem(sql)
            if problem is not None:
                return _error(403, 164, "READONLY", f"{user} is read-only: {problem}")
        statement = f"{sql}\n{data}" if data else sql
        fmt = params.get("default_format", "TabSeparated")
        query_params = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        database = params.get("database")
        try:
            output = await anyio.to_thread.run_sync(
                lambda: store.run(statement, fmt, query_params, database=database)
            )
        except StoreError as exc:
            status_code = 404 if exc.name in ("UNKNOWN_TABLE", "UNKNOWN_DATABASE") else 500
            return _error(status_code, exc.code or 1000, exc.name or "UNKNOWN_EXCEPTION", str(exc))
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

    async def status_route(_: Request) -> Response:
        return JSONResponse(status() if status else {})

    return Starlette(
        routes=[
            Route("/", clickhouse, methods=["GET", "POST"]),
            Route("/ping", ping, methods=["GET", "HEAD"]),
            Route("/v1/status", status_route, methods=["GET"]),
        ]
    )
