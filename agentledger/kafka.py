"""Kafka admin and client helpers shared by the stack, ingest and bench."""

from __future__ import annotations

from typing import Any

from agentledger.errors import StackError


async def ensure_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create the topics that do not exist yet."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
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


def producer(bootstrap: str) -> Any:
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=10,
        max_batch_size=1 << 20,
        max_request_size=8 << 20,
        request_timeout_ms=30_000,
    )


async def consumer_lag(bootstrap: str, group: str, topic: str) -> int:
    """Messages in ``topic`` that ``group`` has not committed yet."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        lag = 0
        for tp in tps:
            committed = await consumer.committed(tp)
            lag += ends[tp] - (committed or 0)
        return lag
    finally:
        await consumer.stop()
