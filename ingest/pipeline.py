"""From framed records to Kafka: parse, produce the raw record, then its typed events.

The raw record goes to ``ledger.raw.<source>`` first; its offset becomes the event's
``raw_ref``. A record that cannot be framed or parsed goes to ``ledger.dlq`` with source,
position and reason, and is counted; the rest of the input goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson

from ingest.base import Source
from ingest.deadletter import dead_letter, reason_key
from ingest.framing import Framed, Unframed
from kernel import codec
from kernel.errors import RecordError
from kernel.events import Event, now_utc
from kernel.kafka import BatchSender
from kernel.procs import gc_paused
from kernel.topics import Topics

SCHEMA_HEADERS = [(codec.SCHEMA_HEADER, codec.schema_name(codec.CURRENT_VERSION).encode())]


@dataclass(slots=True)
class IngestReport:
    accepted: int = 0
    rejected: int = 0
    events: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first position

    def reject(self, error: RecordError) -> None:
        key = reason_key(error)
        self.rejected += 1
        self.reasons[key] += 1
        self.examples.setdefault(key, f"{error.source} {error.position}".strip())

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "events": self.events,
            "reasons": dict(self.reasons.most_common()),
            "first_seen_at": self.examples,
        }


@dataclass(slots=True)
class Parsed:
    """A record and its events; ``headers`` go with the raw record to ``ledger.raw.<source>``
    (where a record read from a Kafka topic came from; none for files)."""

    framed: Framed
    events: list[Event]
    headers: tuple[tuple[str, bytes], ...] = ()


def parse_all(
    source: Source, items: Iterable[Framed | Unframed], report: IngestReport
) -> Iterator[Parsed | dict[str, Any]]:
    """Parsed records, or dead-letter entries for what could not be parsed."""
    for item in items:
        if isinstance(item, Unframed):
            report.reject(item.error)
            yield dead_letter(item.error, item.text)
            continue
        try:
            events = source.parse(item.record, position=item.position, raw=item.raw)
        except RecordError as exc:
            error = exc.located(source=source.name, position=item.position)
            report.reject(error)
            yield dead_letter(error, item.raw)
            continue
        report.accepted += 1
        report.events += len(events)
        yield Parsed(item, events)


def _encoded(key: str | None) -> bytes | None:
    return key.encode() if key else None


def partition_key(source: Source, events: list[Event]) -> bytes | None:
    """The raw record's partition key: its first event's (``Source.partition_key``)."""
    for event in events:
        key = source.partition_key(event)
        if key:
            return key.encode()
    return None


async def produce(
    sender: BatchSender,
    topics: Topics,
    source: Source,
    items: Iterable[Parsed | dict[str, Any]],
    *,
    ingest_batch: str,
    chunk: int = 5_000,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Send raw records, their events and dead letters; returns once all are acknowledged."""
    raw_topic = topics.raw(source.name)
    iterator = iter(items)
    while True:
        # A block's records are acyclic and die with it, before the collector runs again:
        # left on, it would walk them over and over while the block is worked on.
        with gc_paused():
            block = list(islice(iterator, chunk))
            count = len(block)
            if count:
                await _produce_block(sender, topics, source, raw_topic, block, ingest_batch)
            del block
        if not count:
            break
        if on_progress is not None:
            on_progress(count)


async def _produce_block(
    sender: BatchSender,
    topics: Topics,
    source: Source,
    raw_topic: str,
    block: list[Parsed | dict[str, Any]],
    ingest_batch: str,
) -> None:
    parsed = [p for p in block if isinstance(p, Parsed)]
    dead = [e for e in block if not isinstance(e, Parsed)]
    for entry in dead:
        entry["ingest_batch"] = ingest_batch
    if dead:
        await sender.send_all(topics.dlq, [(None, orjson.dumps(e)) for e in dead])
    events = await send_raw(sender, raw_topic, source, parsed, ingest_batch)
    await sender.send_all(topics.events_of(source.tool_traffic), events, headers=SCHEMA_HEADERS)


async def send_raw(
    sender: BatchSender, raw_topic: str, source: Source, parsed: list[Parsed], ingest_batch: str
) -> list[tuple[bytes | None, bytes]]:
    """Send the raw records of ``parsed`` to ``raw_topic``; returns their events encoded,
    each pointing at its raw record, with their keys: what goes to
    ``Topics.events_of(source.tool_traffic)``, with ``SCHEMA_HEADERS``."""
    # Each event's key, once: the raw record goes with its first event's (``partition_key``).
    key_of = source.partition_key
    keys = [[_encoded(key_of(event)) for event in p.events] for p in parsed]
    placed = await sender.send_all(
        raw_topic,
        [
            (next(filter(None, event_keys), None), p.framed.raw.encode())
            for p, event_keys in zip(parsed, keys, strict=True)
        ],
        message_headers=[p.headers for p in parsed],
    )
    encode = codec.EventEncoder(now_utc(), ingest_batch).encode
    events: list[tuple[bytes | None, bytes]] = []
    add = events.append
    for p, event_keys, (partition, offset) in zip(parsed, keys, placed, strict=True):
        ref = (raw_topic, partition, offset)
        for event, key in zip(p.events, event_keys, strict=True):
            add((key, encode(event, ref)))
    return events


async def ingest_stream(
    sender: BatchSender,
    topics: Topics,
    source: Source,
    items: Iterable[Framed | Unframed],
    *,
    ingest_batch: str,
    report: IngestReport | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Parse ``items`` and produce them; the report counts what was accepted and rejected."""
    report = report if report is not None else IngestReport()
    await produce(
        sender,
        topics,
        source,
        parse_all(source, items, report),
        ingest_batch=ingest_batch,
        on_progress=on_progress,
    )
    return report
