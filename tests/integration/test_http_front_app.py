"""The ClickHouse HTTP interface over chDB: the app, driven directly through ASGI by ``call``
below: the same requests, without a socket, over the real chDB ledger (the analyst check runs
on the engine's own parser; its statement-by-statement cases are in ``test_sql_endpoint.py``,
the credentials and the tree walk in ``tests/unit/test_http_front.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import anyio
import orjson
import pyarrow as pa
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from ledger.chdb_store import ChdbStore
from ledger.http_front import Credentials, build_app
from tests.jwt import basic_credentials

WRITER_PASSWORD = "w-7f3a9c"
ANALYST_USER = "grafana"
ANALYST_PASSWORD = "a-51b2e0"
DB = "agentledger"


@pytest.fixture(scope="module")
def store(chdb_ledger: ChdbStore) -> Iterator[ChdbStore]:
    # chDB opens one data path per process: this module's database in the shared ledger.
    ledger = chdb_ledger.with_database(DB)
    ledger.ensure_schema()
    yield ledger


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def code(self) -> str | None:
        return self.headers.get("x-clickhouse-exception-code")


def call(
    app: Starlette,
    method: str,
    path: str = "/",
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Reply:
    """One HTTP request through the ASGI interface."""
    sent: list[Message] = []

    async def exchange() -> None:
        done = anyio.Event()
        request_sent = False

        async def receive() -> Message:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": urlencode(params or {}).encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)

    anyio.run(exchange)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return Reply(
        status=start["status"],
        headers={k.decode(): v.decode() for k, v in start["headers"]},
        body=b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
    )


def as_user(user: str, password: str) -> dict[str, str]:
    return {"X-ClickHouse-User": user, "X-ClickHouse-Key": password}


WRITER = as_user("writer", WRITER_PASSWORD)
ANALYST = as_user(ANALYST_USER, ANALYST_PASSWORD)


@pytest.fixture(scope="module")
def app(store: ChdbStore) -> Starlette:
    return build_app(store, Credentials(WRITER_PASSWORD, ANALYST_USER, ANALYST_PASSWORD))


def test_ping(app: Starlette) -> None:
    reply = call(app, "GET", "/ping")
    assert (reply.status, reply.body) == (200, b"Ok.\n")


def test_an_analyst_query_in_the_url(app: Starlette) -> None:
    reply = call(
        app, "GET", params={"query": "SELECT 1 AS one FORMAT JSONEachRow"}, headers=ANALYST
    )
    assert (reply.status, reply.body) == (200, b'{"one":1}\n')
    assert reply.headers["x-clickhouse-timezone"] == "UTC"


def test_an_analyst_query_in_the_body_with_basic_auth(app: Starlette) -> None:
    basic = basic_credentials("grafana", ANALYST_PASSWORD)
    reply = call(
        app,
        "POST",
        params={"default_format": "JSONEachRow"},
        headers={"Authorization": f"Basic {basic}"},
        body=b"SELECT 2 AS two",
    )
    assert (reply.status, reply.body) == (200, b'{"two":2}\n')
    assert reply.headers["x-clickhouse-format"] == "JSONEachRow"


def test_an_analyst_write_is_refused_as_read_only(app: Starlette, store: ChdbStore) -> None:
    reply = call(
        app,
        "POST",
        params={"query": f"INSERT INTO {DB}.dead_letters FORMAT JSONEachRow"},
        headers=ANALYST,
        body=b'{"dead_letter_id":"analyst"}',
    )
    assert (reply.status, reply.code()) == (403, "164")
    assert reply.body == (
        b"Code: 164. DB::Exception: grafana is read-only: "
        b"INSERT statements need the writer credential. (READONLY)\n"
    )
    assert store.count("dead_letters", "dead_letter_id = 'analyst'") == 0


def test_a_wrong_writer_password_is_refused(app: Starlette) -> None:
    reply = call(app, "POST", headers=as_user("writer", "guess"), body=b"SELECT 1")
    assert (reply.status, reply.code()) == (401, "516")
    assert b"(AUTHENTICATION_FAILED)" in reply.body


def test_an_empty_query_is_a_syntax_error(app: Starlette) -> None:
    reply = call(app, "POST", headers=ANALYST, body=b"  \n")
    assert (reply.status, reply.code()) == (400, "62")


def test_the_writer_inserts_json_lines_with_the_query_in_the_url(
    app: Starlette, store: ChdbStore
) -> None:
    rows = [
        {"dead_letter_id": "dl-1", "source": "okta", "reason": "no eventTime", "record": "{}"},
        {"dead_letter_id": "dl-2", "source": "mcp", "reason": "bad JSON", "record": "{"},
    ]
    reply = call(
        app,
        "POST",
        params={"query": f"INSERT INTO {DB}.dead_letters FORMAT JSONEachRow"},
        headers=WRITER,
        body=b"\n".join(orjson.dumps(r) for r in rows),
    )
    assert reply.status == 200
    stored = store.query_rows(
        f"SELECT dead_letter_id, source, reason FROM {DB}.dead_letters "
        "WHERE dead_letter_id IN ('dl-1', 'dl-2') ORDER BY dead_letter_id"
    )
    assert stored == [
        {"dead_letter_id": "dl-1", "source": "okta", "reason": "no eventTime"},
        {"dead_letter_id": "dl-2", "source": "mcp", "reason": "bad JSON"},
    ]


def _dead_letters(*ids: str) -> list[dict[str, str]]:
    return [{"dead_letter_id": i, "source": "okta", "reason": f"it's {i}"} for i in ids]


def _stored_dead_letters(store: ChdbStore, *ids: str) -> list[dict[str, str]]:
    return store.query_rows(
        f"SELECT dead_letter_id, source, reason FROM {DB}.dead_letters "
        "WHERE dead_letter_id IN {ids:Array(String)} ORDER BY dead_letter_id",
        {"ids": list(ids)},
    )


def test_the_writer_inserts_json_lines_after_the_insert_in_the_body(
    app: Starlette, store: ChdbStore
) -> None:
    # As clickhouse-connect sends an insert whose data it holds as bytes.
    rows = _dead_letters("dl-b1", "dl-b2")
    body = f"INSERT INTO {DB}.dead_letters FORMAT JSONEachRow\n".encode()
    reply = call(app, "POST", headers=WRITER, body=body + b"\n".join(orjson.dumps(r) for r in rows))
    assert reply.status == 200, reply.body
    assert _stored_dead_letters(store, "dl-b1", "dl-b2") == rows


@pytest.mark.parametrize("in_body", [True, False])
def test_the_writer_inserts_arrow_columns(app: Starlette, store: ChdbStore, in_body: bool) -> None:
    ids = ("dl-a1", "dl-a2") if in_body else ("dl-a3", "dl-a4")
    rows = _dead_letters(*ids)
    data = pa.Table.from_pylist(rows)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, data.schema) as writer:
        writer.write_table(data)
    arrow = sink.getvalue().to_pybytes()
    statement = f"INSERT INTO {DB}.dead_letters (dead_letter_id, source, reason) FORMAT Arrow"
    if in_body:
        reply = call(app, "POST", headers=WRITER, body=f"{statement}\n".encode() + arrow)
    else:
        reply = call(app, "POST", params={"query": statement}, headers=WRITER, body=arrow)
    assert reply.status == 200, reply.body
    assert _stored_dead_letters(store, *ids) == rows


def test_binary_data_after_a_statement_that_is_no_insert_is_refused(app: Starlette) -> None:
    reply = call(app, "POST", headers=WRITER, body=b"SELECT 1\n\xff\xfe")
    assert (reply.status, reply.code()) == (400, "62")


def test_query_parameters_are_honoured(app: Starlette) -> None:
    reply = call(
        app,
        "GET",
        params={
            "query": "SELECT {x:UInt32} + 1 AS y, {name:String} AS name FORMAT JSONEachRow",
            "param_x": "41",
            "param_name": "o'hara",
        },
        headers=ANALYST,
    )
    assert (reply.status, reply.body) == (200, b'{"y":42,"name":"o\'hara"}\n')


def test_a_multipart_form_carries_the_query_and_its_parameters(app: Starlette) -> None:
    boundary = "agentledger-test-boundary"
    fields = {
        "query": "SELECT arrayJoin({ids:Array(String)}) AS id FORMAT JSONEachRow",
        "param_ids": "['e1','e2']",
    }
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    reply = call(
        app,
        "POST",
        headers={**ANALYST, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        body=body,
    )
    assert (reply.status, reply.body) == (200, b'{"id":"e1"}\n{"id":"e2"}\n')


def test_an_unknown_table_is_404_with_the_engine_code(app: Starlette) -> None:
    reply = call(app, "GET", params={"query": f"SELECT * FROM {DB}.no_such_table"}, headers=ANALYST)
    assert (reply.status, reply.code()) == (404, "60")
    assert b"(UNKNOWN_TABLE)" in reply.body


def test_the_database_parameter_selects_the_default_database(app: Starlette) -> None:
    reply = call(
        app,
        "GET",
        params={"query": "EXISTS TABLE sessions", "database": DB},
        headers=ANALYST,
    )
    assert (reply.status, reply.body) == (200, b"1\n")


def test_an_analyst_cannot_read_a_local_file_through_a_hash_comment(
    app: Starlette, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not-for-analysts\n")
    sql = f"SELECT 1 # '\n, (SELECT * FROM file('{secret}', 'LineAsString') LIMIT 1) -- '"
    reply = call(app, "POST", headers=ANALYST, body=sql.encode())
    assert b"not-for-analysts" not in reply.body
    assert (reply.status, reply.code()) == (403, "164")


def test_an_analyst_cannot_write_a_file_with_into_outfile(app: Starlette, tmp_path: Path) -> None:
    target = tmp_path / "written-by-analyst.tsv"
    reply = call(app, "POST", headers=ANALYST, body=f"SELECT 42 INTO OUTFILE '{target}'".encode())
    assert not target.exists()
    assert (reply.status, reply.code()) == (403, "164")


@pytest.mark.parametrize(
    "source",
    [
        "file('{secret}', 'LineAsString')",
        "url('http://127.0.0.1:9/x', 'LineAsString')",
        "filesystem('{dir}')",
        "s3('https://bucket.s3.amazonaws.com/x.csv')",
        "remote('127.0.0.1:9000', system.one)",
        "fileCluster('c', '{secret}')",
        "deltaLake('https://h/t/')",
        "icebergS3('https://h/t/')",
        "python(secret)",
    ],
)
def test_table_functions_that_reach_outside_are_refused(
    app: Starlette, tmp_path: Path, source: str
) -> None:
    """Refused by name before they run; the readonly connection would refuse most anyway."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not-for-analysts\n")
    sql = f"SELECT * FROM {source.format(secret=secret, dir=tmp_path)} LIMIT 1"
    reply = call(app, "POST", headers=ANALYST, body=sql.encode())
    assert b"not-for-analysts" not in reply.body
    assert (reply.status, reply.code()) == (403, "164")
    assert b"can reach outside the ledger" in reply.body


