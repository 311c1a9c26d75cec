"""Bad input: each source's broken records go to the dead-letter topic with source,
position and reason, are kept in the ledger, and the pipeline goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agentledger.sampledata import generate_sessions, write_files
from ingest.files import frame_stream
from ingest.framing import Framed, frame_value
from ingest.pipeline import IngestReport, Parsed, parse_all
from ingest.registry import SOURCES, get_source
from ledger.queries import stored_count
from ledger.store import LedgerStore
from tests.integration.conftest import RunningStack
from tests.integration.helpers import ingest, wait_rows, wait_stored
from tests.planted import base_records
from tests.polling import wait_for

# Per source: a record that is not JSON, and one that is JSON but lacks a required field.
BROKEN = {
    "okta": [
        '{"eventType": "user.session.start", "published":',
        '{"eventType": "user.session.start"}',
    ],
    "cloudtrail": [
        '{"eventName": "GetObject"',
        '{"eventTime": "2026-11-20T10:00:00Z", "eventName": "GetObject"}',
    ],
    "mcp": [
        '{"ts": "2026-11-20T10:00:00Z", "direction"',
        '{"ts": "2026-11-20T10:00:00Z", "direction": "sideways", '
        '"message": {"jsonrpc": "2.0", "id": 1, "method": "ping"}}',
    ],
}
EXPECTED_FIELD = {"okta": "published", "cloudtrail": "eventSource", "mcp": "direction"}


def _good_lines(source: str, directory: Path, run_id: str) -> list[str]:
    files = write_files(generate_sessions(3, run_id=run_id), directory)
    text = files[source].read_text()
    if source == "cloudtrail":  # a {"Records": [...]} file: one record per line instead
        return [orjson.dumps(r).decode() for r in orjson.loads(text)["Records"]]
    return text.splitlines()


@pytest.mark.parametrize("source", ["okta", "cloudtrail", "mcp"])
def test_bad_records_are_dead_lettered_and_the_pipeline_goes_on(
    stack: RunningStack, tmp_path: Path, source: str
) -> None:
    good = _good_lines(source, tmp_path / "a", f"bad-{source}-a")
    # The broken records sit between good ones: lines 2 and 4 of the file.
    lines = [good[0], BROKEN[source][0], good[1], BROKEN[source][1], *good[2:]]
    path = tmp_path / f"{source}.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = ingest(stack, source, path, batch="mixed")
    assert (report.accepted, report.rejected) == (len(good), 2)
    assert any(reason.startswith("invalid JSON") for reason in report.reasons)
    assert any(reason.startswith(EXPECTED_FIELD[source]) for reason in report.reasons)
    wait_stored(stack.store, "mixed", report.events)

    wait_rows(stack.store, "dead_letters", 2)
    letters = stack.store.query_rows(
        f"SELECT source, position, reason, field, record FROM {stack.store.database}.dead_letters "
        "FINAL ORDER BY position"
    )
    assert [(d["source"], d["position"]) for d in letters] == [
        (source, f"{path}:2"),
        (source, f"{path}:4"),
    ]
    assert letters[0]["reason"].startswith("invalid JSON")
    assert letters[1]["field"] == EXPECTED_FIELD[source]
    assert letters[0]["record"].strip() == BROKEN[source][0]

    # The worker is still there: a later, good batch is stored.
    later = _good_lines(source, tmp_path / "b", f"bad-{source}-b")
    later_path = tmp_path / f"{source}-later.jsonl"
    later_path.write_text("\n".join(later) + "\n")
    report = ingest(stack, source, later_path, batch="later")
    assert report.rejected == 0
    wait_stored(stack.store, "later", report.events)
    assert stack.stack._workers and all(proc.poll() is None for proc in stack.stack._workers)


def test_undecodable_event_message_is_dead_lettered_by_the_worker(stack: RunningStack) -> None:
    """A message on ledger.events that is not an Avro event (a foreign producer, say)."""
    import asyncio

    from kernel.kafka import producer
    from kernel.topics import Topics

    topics = Topics(stack.settings.topic_prefix)

    async def send() -> None:
        p = producer(stack.bootstrap)
        await p.start()
        try:
            await p.send_and_wait(topics.events, b"\x00not avro at all\xff", partition=1)
        finally:
            await p.stop()

    asyncio.run(send())
    wait_rows(stack.store, "dead_letters", 1)
    [letter] = stack.store.query_rows(
        f"SELECT source, position, reason FROM {stack.store.database}.dead_letters FINAL"
    )
    assert letter["source"] == topics.events
    assert letter["position"].startswith(f"{topics.events}/1/")
    assert "Avro" in letter["reason"]
    assert stack.stack._workers and all(proc.poll() is None for proc in stack.stack._workers)


# -- every source: malformed records of many kinds between good ones ------------------------

# The fields each source takes its event time from (GitHub's in order of preference,
# OTel's in every span).
TIME_FIELDS = frozenset(
    {"published", "eventTime", "ts", "time", "createdDateTime", "activityDateTime"}
    | {"@timestamp", "at_sign_timestamp", "created_at", "start_time", "startTimeUnixNano"}
)


def _retimed(value: Any, time: Any) -> Any:
    """``value`` with every time field in it set to ``time``."""
    if isinstance(value, list):
        return [_retimed(item, time) for item in value]
    if isinstance(value, dict):
        return {k: time if k in TIME_FIELDS else _retimed(v, time) for k, v in value.items()}
    return value


def _malformed_lines(good: Any) -> list[bytes]:
    """Lines that no source may accept, built from one of its good records (the kinds the
    unit fuzz tests draw from at random, here one of each, fixed)."""
    raw = orjson.dumps(good)
    lines = [
        raw[: len(raw) // 2],  # truncated JSON
        b'"a JSON string, not an object"',
        b"null",
        b'{"latency": NaN}',
        b"\x00\xff\xfe binary \xc3\x28 garbage",
        raw[:-1] + b',"deep":' + b"[" * 600 + b"]" * 600 + b"}",  # past orjson's 254 levels
        raw[:-1] + b',"text":"\\ud800"}',  # a lone surrogate
        raw[:-1] + b',"n":' + b"1" + b"0" * 400 + b"}",  # past a double's range
    ]
    if _retimed(good, None) != good:  # a bare MCP message has no time of its own
        # 1.8e19: past 2299 read as seconds, milliseconds or (OTel's) nanoseconds.
        for time in ("2024-13-45T99:99:99Z", 18 * 10**18, None):
            lines.append(orjson.dumps(_retimed(good, time)))
    return lines


def _pure_outcome(source_name: str, path: Path) -> tuple[set[str], dict[str, str]]:
    """What the per-record path says of the file without the broker: event ids, and the
    reason by position of each dead letter."""
    source = get_source(source_name)
    with path.open("rb") as stream:
        items = list(parse_all(source, frame_stream(source, stream, str(path)), IngestReport()))
    events = {e.event_id for p in items if isinstance(p, Parsed) for e in p.events}
    letters = {d["position"]: d["reason"] for d in items if not isinstance(d, Parsed)}
    return events, letters


def _distinct(name: str, records: list[Any]) -> list[Any]:
    """Records none of whose events another record already gives (spans of two agent runs
    can be the same span), so that the ledger's count of each is exactly one."""
    source = get_source(name)
    seen: set[str] = set()
    kept = []
    for record in records:
        framed = [f for f in frame_value(source, record, "-") if isinstance(f, Framed)]
        ids = {e.event_id for f in framed for e in source.parse(f.record, position="-", raw=f.raw)}
        if not ids & seen:
            seen |= ids
            kept.append(record)
    return kept


