"""Over ten thousand secrets planted in records of every source go through the whole stack;
then every table, every topic and every log file is scanned: not one of them is stored.

Secrets are planted by the unit tests' shapes and positions (tests/unit/test_redact.py) into
real samples and generated records, plus dead letters (lines that are not JSON) and Envoy
text lines. The scan looks for each secret's distinctive letters and digits, and for the
plain SHA-256 hex of it: an unkeyed hash of a weak secret is as good as the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Iterable
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson

from ingest.framing import Framed, frame_lines
from ingest.registry import SOURCES, get_source
from kernel.errors import RecordError
from kernel.topics import Topics
from tests.integration.conftest import RunningStack
from tests.integration.helpers import ingest, wait_rows, wait_stored
from tests.planted import (
    POSITIONS,
    SHAPES,
    Planted,
    base_records,
    core_of,
    header,
    plant,
)
from tests.polling import wait_for_async

RECORDS_PER_SOURCE = 700
SECRETS_PER_RECORD = (1, 3)
BROKEN_EVERY = 9  # every ninth line of a file is cut short: a dead letter
STRIDE = 8  # windows of a long run are read every STRIDE characters
WINDOW = 16  # and are this long; a probe is any window of the first STRIDE+1 of a secret
_RUNS = re.compile(r"[A-Za-z0-9]{16,}")
# Positions the dead-letter text rules can see (a marked object hides a secret without a
# name or a shape there: in a broken line only the record's structure could tell).
_TEXT_VISIBLE = [p for p in POSITIONS if p not in ("premarked", "json_string")]


def probes(planted: Iterable[Planted]) -> dict[str, str]:
    """window → the secret part it comes from; every part at least STRIDE + WINDOW long."""
    found: dict[str, str] = {}
    for p in planted:
        parts = [run for tell in p.tells for run in _RUNS.findall(tell)]
        parts += [sha256(t.encode()).hexdigest() for t in (p.secret, *p.tells)]
        for part in parts:
            if len(part) >= STRIDE + WINDOW:
                for offset in range(STRIDE + 1):
                    found[part[offset : offset + WINDOW]] = part
    return found


def leaks(blobs: Iterable[str], wanted: dict[str, str]) -> set[str]:
    """The secret parts whose windows occur in ``blobs``: any occurrence of a part contains a
    window starting at a multiple of STRIDE of its run, so reading those windows is enough."""
    hits: set[str] = set()
    for blob in blobs:
        for run in _RUNS.findall(blob):
            for start in range(0, len(run) - WINDOW + 1, STRIDE):
                part = wanted.get(run[start : start + WINDOW])
                if part is not None and part in run:
                    hits.add(part)
    return hits


def _planted_lines(
    rng: random.Random, bases: list[Any], count: int
) -> tuple[list[str], list[Planted]]:
    """JSON lines of ``bases`` with one to three secrets each; every ninth line cut short."""
    lines: list[str] = []
    planted: list[Planted] = []
    for n in range(count):
        record = orjson.loads(orjson.dumps(rng.choice(bases)))
        broken = n % BROKEN_EVERY == BROKEN_EVERY - 1
        for _ in range(rng.randint(*SECRETS_PER_RECORD)):
            secret = SHAPES[rng.choice(sorted(SHAPES))](core_of(rng.randbytes(25)))
            positions = _TEXT_VISIBLE if broken and not secret.shaped else POSITIONS
            plant(record, secret, rng.choice(positions), rng)
            planted.append(secret)
        text = orjson.dumps(record).decode()
        lines.append(text[:-1] if broken else text)  # never the first: it decides the format
    return lines, planted


def _event_ids(source_name: str, path: Path) -> set[str]:
    """The ids of the events ``path`` gives, as the ledger keeps them: one row per id. A span
    left without a secret is the same span in every request it came in, so one event."""
    source = get_source(source_name)
    ids: set[str] = set()
    with path.open(encoding="utf-8") as lines:
        for item in frame_lines(source, lines, path.name):
            if isinstance(item, Framed):
                with contextlib.suppress(RecordError):  # a dead letter, counted apart
                    events = source.parse(item.record, position=item.position, raw=item.raw)
                    ids.update(event.event_id for event in events)
    return ids


def _envoy_text_lines(rng: random.Random, count: int) -> tuple[list[str], list[Planted]]:
    """Envoy's default access log format, a secret in the query and one in the user agent."""
    lines, planted = [], []
    for n in range(count):
        query, agent = (SHAPES[rng.choice(["opaque", "github", "jwt", "openai"])] for _ in "ab")
        q, a = query(core_of(rng.randbytes(25))), agent(core_of(rng.randbytes(25)))
        planted += [q, a]
        name, value = header(a, rng)
        shown = value if a.scheme else a.secret
        if n % BROKEN_EVERY == BROKEN_EVERY - 1:  # not an access log line: a dead letter
            lines.append(f"upstream reset; {name}: {value} retry ?access_token={q.secret}")
            continue
        lines.append(
            f'[2026-02-03T04:05:{n % 60:02d}.000Z] "GET /v1/items/{n}?access_token={q.secret}'
            f'&page=2 HTTP/1.1" 200 - 0 89 5 4 "10.0.0.{n % 250}" "client/1.0 ({shown})" '
            f'"req-{n}" "api.example.com" "10.0.1.1:8080"'
        )
    return lines, planted


