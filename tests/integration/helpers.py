"""Small helpers the integration tests share."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from agentledger.ingesting import ingest_paths
from agentledger.sampledata import SampleRecord, SampleSession
from ingest.base import parse_time
from ingest.pipeline import IngestReport
from kernel.kafka import producer
from kernel.keyfiles import CLI_KEY_FILE, SECRETS_DIR
from kernel.topics import Topics
from ledger.projections import newest_event_time
from ledger.queries import stored_count, waiting_exchanges
from ledger.store import LedgerStore
from processors.evidence import EVIDENCE_KEYS_FILE, published_keys
from tests.integration.conftest import RunningStack
from tests.polling import wait_for
from tests.scenarios import BASE, okta_sign_in


def api_headers(stack: RunningStack) -> dict[str, str]:
    """The headers the command line sends: the ledger's local admin key, from its file."""
    key = (stack.stack.data_dir / SECRETS_DIR / CLI_KEY_FILE).read_text().strip()
    return {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}


def evidence_keys(stack: RunningStack) -> dict[str, Any]:
    """The public keys the stack's digests are signed with, as ``verify`` reads them."""
    return dict(published_keys(stack.stack.data_dir / EVIDENCE_KEYS_FILE))


def declare(stack: RunningStack, body: dict[str, Any]) -> None:
    """Declare one session through the HTTP API, as an agent's client would."""
    request = urllib.request.Request(
        f"{stack.stack.http_url}/v1/sessions",
        data=json.dumps(body).encode(),
        headers=api_headers(stack),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 201


def ingest(stack: RunningStack, source: str, *paths: Path, batch: str) -> IngestReport:
    topics = Topics(stack.settings.topic_prefix)
    return asyncio.run(
        ingest_paths(stack.bootstrap, topics, source, [str(p) for p in paths], ingest_batch=batch)
    )


def wait_stored(store: LedgerStore, batch: str, expected: int, timeout: float = 90) -> None:
    """Until the ledger holds ``expected`` raw events of ingest batch ``batch``. Every stored
    row is counted (no ``FINAL``), so a duplicate shows before a merge could fold it away:
    more rows than events sent is a failure too."""
    assert expected > 0, f"nothing of batch {batch!r} was sent: waiting for it proves nothing"
    count = wait_for(
        lambda: stored_count(store, batch),
        until=lambda n: n >= expected,
        timeout=timeout,
        what=f"{expected} raw events of batch {batch!r} in the ledger",
    )
    assert count == expected, f"{count} events of batch {batch!r} stored, {expected} sent"


def move_stream_on(stack: RunningStack, directory: Path) -> None:
    """One unrelated sign-in 20 minutes after the newest event the ledger holds: the
    stream's watermark passes the re-stitch window, so the token exchanges that waited for
    it are decided (``processors.federation``). Returns once none waits."""
    newest = newest_event_time(stack.store)
    assert newest is not None, "the ledger holds no event: nothing to move on from"
    at = parse_time(newest, "event_time") + timedelta(minutes=20)
    seconds = (at - BASE).total_seconds()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "moved-on.jsonl"
    record = okta_sign_in("moved-on@acme.example", f"idx-moved-on-{seconds:.0f}", seconds)
    path.write_bytes(orjson.dumps(record) + b"\n")
    batch = f"moved-on-{uuid.uuid4().hex[:8]}"
    wait_stored(stack.store, batch, ingest(stack, "okta", path, batch=batch).events)
    wait_for(
        lambda: waiting_exchanges(stack.store),
        until=lambda n: n == 0,
        timeout=60,
        what="no token exchange waiting for the re-stitch window",
    )


def wait_processed(stack: RunningStack, timeout: float = 90) -> None:
    """Until the worker has processed, written and committed everything sent to
    ``ledger.events`` before this call, in every partition.

    Consumer lag cannot tell: Tansu reports a partition's last batch's base offset as its
    end, so the lag reads 0 while that batch is still unprocessed. Instead a marker goes to
    each partition after everything already there, and the wait is for the worker's
    committed offset to pass every marker (the worker commits a batch only once the ledger
    holds what it wrote) and for the ledger to hold each marker's dead letter (a marker is
    not an Avro event: the worker dead-letters it, naming its topic, partition and offset).
    """
    topics = Topics(stack.settings.topic_prefix)
    markers = asyncio.run(_send_markers(stack.bootstrap, topics.events))
    assert markers, f"{topics.events} has no partitions"
    wait_for(
        lambda: asyncio.run(_committed(stack.bootstrap, topics.worker_group, topics.events)),
        until=lambda committed: all(committed.get(p, -1) > o for p, o in markers.items()),
        timeout=timeout,
        what=f"the worker's committed offsets to pass the markers at {markers}",
    )
    positions = [f"{topics.events}/{p}/{o}" for p, o in markers.items()]
    wait_for(
        lambda: stack.store.count(
            "dead_letters", "position IN {p:Array(String)}", {"p": positions}
        ),
        until=lambda n: n == len(positions),
        timeout=timeout,
        what=f"the markers' dead letters {positions} in the ledger",
    )


async def _send_markers(bootstrap: str, topic: str) -> dict[int, int]:
    """One marker message per partition of ``topic``: partition → its offset."""
    sender = producer(bootstrap)
    await sender.start()
    try:
        marker = f"\x00test marker {uuid.uuid4().hex}, not an event\xff".encode()
        placed = {}
        for partition in sorted(await sender.partitions_for(topic)):
            meta = await sender.send_and_wait(topic, marker, partition=partition)
            placed[partition] = meta.offset
        return placed
    finally:
        await sender.stop()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The offsets ``group`` has committed on each partition of ``topic`` (-1: none yet)."""
    return asyncio.run(_committed(bootstrap, group, topic))


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The offsets ``group`` has committed on each partition of ``topic`` (-1: none yet)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        committed = {}
        for partition in sorted(consumer.partitions_for_topic(topic) or ()):
            offset = await consumer.committed(TopicPartition(topic, partition))
            committed[partition] = -1 if offset is None else offset
        return committed
    finally:
        await consumer.stop()


def wait_rows(store: LedgerStore, table: str, expected: int, timeout: float = 60) -> int:
    """Until ``table`` holds at least ``expected`` rows (read with ``FINAL``); their count."""
    assert expected > 0, f"waiting for {expected} rows of {table} proves nothing"
    return wait_for(
        lambda: store.count(table),
        until=lambda n: n >= expected,
        timeout=timeout,
        what=f"{expected} rows in {table}",
    )


def records_by_source(sessions: list[SampleSession]) -> dict[str, list[SampleRecord]]:
    """The sample sessions' records, by source, in session order."""
    by_source: dict[str, list[SampleRecord]] = {"okta": [], "cloudtrail": [], "mcp": []}
    for session in sessions:
        for sample in session.records:
            by_source[sample.source].append(sample)
    return by_source


def write_records(
    directory: Path,
    stem: str,
    source: str,
    records: list[dict[str, Any]],
    insert: tuple[int, bytes] | None = None,
) -> Path:
    """``records`` in a file as ``source`` writes them: CloudTrail one ``{"Records": [...]}``
    document (``stem.json``), the others JSON lines (``stem.jsonl``), with ``insert``'s line
    put at its index."""
    if source == "cloudtrail":
        path = directory / f"{stem}.json"
        path.write_bytes(orjson.dumps({"Records": records}))
        return path
    lines = [orjson.dumps(r) + b"\n" for r in records]
    if insert is not None:
        lines.insert(*insert)
    path = directory / f"{stem}.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def actions_by_root(store: LedgerStore) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The ledger's aliases (a merged session's id -> the session it was merged into), and
    the actions of each surviving session, those of the sessions merged into it included."""
    db = store.database
    aliases = {
        r["alias_id"]: r["session_id"]
        for r in store.query_rows(f"SELECT alias_id, session_id FROM {db}.session_aliases FINAL")
        if r["alias_id"] != r["session_id"]
    }

    def root(session_id: str) -> str:
        seen = set()
        while session_id in aliases and session_id not in seen:
            seen.add(session_id)
            session_id = aliases[session_id]
        return session_id

    groups: dict[str, set[str]] = {}
    for row in store.query_rows(f"SELECT session_id, action_id FROM {db}.actions FINAL"):
        groups.setdefault(root(row["session_id"]), set()).add(row["action_id"])
    return aliases, groups


def chains_of(store: LedgerStore) -> set[frozenset[str]]:
    """Which actions share a session (session ids themselves may differ between ledgers)."""
    return {frozenset(g) for g in actions_by_root(store)[1].values()}


def attributions_of(store: LedgerStore) -> dict[str, tuple[Any, ...]]:
    """Each action's label, rule, agent, origin and delegation hops (their kinds and ids:
    a session's id is named after the first key its stitcher saw, which depends on the
    order events arrive in; which actions share a session does not)."""
    rows = store.query_rows(
        "SELECT action_id, label, rule, agent, origin_type, origin_principal, chain, "
        f"confused_deputy FROM {store.database}.attributions FINAL"
    )
    return {
        r["action_id"]: (
            r["label"],
            r["rule"],
            r["agent"],
            r["origin_type"],
            r["origin_principal"],
            tuple((hop["kind"], hop["id"]) for hop in json.loads(r["chain"])),
            bool(r["confused_deputy"]),
        )
        for r in rows
    }


def labels_of(store: LedgerStore) -> dict[str, tuple[str, str]]:
    """Each action's label and the rule that decided it."""
    rows = store.query_rows(
        f"SELECT action_id, label, rule FROM {store.database}.attributions FINAL"
    )
    return {r["action_id"]: (r["label"], r["rule"]) for r in rows}