def test_a_table_function_inside_a_subquery_is_refused_too(app: Starlette) -> None:
    sql = "WITH (SELECT count() FROM file('/etc/hostname', 'LineAsString')) AS y SELECT y"
    reply = call(app, "POST", headers=ANALYST, body=sql.encode())
    assert (reply.status, reply.code()) == (403, "164")


def test_the_analyst_path_is_readonly_in_the_engine(app: Starlette) -> None:
    reply = call(
        app, "POST", headers=ANALYST, body=b"SELECT getSetting('readonly') AS r FORMAT JSONEachRow"
    )
    assert (reply.status, reply.body) == (200, b'{"r":1}\n')


@pytest.mark.parametrize(
    "headers",
    [
        {},
        as_user(ANALYST_USER, ""),
        as_user("default", ""),
        as_user("default", ANALYST_PASSWORD),
        as_user(ANALYST_USER, "guess"),
        {"Authorization": "Basic " + basic_credentials(ANALYST_USER, "guess")},
        {"Authorization": "Basic not-base64!"},
    ],
    ids=["none", "empty", "default", "default-user", "wrong", "basic-wrong", "basic-garbled"],
)
def test_an_analyst_needs_the_user_and_its_password(
    app: Starlette, headers: dict[str, str]
) -> None:
    reply = call(app, "POST", headers=headers, body=b"SELECT 1")
    assert (reply.status, reply.code()) == (401, "516")
    assert b"(AUTHENTICATION_FAILED)" in reply.body
    assert b"guess" not in reply.body and ANALYST_PASSWORD.encode() not in reply.body


