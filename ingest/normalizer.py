"""The normalizer: raw records that shippers write to Kafka topics, into the ledger's topics.

Shippers outside the project (Vector, Fluent Bit, Kafka Connect, Event Hubs' Kafka
endpoint) write each source's records, as the source wrote them, to topics of their own.
The normalizer reads those topics in batches (``getmany``: per-message consuming is far too
slow for this path), frames each message as a file of that source is framed
(``frame_message``), and parses, redacts and produces with the functions that
``agentledger ingest`` uses (``parse_all``, ``produce``). The same record gets the same
event id either way, so a replayed message adds nothing to the ledger.

A batch's offsets are committed only once the broker has acknowledged everything the batch
produced; a normalizer that stops or dies before that reads the batch again, which the
ledger takes as a replay. What cannot be parsed goes to the dead-letter topic with its
source, its position ``topic/partition/offset`` and the reason, and the normalizer goes on.

Where a record came from travels with it. The event's position names the message
(``okta-logs/0/17``; ``ct-raw/1/4[12]`` is the 13th record of a batch document), and the
record's copy on ``ledger.raw.<source>`` (the event's ``raw_ref``) carries the message's
position, key and headers as headers of its own, values redacted by the rules records go
through: a shipper's ``Authorization`` header never leaves this process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ingest.base import Source
from ingest.deadletter import dead_letter
from ingest.framing import frame_message, mask_text
from ingest.pipeline import IngestReport, Parsed, parse_all, produce
from ingest.redact import redact
from ingest.registry import SOURCES
from kernel.config import RawTopic
from kernel.errors import ConfigError, RecordError
from kernel.events import canonical_json, now_utc
from kernel.kafka import BatchSender, batch_consumer, security_options
from kernel.kafka import producer as make_producer
from kernel.topics import Topics

if TYPE_CHECKING:
    from kernel.config import Settings

log = logging.getLogger(__name__)

ORIGIN_HEADER = "ledger-origin"  # topic/partition/offset of the message a record came from
ORIGIN_KEY_HEADER = "ledger-origin-key"  # that message's key
_TEXT_LIMIT = 64 * 1024  # characters of an unparseable message kept in its dead letter


class Message(Protocol):
    """What the normalizer reads of a consumed Kafka message (aiokafka's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


def raw_sources(raw_topics: Iterable[RawTopic]) -> dict[str, Source]:
    """Topic → the source whose records it holds; a ``ConfigError`` names an unknown source."""
    sources: dict[str, Source] = {}
    for raw in raw_topics:
        if raw.source not in SOURCES:
            known = ", ".join(sorted(SOURCES))
            raise ConfigError(
                f"raw topic {raw}: unknown source {raw.source!r}; known sources: {known}"
            )
        sources[raw.topic] = SOURCES[raw.source]()
    return sources


def batch_name(topic: str) -> str:
    """The ``ingest_batch`` of everything read from ``topic``: one per topic, so the ledger
    says how much of each shipper's stream it holds."""
    return f"kafka:{topic}"


def position(message: Message) -> str:
    return f"{message.topic}/{message.partition}/{message.offset}"


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", errors="replace")


def origin(message: Message) -> list[tuple[str, str]]:
    """Where a message came from, as header pairs: its position, its key, then the shipper's
    headers. Values are redacted as record fields are (by name and by shape), so a header
    named ``Authorization`` or holding a token keeps only its fingerprint."""
    pairs = [(ORIGIN_HEADER, position(message))]
    if message.key is not None:
        pairs.append((ORIGIN_KEY_HEADER, mask_text(_text(message.key))))
    for name, value in message.headers or ():
        kept = redact({name: _text(value)})[name]
        pairs.append((name, kept if isinstance(kept, str) else canonical_json(kept)))
    return pairs


def parse_message(source: Source, message: Message) -> list[Parsed | dict[str, Any]]:
    """The records of one message, parsed, each with its origin; a dead-letter entry for
    each that cannot be.

    A message that breaks a parser (an error no parser means to raise) becomes one dead
    letter rather than a topic stuck behind it: the message waits there for the fix.
    """
    name = position(message)
    items: list[Parsed | dict[str, Any]]
    try:
        framed = frame_message(source, message.value or b"", name)
        items = list(parse_all(source, framed, IngestReport()))
    except Exception as exc:
        log.error("%s: the %s parser failed (%s)", name, source.name, type(exc).__name__)
        text = mask_text(_text(message.value))
        reason = mask_text(f"parser failed: {type(exc).__name__}: {exc}")
        error = RecordError(reason, source=source.name, position=name)
        items = [dead_letter(error, text[:_TEXT_LIMIT])]
    pairs = origin(message)
    headers = tuple((key, value.encode()) for key, value in pairs)
    for item in items:
        if isinstance(item, Parsed):
            item.headers = headers
        else:
            item["origin"] = [list(pair) for pair in pairs]
    return items


def parse_messages(source: Source, messages: Iterable[Message]) -> list[Parsed | dict[str, Any]]:
    return [item for message in messages for item in parse_message(source, message)]


@dataclass(slots=True)
class TopicCounts:
    """What the normalizer did with one raw topic."""

    source: str
    messages: int = 0
    records: int = 0  # parsed and produced
    events: int = 0
    dead_lettered: int = 0

    def add(self, messages: int, items: Sequence[Parsed | dict[str, Any]]) -> None:
        self.messages += messages
        for item in items:
            if isinstance(item, Parsed):
                self.records += 1
                self.events += len(item.events)
            else:
                self.dead_lettered += 1


@dataclass(slots=True)
class NormalizerStats:
    """Counts per raw topic since ``since`` (a restarted normalizer carries them on)."""

    topics: dict[str, TopicCounts]
    since: str = field(default_factory=lambda: now_utc().isoformat())
    batches: int = 0

    @classmethod
    def start(cls, sources: dict[str, Source], earlier: dict[str, Any] | None) -> NormalizerStats:
        """Fresh counts, or ``earlier`` ones (``as_json``) for the topics still read."""
        stats = cls({topic: TopicCounts(source.name) for topic, source in sources.items()})
        if not earlier:
            return stats
        stats.since = str(earlier.get("since") or stats.since)
        stats.batches = int(earlier.get("batches") or 0)
        for topic, counts in (earlier.get("topics") or {}).items():
            if topic in stats.topics and counts.get("source") == stats.topics[topic].source:
                stats.topics[topic] = TopicCounts(
                    **{k: counts[k] for k in TopicCounts.__slots__ if k in counts}
                )
        return stats

    def per_topic(self) -> dict[str, dict[str, Any]]:
        return {
            topic: {name: getattr(counts, name) for name in TopicCounts.__slots__}
            for topic, counts in self.topics.items()
        }

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since, "batches": self.batches, "topics": self.per_topic()}


