"""Which ledger errors refuse the rows (dead-letter them after a few tries) and which are an
outage (wait for the ledger): error texts as chDB and the ledger's HTTP front (through
clickhouse-connect) gave them, list in, classes out."""

from __future__ import annotations

from kernel.errors import RefusedError, StoreError
from ledger.store import store_error

HTTP = "Received ClickHouse exception, code: {code}, server response: {text} (for url http://127.0.0.1:59509)"
CONSTRAINT = (
    "Code: 469. DB::Exception: Constraint `poison` for table probe.actions "
    "(290122a9-bb06-480f-88a9-2b34f6965124) is violated at row 2. Expression: "
    "(resource != 'poison-tool'). Column values: resource = 'poison-tool'. (VIOLATED_CONSTRAINT)"
)
BAD_TIME = (
    "Code: 41. DB::Exception: Cannot read DateTime: unexpected word: (while reading the value "
    "of key event_time): (at row 1)\n: While executing ParallelParsingBlockInputFormat. "
    "(CANNOT_PARSE_DATETIME)"
)
BAD_NUMBER = (
    "Code: 72. DB::Exception: Unsigned type must not contain '-' symbol: (while reading the "
    "value of key version): (at row 1)\n: While executing ParallelParsingBlockInputFormat. "
    "(CANNOT_PARSE_NUMBER)"
)
BAD_INPUT = (
    "Code: 27. DB::Exception: Cannot parse input: expected '\"' before: 'x\"}': (while reading "
    "the value of key a): (at row 1)\n: (in file/uri /tmp/agentledger-spool-s1lv6ew2/"
    "tmpgu0s73lj.insert): While executing ParallelParsingBlockInputFormat: While executing "
    "File: data for INSERT was parsed from file. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)"
)
TOO_MANY_PARTS = (
    "Code: 252. DB::Exception: Too many parts (2 with average size of 345.00 B) in table "
    "'probe.few (b0ad29b0-a0b8-49d6-9cd4-bee711614be6)'. Merges are processing significantly "
    "slower than inserts. (TOO_MANY_PARTS)"
)
MEMORY = (
    "Code: 241. DB::Exception: Query memory limit exceeded: would use 1.06 MiB (attempt to "
    "allocate chunk of 0.00 B), maximum: 976.56 KiB: While executing AggregatingTransform. "
    "(MEMORY_LIMIT_EXCEEDED)"
)
TIMEOUT = (
    "Code: 159. DB::Exception: Timeout exceeded: elapsed 500.067 ms, maximum: 500.000 ms. "
    "(TIMEOUT_EXCEEDED)"
)
NO_TABLE = "Code: 60. DB::Exception: Table probe.nosuch does not exist. (UNKNOWN_TABLE)"
UNREACHABLE = (
    "cannot reach ClickHouse at 127.0.0.1:47217: Error HTTPConnectionPool(host='127.0.0.1', "
    "port=47217): Max retries exceeded with url: /?query_id=53356bbc-d730-439e-a93e-"
    "b303f7b4a76f (Caused by NewConnectionError(\"HTTPConnection(host='127.0.0.1', "
    'port=47217): Failed to establish a new connection: [Errno 111] Connection refused")) '
    "executing HTTP request attempt 1 (http://127.0.0.1:47217)"
)


def _http(text: str) -> str:
    return HTTP.format(code=text.split(".", 1)[0].removeprefix("Code: "), text=text)


REFUSALS = [CONSTRAINT, BAD_TIME, BAD_NUMBER, BAD_INPUT]
OUTAGES = [TOO_MANY_PARTS, MEMORY, TIMEOUT, NO_TABLE]


def test_data_errors_are_refusals_and_the_rest_outages() -> None:
    texts = [*REFUSALS, *map(_http, REFUSALS), *OUTAGES, *map(_http, OUTAGES), UNREACHABLE]
    refused = [isinstance(store_error(t), RefusedError) for t in texts]
    assert refused == [True] * 8 + [False] * 9


def test_a_refusal_keeps_the_engine_code_and_name() -> None:
    errors = [store_error(CONSTRAINT), store_error(_http(BAD_TIME)), store_error(UNREACHABLE)]
    assert [(e.code, e.name) for e in errors] == [
        (469, "VIOLATED_CONSTRAINT"),
        (41, "CANNOT_PARSE_DATETIME"),
        (None, None),
    ]
    assert all(isinstance(e, StoreError) for e in errors)
