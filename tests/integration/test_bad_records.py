"""Bad input: each source's broken records go to the dead-letter topic with source,
position and reason, are kept in the ledger, and the pipeline goes on."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from agentledger.sampledata import generate_sessions, write_files
from tests.integration.conftest import RunningStack
from tests.integration.helpers import ingest, wait_rows, wait_stored

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
