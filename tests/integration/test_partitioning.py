"""Keyed messages land where Kafka's default partitioner puts them: the ingest's batches
(``kernel.kafka.BatchSender``) and a stock producer's ``send`` agree on every key, on the
real broker, so producers outside the project share partitions with the ingest."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka import AIOKafkaProducer

from agentledger.broker import EmbeddedBroker
from kernel.kafka import BatchSender, ensure_topics
from kernel.kafka import producer as make_producer
from kernel.partitioner import murmur2

PARTITIONS = 6


async def _placements(bootstrap: str) -> tuple[dict[bytes, int], dict[bytes, int], set[int]]:
    keys = [f"AT.session-{n:03d}".encode() for n in range(120)] + [b"foobar", b"21", b"abc"]
    await ensure_topics(bootstrap, ["ours", "stock"], PARTITIONS)
    ours = make_producer(bootstrap)
    stock = AIOKafkaProducer(bootstrap_servers=bootstrap)  # aiokafka's default partitioner
    await ours.start()
    await stock.start()
    try:
        sender = BatchSender(ours)
        placed = await sender.send_all("ours", [(key, b"x") for key in keys])
        theirs = await asyncio.gather(*[await stock.send("stock", b"x", key=k) for k in keys])
        # Unkeyed messages go round robin over every partition.
        unkeyed = await sender.send_all("ours", [(None, b"y")] * PARTITIONS)
    finally:
        await ours.stop()
        await stock.stop()
    return (
        {k: p for k, (p, _) in zip(keys, placed, strict=True)},
        {k: meta.partition for k, meta in zip(keys, theirs, strict=True)},
        {p for p, _ in unkeyed},
    )


def test_batches_place_keys_as_kafkas_default_partitioner(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "broker.log")
    bootstrap = broker.start()
    try:
        ours, stock, unkeyed = asyncio.run(_placements(bootstrap))
    finally:
        broker.stop()
    assert ours == stock
    assert len(set(ours.values())) == PARTITIONS  # 123 keys reach every partition
    # The Java client's placement of Kafka's own test keys (UtilsTest.testMurmur2).
    assert ours[b"foobar"] == (-790332482 & 0x7FFFFFFF) % PARTITIONS
    assert ours[b"21"] == (-973932308 & 0x7FFFFFFF) % PARTITIONS
    assert all(ours[k] == (murmur2(k) & 0x7FFFFFFF) % PARTITIONS for k in ours)
    assert unkeyed == set(range(PARTITIONS))