def _wait_letters(store: LedgerStore, batch: str, expected: int) -> None:
    def count() -> int:
        return stored_count(store, batch, "dead_letters")

    def enough(n: int) -> bool:
        return n >= expected

    wait_for(count, until=enough, timeout=60, what=f"{expected} dead letters of {batch}")


def test_malformed_records_of_every_source_are_dead_letters_and_good_ones_are_stored(
    stack: RunningStack, real_data: Path, tmp_path: Path
) -> None:
    bases = base_records(real_data, per_source=4)
    expected: dict[str, tuple[set[str], dict[str, str]]] = {}
    bad_lines: dict[str, list[int]] = {}
    for name in sorted(SOURCES):
        good = _distinct(name, bases[name])
        lines: list[bytes] = []
        bad_lines[name] = []
        for i, record in enumerate(good):
            lines.append(orjson.dumps(record))
            for bad in _malformed_lines(record) if i < 2 else []:
                lines.append(bad)
                bad_lines[name].append(len(lines))
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        expected[name] = _pure_outcome(name, path)
        # Every malformed line is a dead letter at its own line, whatever else it holds.
        at = {int(p.rsplit(":", 1)[1].split("[")[0]) for p in expected[name][1]}
        assert set(bad_lines[name]) <= at, name
        report = ingest(stack, name, path, batch=f"fuzz-{name}")
        assert (report.events, report.rejected) == (
            len(expected[name][0]),
            len(expected[name][1]),
        )

    store = stack.store
    for name, (events, letters) in expected.items():
        wait_stored(store, f"fuzz-{name}", len(events))
        _wait_letters(store, f"fuzz-{name}", len(letters))
        stored = store.query_rows(
            f"SELECT event_id FROM {store.database}.raw_events FINAL "
            "WHERE ingest_batch = {b:String}",
            {"b": f"fuzz-{name}"},
        )
        assert {r["event_id"] for r in stored} == events, name
        rows = store.query_rows(
            f"SELECT source, position, reason FROM {store.database}.dead_letters FINAL "
            "WHERE ingest_batch = {b:String}",
            {"b": f"fuzz-{name}"},
        )
        assert {r["position"]: r["reason"] for r in rows} == letters, name
        assert all(r["source"] == name and r["reason"].strip() for r in rows), name
    assert stack.stack._workers and all(proc.poll() is None for proc in stack.stack._workers)
