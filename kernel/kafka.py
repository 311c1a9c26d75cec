"""Kafka admin and client helpers shared by the stack, ingest and bench."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from kernel.errors import StackError
from kernel.lag import SentRanges
from kernel.partitioner import KeyPartitioner

if TYPE_CHECKING:
    from kernel.config import Settings


def security_options(settings: Settings | None) -> dict[str, Any]:
    """aiokafka's connection security for a Kafka cluster (SASL and/or TLS), from settings.

    The embedded broker listens on loopback only and needs none; a cluster gets the
    ``AGENTLEDGER_KAFKA_*`` settings passed through to every client the project makes.
    """
    if settings is None or settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
        if settings.kafka_ssl_certfile:
            context.load_cert_chain(
                str(settings.kafka_ssl_certfile),
                str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            )
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        if settings.kafka_sasl_mechanism is None:
            raise StackError(
                f"AGENTLEDGER_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
                "AGENTLEDGER_KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
            )
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        if settings.kafka_sasl_username is not None:
            options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


async def ensure_topics(
    bootstrap: str, names: list[str], partitions: int, settings: Settings | None = None
) -> None:
    """Create the topics that do not exist yet."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=15_000, **security_options(settings)
    )
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in missing]
            )
    except KafkaError as exc:
        raise StackError(f"cannot create topics on {bootstrap}: {exc}") from exc
    finally:
        await admin.close()


def producer(bootstrap: str, settings: Settings | None = None) -> Any:
    """The producer of records and events: whole record batches, compressed
    (``Settings.kafka_compression``)."""
    from aiokafka import AIOKafkaProducer

    if settings is not None:
        compression = settings.kafka_compression
    else:  # the setting's default, not the environment's: no settings were given
        from kernel.config import Settings

        compression = Settings.model_fields["kafka_compression"].default
    return AIOKafkaProducer(
        **security_options(settings),
        bootstrap_servers=bootstrap,
        compression_type=None if compression == "none" else compression,
        linger_ms=10,
        max_batch_size=1 << 20,
        max_request_size=8 << 20,
        request_timeout_ms=30_000,
    )


def batch_consumer(
    bootstrap: str, group_id: str | None, *topics: str, security: dict[str, Any], **overrides: Any
) -> Any:
    """A consumer for batches (``getmany``) that commits by hand, after the batch's work is
    done, and reads a new group's topics from their start (``security``: SASL/TLS options,
    ``security_options``). Without a group, it reads the partitions it is assigned."""
    from aiokafka import AIOKafkaConsumer

    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        # Compressed batches (``Settings.kafka_compression``) hold more records than their
        # size says (the bench's events: 72-75 MB with zstd, 640 MB without): 4 MB a partition
        # is several batches' worth.
        "max_partition_fetch_bytes": 4 << 20,
        "fetch_max_bytes": 16 << 20,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
        # How long the broker may hold a fetch that finds nothing new (``fetch_wait_ms``).
        # The embedded broker answers only when the wait is over, not when a record arrives
        # (measured: a record waited ~130 ms at the median with aiokafka's 500 ms, 7 ms with
        # 20 ms); a fetch that finds records returns at once.
        "fetch_max_wait_ms": 20,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options, **security)