async def normalize_batch(
    sender: BatchSender,
    topics: Topics,
    sources: dict[str, Source],
    by_topic: dict[str, list[Message]],
    stats: NormalizerStats,
) -> None:
    """Parse the messages of each raw topic and produce what they hold; returns once the
    broker has acknowledged all of it."""
    for topic, messages in by_topic.items():
        source = sources[topic]
        # Parsing and redaction are CPU work: off the event loop, which keeps heartbeats
        # to the group coordinator going while a large batch is parsed.
        items = await asyncio.to_thread(parse_messages, source, messages)
        await produce(sender, topics, source, items, ingest_batch=batch_name(topic))
        stats.topics[topic].add(len(messages), items)


def _group_listener(on_joined: Callable[[], None] | None) -> Any:
    from aiokafka import ConsumerRebalanceListener

    class Joined(ConsumerRebalanceListener):  # type: ignore[misc]
        """Tells ``on_joined`` once the consumer has its first assignment, empty or not
        (a raw topic that does not exist yet leaves it empty, and the normalizer waits)."""

        async def on_partitions_revoked(self, revoked: Any) -> None:
            pass

        async def on_partitions_assigned(self, assigned: Any) -> None:
            nonlocal on_joined
            if on_joined is not None:
                on_joined()
                on_joined = None

    return Joined()


async def _commit(consumer: Any, offsets: dict[Any, int]) -> None:
    from aiokafka.errors import CommitFailedError, IllegalStateError

    try:
        await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError) as exc:
        # The partitions moved to another member meanwhile: it reads these messages again,
        # which the ledger takes as a replay.
        log.warning("offsets not committed, the batch will be read again: %s", exc)


async def run_normalizer(
    sources: dict[str, Source],
    *,
    bootstrap: str,
    topics: Topics,
    stop: asyncio.Event,
    stats: NormalizerStats,
    batch_max: int = 20_000,
    batch_wait_ms: int = 200,
    settings: Settings | None = None,
    on_ready: Callable[[], None] | None = None,
    on_batch: Callable[[NormalizerStats], None] | None = None,
) -> None:
    """Read ``sources``' topics (topic → source) until ``stop`` is set, in the consumer group
    ``topics.normalizer_group``; ``settings`` carry a cluster's SASL/TLS options."""
    # A new group reads a topic's backlog from its start: nothing the shippers wrote before
    # the normalizer first ran is skipped, and what the ledger holds is not added again.
    consumer = batch_consumer(
        bootstrap,
        topics.normalizer_group,
        security=security_options(settings),
        metadata_max_age_ms=30_000,  # a raw topic created later is read within this
        **({"fetch_max_wait_ms": settings.fetch_wait_ms} if settings is not None else {}),
    )
    producer = make_producer(bootstrap, settings)
    await consumer.start()
    await producer.start()
    try:
        consumer.subscribe(topics=list(sources), listener=_group_listener(on_ready))
        missing = set(sources) - await consumer.topics()
        if missing:
            log.warning("raw topics not on the broker yet (read once created): %s", missing)
        sender = BatchSender(producer)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=batch_wait_ms, max_records=batch_max)
            if not batch:
                continue
            by_topic: dict[str, list[Message]] = {}
            for partition, messages in batch.items():
                by_topic.setdefault(partition.topic, []).extend(messages)
            await normalize_batch(sender, topics, sources, by_topic, stats)
            await producer.flush()
            await _commit(consumer, {tp: msgs[-1].offset + 1 for tp, msgs in batch.items()})
            stats.batches += 1
            if on_batch is not None:
                on_batch(stats)
    finally:
        await producer.stop()
        await consumer.stop()