async def _topic_blobs(bootstrap: str, prefix: str) -> tuple[list[str], list[str]]:
    """Every message (key, value, headers) of every topic under ``prefix``, from the start."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(prefix + "."))
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    blobs: list[str] = []
    try:
        parts = [
            TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)

        async def read_on() -> tuple[bool, int]:
            """One poll; whether everything is read, and how many messages so far."""
            batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for messages in batch.values():
                for m in messages:
                    chunks = [m.key or b"", m.value or b""] + [v for _, v in m.headers or ()]
                    blobs.append(b"\n".join(chunks).decode("latin-1"))
            # Tansu reports a partition's last batch's base offset as its end: read on
            # until a poll brings nothing once every partition is past that.
            past = all([await consumer.position(p) >= ends[p] for p in parts])
            return not batch and past, len(blobs)

        await wait_for_async(
            read_on,
            until=lambda progress: progress[0],
            timeout=120,
            interval=0,
            what=f"every message of {len(parts)} partitions under {prefix}",
        )
        return names, blobs
    finally:
        await consumer.stop()


def _table_blobs(stack: RunningStack) -> dict[str, str]:
    store, database = stack.store, stack.store.database
    tables = store.query_rows(
        "SELECT name FROM system.tables WHERE database = {db:String}", {"db": database}
    )
    return {
        t["name"]: orjson.dumps(store.query_rows(f"SELECT * FROM {database}.{t['name']}")).decode()
        for t in tables
    }


def test_no_planted_secret_is_stored_anywhere(
    stack: RunningStack, real_data: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    rng = random.Random(20260101)
    bases = base_records(real_data)
    planted: list[Planted] = []
    files: dict[str, Path] = {}
    for source in sorted(SOURCES):
        lines, secrets = _planted_lines(rng, bases[source], RECORDS_PER_SOURCE)
        files[source] = tmp_path / f"{source}.jsonl"
        files[source].write_text("\n".join(lines) + "\n")
        planted += secrets
    text_lines, secrets = _envoy_text_lines(rng, 400)
    (tmp_path / "envoy.log").write_text("\n".join(text_lines) + "\n")
    planted += secrets
    # A canary: a unique value the ledger keeps in clear, to prove the scan finds what is
    # there in tables, topics and dead letters alike.
    canary = core_of(rng.randbytes(25))
    (tmp_path / "canary.jsonl").write_text(
        orjson.dumps({**bases["github"][0], "note": canary}).decode()
        + f'\n{{"note": "{canary}", "broken": \n'
    )
    assert len(planted) >= 10_000, len(planted)

    events = rejected = 0
    event_ids: set[str] = set()
    for source, path in [*files.items(), ("envoy", tmp_path / "envoy.log")]:
        report = ingest(stack, source, path, batch="planted")
        events, rejected = events + report.events, rejected + report.rejected
        event_ids |= _event_ids(source, path)
    report = ingest(stack, "github", tmp_path / "canary.jsonl", batch="canary")
    assert report.rejected == 1
    assert rejected > 300  # the broken lines (and Envoy's) did reach the dead-letter path
    wait_stored(stack.store, "planted", len(event_ids), timeout=100)
    wait_stored(stack.store, "canary", report.events)
    wait_rows(stack.store, "dead_letters", rejected + 1)
    ingested = time.monotonic()

    wanted = probes(planted)
    tables = _table_blobs(stack)
    names, messages = asyncio.run(_topic_blobs(stack.bootstrap, stack.settings.topic_prefix))
    logs = [p for p in (stack.stack.data_dir / "logs").rglob("*") if p.is_file()]
    log_text = [p.read_text(encoding="utf-8", errors="replace") for p in logs]
    assert {"raw_events", "actions", "dead_letters", "credentials"} <= set(tables)
    topics = Topics(stack.settings.topic_prefix)
    assert {topics.raw("envoy"), topics.events, topics.dlq} <= set(names) and logs

    assert leaks(tables.values(), wanted) == set()
    assert leaks(messages, wanted) == set()
    assert leaks(log_text, wanted) == set()
    # The scan can fail: the canary is found where the ledger keeps it.
    marked = probes([Planted(canary, (canary,))])
    assert leaks([tables["raw_events"]], marked) and leaks([tables["dead_letters"]], marked)
    assert leaks(messages, marked) == {canary}
    scanned = time.monotonic()
    print(  # the timings, for the record of how long a full scan takes
        f"\n{len(planted)} secrets, {events} events ({len(event_ids)} ids), "
        f"{rejected} dead letters; "
        f"ingest+store {ingested - started:.1f}s, scan {scanned - ingested:.1f}s of "
        f"{sum(map(len, tables.values())) / 1e6:.1f} MB tables, "
        f"{sum(map(len, messages)) / 1e6:.1f} MB in {len(names)} topics, {len(logs)} logs"
    )