@contextlib.asynccontextmanager
async def _group_reader(
    bootstrap: str, group: str, settings: Settings | None
) -> AsyncIterator[Any]:
    """A started consumer of ``group`` that commits nothing, to read the group's offsets."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        **security_options(settings),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def consumer_lag(
    bootstrap: str, group: str, topic: str, settings: Settings | None = None
) -> int:
    """Messages in ``topic`` that ``group`` has not committed yet."""
    from aiokafka import TopicPartition

    async with _group_reader(bootstrap, group, settings) as consumer:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        lag = 0
        for tp in tps:
            committed = await consumer.committed(tp)
            # Tansu reports the last batch's base offset as the end offset, so a fully
            # consumed partition can look "ahead" of its end: count that as no lag.
            lag += max(0, ends[tp] - (committed or 0))
        return lag


async def group_lag(
    bootstrap: str, group: str, topics: Iterable[str], settings: Settings | None = None
) -> int:
    """Messages in ``topics`` that ``group`` has not committed yet (``consumer_lag``)."""
    return sum([await consumer_lag(bootstrap, group, topic, settings) for topic in topics])


async def committed_offsets(
    bootstrap: str, group: str, topic: str, settings: Settings | None = None
) -> dict[int, int]:
    """The offset ``group`` has committed on each partition of ``topic`` (partitions it has
    committed nothing on are left out): where its next read begins."""
    from aiokafka import TopicPartition

    async with _group_reader(bootstrap, group, settings) as consumer:
        committed: dict[int, int] = {}
        for partition in sorted(consumer.partitions_for_topic(topic) or ()):
            offset = await consumer.committed(TopicPartition(topic, partition))
            if offset is not None:
                committed[partition] = offset
        return committed


class BatchSender:
    """Produce many messages as whole record batches, one per partition.

    aiokafka's per-message ``send`` costs a future and a partitioner call each; building
    batches directly is several times faster, and gives every message's offset (a batch's
    base offset plus its index), which the ingest needs for raw-record pointers. A keyed
    message goes where Kafka's default partitioner puts it (``kernel.partitioner``: murmur2,
    as the Java client and librdkafka do), so producers outside the project that use the same
    key land on the same partition; unkeyed messages go round robin.
    """

    def __init__(self, producer: Any, sent: SentRanges | None = None) -> None:
        self.producer = producer
        self.sent = sent  # where every batch went, when the caller waits for its records
        self._partitions: dict[str, int] = {}
        self._partitioners: dict[int, KeyPartitioner] = {}
        self._round_robin = 0

    async def partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            await self.producer.client._wait_on_metadata(topic)
            count = len(self.producer.client.cluster.partitions_for_topic(topic) or ()) or 1
            self._partitions[topic] = count
        return count

    def _partitioner(self, count: int) -> KeyPartitioner:
        found = self._partitioners.get(count)
        if found is None:
            found = self._partitioners[count] = KeyPartitioner(count)
        return found

    async def send_all(
        self,
        topic: str,
        messages: list[tuple[bytes | None, bytes]],
        headers: list[tuple[str, bytes]] | None = None,
        message_headers: Sequence[Sequence[tuple[str, bytes]]] | None = None,
    ) -> list[tuple[int, int]]:
        """Send ``(key, value)`` pairs; returns each one's ``(partition, offset)``, in order.

        ``headers`` go on every message; ``message_headers`` (one sequence per message, in
        order) go on that message only, after them.
        """
        count = await self.partition_count(topic)
        partition_of = self._partitioner(count).partition
        by_partition: dict[int, list[int]] = {}
        robin = self._round_robin
        for index, (key, _) in enumerate(messages):
            if key is None:
                partition = robin % count
                robin += 1
            else:
                partition = partition_of(key)
            found = by_partition.get(partition)
            if found is None:
                by_partition[partition] = [index]
            else:
                found.append(index)
        self._round_robin = robin
        common = list(headers or ())
        placed: list[tuple[int, int]] = [(0, 0)] * len(messages)
        pending: list[tuple[Any, int, list[int]]] = []
        for partition, indexes in by_partition.items():
            start = 0
            while start < len(indexes):
                batch = self.producer.create_batch()
                append = batch.append
                end = start
                while end < len(indexes):
                    index = indexes[end]
                    key, value = messages[index]
                    own = message_headers[index] if message_headers else None
                    meta = append(
                        key=key,
                        value=value,
                        timestamp=None,
                        headers=[*common, *own] if own else common,
                    )
                    if meta is None:
                        break
                    end += 1
                if end == start:
                    raise ValueError(
                        f"a message of {len(messages[indexes[start]][1])} bytes "
                        "does not fit in one batch"
                    )
                future = await self.producer.send_batch(batch, topic, partition=partition)
                pending.append((future, partition, indexes[start:end]))
                start = end
        for future, partition, indexes in pending:
            meta = await future
            base = meta.offset
            if self.sent is not None:
                self.sent.add(topic, partition, base, len(indexes))
            for position, index in enumerate(indexes):
                placed[index] = (partition, base + position)
        return placed