def test_user_and_password_url_parameters_still_log_in(app: Starlette) -> None:
    params = {"query": "SELECT 3", "user": ANALYST_USER, "password": ANALYST_PASSWORD}
    assert call(app, "GET", params=params).body == b"3\n"
    params["password"] = "guess"
    reply = call(app, "GET", params=params)
    assert reply.status == 401 and b"guess" not in reply.body


def test_settings_in_the_url_never_reach_the_engine(app: Starlette) -> None:
    params = {"query": "SELECT getSetting('readonly')", "readonly": "0", "max_threads": "1"}
    reply = call(app, "GET", params=params, headers=ANALYST)
    assert (reply.status, reply.body) == (200, b"1\n")


@pytest.mark.parametrize(
    ("database", "status", "code"),
    [
        ("default; CREATE TABLE default.via_use (a UInt8) ENGINE = Memory", 400, "36"),
        ("`agentledger`", 400, "36"),
        ("agentledger\nSELECT 1", 400, "36"),
        ("no_such_database", 404, "81"),
        ("system", 404, "81"),
        ("INFORMATION_SCHEMA", 404, "81"),
    ],
)
def test_the_database_parameter_must_name_a_ledger_database(
    app: Starlette, store: ChdbStore, database: str, status: int, code: str
) -> None:
    reply = call(app, "GET", params={"query": "SELECT 1", "database": database}, headers=ANALYST)
    assert (reply.status, reply.code()) == (status, code)
    assert b"database parameter" in reply.body
    assert store.query_rows("EXISTS TABLE default.via_use") == [{"result": 0}]


