"""The ClickHouse HTTP interface over chDB: the read-only check, roles, and the app itself.

``httpx`` (which ``starlette.testclient`` needs) is not installed, so the app is driven
directly through ASGI by ``call`` below: the same requests, without a socket.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import anyio
import orjson
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from ledger.chdb_store import ChdbStore
from ledger.http_front import Credentials, build_app, read_only_problem

WRITER_PASSWORD = "w-7f3a9c"
ANALYST_PASSWORD = "a-51b2e0"
DB = "agentledger"

# -- read_only_problem -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select count() FROM agentledger.actions FINAL;  ",
        "WITH 1 AS x SELECT x",
        "SHOW TABLES FROM agentledger",
        "DESCRIBE TABLE agentledger.sessions",
        "DESC agentledger.sessions",
        "EXISTS TABLE agentledger.sessions",
        "SELECT ';' AS semicolon, 'a;b' FROM numbers(1)",
        'SELECT "weird;name" FROM t',
        "SELECT 1 -- trailing; comment",
        "SELECT /* ; */ 1",
        "SELECT file, url FROM agentledger.raw_events WHERE file = 'x'",
        "SELECT 'file(' || 'x'",
        "SELECT * FROM numbers(3)",
    ],
)
def test_read_only_statements_are_allowed(sql: str) -> None:
    assert read_only_problem(sql) is None


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        (
            "INSERT INTO agentledger.actions VALUES (1)",
            "INSERT statements need the writer credential",
        ),
        ("drop table agentledger.actions", "DROP statements need the writer credential"),
        (
            "ALTER TABLE agentledger.actions DELETE WHERE 1",
            "ALTER statements need the writer credential",
        ),
        ("SET readonly = 0", "SET statements need the writer credential"),
        ("", "empty statements need the writer credential"),
        ("-- only a comment", "empty statements need the writer credential"),
        ("SELECT 1; DROP TABLE agentledger.actions", "one statement per request"),
        ("SELECT 1 -- note\n; DROP TABLE agentledger.actions", "one statement per request"),
        ("SELECT 1 /* note */; DROP TABLE agentledger.actions", "one statement per request"),
        ("SELECT ';'; SELECT 2", "one statement per request"),
        ("EXPLAIN SELECT 1", "EXPLAIN statements need the writer credential"),
        (
            "DESCRIBE TABLE file('/etc/hosts', 'CSVWithNames')",
            "DESCRIBE of a table function can read outside the ledger",
        ),
        ("SELECT 'unterminated", "unterminated quoted text"),
        ("SELECT 1 /* open", "unterminated comment"),
    ],
)
def test_writes_and_several_statements_are_refused(sql: str, problem: str) -> None:
    assert read_only_problem(sql) == problem


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 # '\n; DROP TABLE agentledger.actions -- '",
        "SELECT 1 #'\n; DROP TABLE agentledger.actions",
    ],
    ids=["hash-space", "hash-quote"],
)
def test_a_hash_comment_cannot_hide_a_second_statement(sql: str) -> None:
    assert read_only_problem(sql) == "one statement per request"


def test_select_into_outfile_is_refused() -> None:
    assert read_only_problem("SELECT * FROM agentledger.raw_events INTO OUTFILE '/tmp/x'") == (
        "INTO OUTFILE writes files on the ledger's host"
    )


# -- Credentials -----------------------------------------------------------------------------


def test_roles() -> None:
    credentials = Credentials(WRITER_PASSWORD, ANALYST_PASSWORD)
    assert credentials.role("writer", WRITER_PASSWORD) == "writer"
    assert credentials.role("writer", ANALYST_PASSWORD) is None
    assert credentials.role("writer", "") is None
    assert credentials.role("grafana", ANALYST_PASSWORD) == "analyst"
    assert credentials.role("default", ANALYST_PASSWORD) == "analyst"
    assert credentials.role("grafana", WRITER_PASSWORD) is None  # the password is the writer's
    assert credentials.role("grafana", "") is None


def test_without_an_analyst_password_anyone_but_the_writer_reads() -> None:
    credentials = Credentials(WRITER_PASSWORD)
    assert credentials.role("default", "") == "analyst"
    assert credentials.role("writer", "") is None


def test_a_non_ascii_password_is_just_wrong() -> None:
    assert Credentials(WRITER_PASSWORD, ANALYST_PASSWORD).role("grafana", "pässword") is None


# -- the app over a real chDB ledger ---------------------------------------------------------


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
ANALYST = as_user("grafana", ANALYST_PASSWORD)


@pytest.fixture(scope="module")
def store(chdb_ledger: ChdbStore) -> Iterator[ChdbStore]:
    # chDB opens one data path per process: this module's database in the shared ledger.
    ledger = chdb_ledger.with_database(DB)
    ledger.ensure_schema()
    yield ledger


@pytest.fixture(scope="module")
def app(store: ChdbStore) -> Starlette:
    return build_app(store, Credentials(WRITER_PASSWORD, ANALYST_PASSWORD))


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
    basic = base64.b64encode(f"grafana:{ANALYST_PASSWORD}".encode()).decode()
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
    ],
)
def test_table_functions_that_reach_outside_are_refused_by_the_engine(
    app: Starlette, tmp_path: Path, source: str
) -> None:
    """Read-only is enforced by chDB itself (readonly = 1), not by a list of names."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not-for-analysts\n")
    sql = f"SELECT * FROM {source.format(secret=secret, dir=tmp_path)} LIMIT 1"
    reply = call(app, "POST", headers=ANALYST, body=sql.encode())
    assert b"not-for-analysts" not in reply.body
    assert (reply.status, reply.code()) == (403, "164")


def test_a_table_function_inside_a_subquery_is_refused_too(app: Starlette) -> None:
    sql = "WITH (SELECT count() FROM file('/etc/hostname', 'LineAsString')) AS y SELECT y"
    reply = call(app, "POST", headers=ANALYST, body=sql.encode())
    assert (reply.status, reply.code()) == (403, "164")


@pytest.mark.parametrize(
    "source",
    ["fileCluster('c', '/etc/hostname')", "deltaLake('https://h/t/')", "icebergS3('https://h/t/')"],
)
def test_table_functions_the_engine_rejects_earlier_still_return_nothing(
    app: Starlette, source: str
) -> None:
    """These fail in analysis (no such cluster, bad arguments) before readonly applies."""
    reply = call(app, "POST", headers=ANALYST, body=f"SELECT * FROM {source}".encode())
    assert reply.status >= 400 and reply.code()
