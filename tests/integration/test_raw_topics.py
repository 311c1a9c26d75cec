"""Raw Kafka topics as shippers write them, read by the stack's normalizer: the ledger ends up
as ``ingest`` of the same records leaves it, bad messages are dead letters naming their
topic, partition and offset, a replay adds nothing, and offsets are committed."""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentledger.normalizing import ready_file
from ingest.normalizer import ORIGIN_HEADER, ORIGIN_KEY_HEADER, batch_name
from kernel.topics import Topics
from ledger.chdb_store import ChdbStore
from ledger.queries import stored_count
from ledger.store import LedgerStore
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.integration.conftest import RunningStack, make_settings
from tests.integration.helpers import (
    chains_of,
    committed,
    ingest,
    labels_of,
    wait_processed,
    wait_stored,
)
from tests.jwt import unsigned_jwt
from tests.polling import wait_for

# Topics as shippers name them: nothing of the ledger's own prefix.
RAW_TOPICS = {
    "okta": "okta-logs",
    "cloudtrail": "ct-raw",
    "entra": "entra-signins",
    "mcp": "mcp-capture",
    "github": "github-audit",
    "envoy": "envoy-access",
}
SHIPPER_TOKEN = unsigned_jwt({"sub": "vector", "jti": "shipper-token-1"})
Message = tuple[bytes, bytes | None, list[tuple[str, bytes]]]  # value, key, headers


def _raw_stack(
    tmp_path: Path, chdb_ledger: ChdbStore, sources: dict[str, str], **settings: Any
) -> RunningStack:
    """A stack whose normalizer reads ``sources`` (source → topic), fingerprinting with the
    key this test process ingests with, as one deployment does."""
    values = make_settings(
        tmp_path / "raw",
        raw_topics=[f"{source}={topic}" for source, topic in sources.items()],
        fingerprint_key=TEST_FINGERPRINT_KEY.decode(),
        **settings,
    )
    return RunningStack(values, chdb_ledger.with_database(values.database))


@pytest.fixture
def raw_stack(tmp_path: Path, chdb_ledger: ChdbStore) -> Iterator[RunningStack]:
    running = _raw_stack(tmp_path, chdb_ledger, {"okta": RAW_TOPICS["okta"]})
    running.start()
    yield running
    running.stop()


def _sample_files(real_data: Path) -> dict[str, list[Path]]:
    return {
        "okta": sorted((real_data / "okta/panther-analysis").glob("test_scenarios__*.jsonl")),
        "cloudtrail": sorted((real_data / "aws_cloudtrail/stratus-red-team").glob("*.json")),
        "entra": [real_data / "entra_id/elastic-integrations/test-signinlogs-raw.log"],
        "mcp": [real_data / "mcp/server-logs/hov172_SimpleMDM-MCP__mcp.log"],
        "github": [real_data / "github_audit/panther-analysis/GitHub.Audit.rule-tests.jsonl"],
        "envoy": [real_data / "api_gateway_envoy/elastic-integrations/envoyproxy-test-log.log"],
    }