def test_the_writer_database_parameter_is_checked_too(app: Starlette) -> None:
    reply = call(
        app, "GET", params={"query": "SELECT 1", "database": "x; DROP TABLE y"}, headers=WRITER
    )
    assert (reply.status, reply.code()) == (400, "36")


def test_an_analyst_database_does_not_stick_to_the_next_request(app: Starlette) -> None:
    query = {"query": "SELECT currentDatabase()"}
    assert (
        call(app, "GET", params={**query, "database": DB}, headers=ANALYST).body == b"agentledger\n"
    )
    assert call(app, "GET", params=query, headers=ANALYST).body == b"default\n"


@pytest.mark.parametrize("fmt", ["DataFrame", "JSON; DROP", "arrowtable"])
def test_a_default_format_that_is_no_format_is_refused(app: Starlette, fmt: str) -> None:
    params = {"query": "SELECT 1", "default_format": fmt}
    reply = call(app, "GET", params=params, headers=ANALYST)
    assert (reply.status, reply.code()) == (400, "73")


def test_a_compressed_body_is_refused_before_it_is_read(app: Starlette) -> None:
    headers = {**ANALYST, "Content-Encoding": "lz4"}
    reply = call(app, "POST", headers=headers, body=b"\x04\x22\x4d\x18")
    assert (reply.status, reply.code()) == (415, "48")