def _messages(source: str, paths: list[Path]) -> list[Message]:
    """The files as a shipper would write them: a CloudTrail delivery whole (one as the
    ``{"Records": [...]}`` object S3 holds, the rest as the samples' arrays), every other
    source a line a message, keyed by host and with the shipper's headers (one of them a
    credential, which must not get past the normalizer)."""
    headers = [("x-shipper", b"vector"), ("Authorization", f"Bearer {SHIPPER_TOKEN}".encode())]
    if source == "cloudtrail":
        documents = [path.read_bytes() for path in paths]
        documents[0] = orjson.dumps({"Records": orjson.loads(documents[0])})
        return [(document, None, []) for document in documents]
    return [
        (line.encode(), b"host-1", headers)
        for path in paths
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


async def _send(bootstrap: str, topic: str, messages: list[Message]) -> list[tuple[int, int]]:
    """Write ``messages`` as a shipper does: a plain Kafka producer, nothing of the project.
    Returns each message's (partition, offset)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 << 20)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, value, key=key, headers=headers)
            for value, key, headers in messages
        ]
        return [((meta := await s).partition, meta.offset) for s in sent]
    finally:
        await producer.stop()


def send(stack: RunningStack, topic: str, messages: list[Message]) -> list[tuple[int, int]]:
    return asyncio.run(_send(stack.bootstrap, topic, messages))


def wait_normalized(stack: RunningStack, topic: str, placed: list[tuple[int, int]]) -> None:
    """Until the normalizer has committed past every message ``placed`` in ``topic``: all it
    produced for them is on the broker, so a marker sent now comes after it."""
    last: dict[int, int] = {}
    for partition, offset in placed:
        last[partition] = max(offset, last.get(partition, -1))
    group = Topics(stack.settings.topic_prefix).normalizer_group
    wait_for(
        lambda: committed(stack.bootstrap, group, topic),
        until=lambda done: all(done.get(p, -1) > o for p, o in last.items()),
        timeout=60,
        what=f"the normalizer's offsets on {topic} to pass {last}",
    )


def _actions(store: LedgerStore) -> list[dict[str, Any]]:
    """Every action as stitched, with what linked it to its session."""
    return store.query_rows(
        f"SELECT * EXCEPT (version) FROM {store.database}.actions FINAL ORDER BY action_id"
    )


def _dead_letters(store: LedgerStore, sources: list[str]) -> Counter[tuple[str, ...]]:
    rows = store.query_rows(
        f"SELECT source, reason, field, record FROM {store.database}.dead_letters FINAL "
        "WHERE source IN {s:Array(String)}",
        {"s": sources},
    )
    return Counter((r["source"], r["reason"], r["field"], r["record"]) for r in rows)


async def _raw_copy_headers(bootstrap: str, topic: str, partition: int, offset: int) -> Any:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        return (await consumer.getone()).headers
    finally:
        await consumer.stop()


def test_raw_topics_give_the_ledger_that_ingest_of_the_same_records_gives(
    chdb_ledger: ChdbStore, real_data: Path, tmp_path: Path
) -> None:
    # One partition a topic: both ledgers see the records in one order, as the stitcher's
    # time-window links (a principal's actions close in time) depend on arrival order. And
    # long fetch waits, so that each ledger takes a file's records in as few batches as the
    # other: a batch is stitched in event-time order, so where batches split matters too.
    files = _sample_files(real_data)
    settings = make_settings(tmp_path / "files", partitions=1, fetch_wait_ms=500)
    stack = RunningStack(settings, chdb_ledger.with_database(settings.database))
    raw = _raw_stack(tmp_path, chdb_ledger, RAW_TOPICS, partitions=1, fetch_wait_ms=500)
    try:
        stack.start()
        raw.start()
        events: dict[str, int] = {}
        for source, paths in files.items():
            report = ingest(stack, source, *paths, batch="files")
            assert report.accepted > 0, (source, report.as_json())
            events[source] = report.events
            topic = RAW_TOPICS[source]
            wait_normalized(raw, topic, send(raw, topic, _messages(source, paths)))
        for source, topic in RAW_TOPICS.items():
            wait_stored(raw.store, batch_name(topic), events[source])
        wait_stored(stack.store, "files", sum(events.values()))
        wait_processed(stack)
        wait_processed(raw)

        chains = chains_of(stack.store)
        assert any(len(chain) > 1 for chain in chains), "no chain links two actions"
        assert chains_of(raw.store) == chains
        assert labels_of(raw.store) == labels_of(stack.store)
        assert _actions(raw.store) == _actions(stack.store)
        # The same records are refused for the same reasons, whichever way they came.
        dead = _dead_letters(stack.store, list(files))
        assert _dead_letters(raw.store, list(files)) == dead

        # Each event names the message it came from; its raw record's copy carries that
        # message's key and headers, the shipper's credential fingerprinted.
        rows = raw.store.query_rows(
            f"SELECT source, position, raw_topic, raw_partition, raw_offset "
            f"FROM {raw.store.database}.raw_events FINAL ORDER BY position"
        )
        for row in rows:
            topic = re.escape(RAW_TOPICS[row["source"]])
            assert re.fullmatch(rf"{topic}/\d+/\d+(\[\d+\])?", row["position"]), row
        okta = next(r for r in rows if r["source"] == "okta")
        headers = dict(
            asyncio.run(
                _raw_copy_headers(
                    raw.bootstrap, okta["raw_topic"], okta["raw_partition"], okta["raw_offset"]
                )
            )
        )
        assert headers[ORIGIN_HEADER].decode() == okta["position"]
        assert headers[ORIGIN_KEY_HEADER] == b"host-1"
        assert headers["x-shipper"] == b"vector"
        authorization = orjson.loads(headers["Authorization"])
        assert authorization["redacted"] and authorization["fingerprint"].startswith("hmac-")
        assert SHIPPER_TOKEN.encode() not in b"".join(headers.values())
        log = (raw.settings.data_dir / "logs" / "normalizer.log").read_text()
        assert "normalizing okta=okta-logs" in log and SHIPPER_TOKEN not in log
    finally:
        raw.stop()
        stack.stop()


def test_bad_messages_replays_and_restarts(raw_stack: RunningStack, real_data: Path) -> None:
    topic = RAW_TOPICS["okta"]
    store = raw_stack.store
    good = _messages("okta", _sample_files(real_data)["okta"])
    bad: list[Message] = [
        (b'{"eventType": "user.session.start", "published": ', b"host-2", []),
        (b'{"uuid": "no-event-type", "published": "2024-08-01T00:00:00Z"}', None, []),
    ]
    placed = send(raw_stack, topic, good + bad)
    wait_normalized(raw_stack, topic, placed)
    wait_processed(raw_stack)
    events = stored_count(store, batch_name(topic))
    assert events == len(good)  # each of these samples is one Okta event

    # Each bad message is a dead letter naming its topic, partition and offset; the good
    # ones around it went on.
    dead = store.query_rows(
        f"SELECT source, position, reason, field FROM {store.database}.dead_letters FINAL "
        "WHERE source = 'okta' ORDER BY position"
    )
    positions = sorted(f"{topic}/{p}/{o}" for p, o in placed[len(good) :])
    assert [d["position"] for d in dead] == positions
    by_position = {d["position"]: d for d in dead}
    broken = by_position["{}/{}/{}".format(topic, *placed[len(good)])]
    assert broken["reason"].startswith("invalid JSON")
    unparsed = by_position["{}/{}/{}".format(topic, *placed[len(good) + 1])]
    assert (unparsed["field"], unparsed["reason"]) == ("eventType", "required field is missing")

    # The shipper sends the good messages again: read, and nothing added.
    tables = ("raw_events", "actions", "sessions", "session_keys", "attributions")
    before = {t: store.count(t) for t in tables}
    wait_normalized(raw_stack, topic, send(raw_stack, topic, good))
    wait_processed(raw_stack)
    assert {t: store.count(t) for t in tables} == before
    assert stored_count(store, batch_name(topic)) == events

    # A normalizer killed outright resumes after what it committed: nothing is read twice.
    normalizer = raw_stack.stack._normalizer
    assert normalizer is not None
    normalizer.send_signal(signal.SIGKILL)
    normalizer.wait(10)
    assert raw_stack.stack.respawn_dead_normalizer() == -signal.SIGKILL
    raw_stack.call(raw_stack.stack.wait_ready())
    assert ready_file(raw_stack.settings.data_dir).exists()
    wait_normalized(raw_stack, topic, send(raw_stack, topic, good[:3]))
    read = 2 * len(good) + len(bad) + 3
    counts = wait_for(
        lambda: raw_stack.stack.status()["normalized"][topic],
        until=lambda c: c["messages"] >= read,
        timeout=10,
        what=f"the normalizer's counts of {topic} to reach {read} messages",
    )
    assert counts == {
        "source": "okta",
        "messages": read,
        "records": 2 * len(good) + 3,
        "events": 2 * len(good) + 3,
        "dead_lettered": len(bad),
    }
