"""The worker's loop over the real broker and ledger: a due full garbage collection waits
until the batch in hand has been written and its offsets committed (``run_sink`` passes
whether a write is in hand to ``BatchCollector.when_idle``). A pass while the writer waits
holds the commit back by the whole pass, every event of the stream behind it."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from agentledger.broker import EmbeddedBroker
from kernel.codec import encode
from kernel.kafka import ensure_topics
from kernel.topics import Topics
from ledger.chdb_store import ChdbStore
from processors.sink import EventSink
from processors.sink_loop import WRITE_LINGER_S, run_sink
from processors.sink_parts import BatchCollector
from processors.stitch import Stitcher
from tests.scenarios import all_scenarios, parse

PASS_LOGGED = "full garbage collection"


async def _run(bootstrap: str, sink: EventSink, events: int) -> list[float]:
    """Send ``events`` of the scenarios, run the loop until they are committed and it has
    idled a while; the times each write was committed."""
    topics = sink.topics
    await ensure_topics(bootstrap, [*topics.event_topics, topics.dlq], 2)
    envelopes = [env for scenario in all_scenarios() for env in parse(scenario)][:events]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for env in envelopes:
            await producer.send(topics.events, encode(env), key=env.event.event_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    stop = asyncio.Event()
    committed: list[float] = []

    def on_batch(caught_up: bool) -> None:
        committed.append(time.time())

    loop = asyncio.create_task(
        run_sink(
            sink,
            bootstrap=bootstrap,
            batch_max=len(envelopes),
            batch_wait_ms=20,
            stop=stop,
            on_batch=on_batch,
            collector=BatchCollector(full_every=1),  # a full pass is due after any batch
        )
    )
    deadline = time.monotonic() + 60
    while not committed and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # idle reads after the commit: the pass's turn
    stop.set()
    await asyncio.wait_for(loop, 30)
    return committed


def test_a_due_full_collection_waits_for_the_write_in_hand_to_be_committed(
    tmp_path: Path, chdb_ledger: ChdbStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = chdb_ledger.with_database(f"t_{uuid.uuid4().hex[:10]}")
    store.ensure_schema()
    sink = EventSink(store, Topics(f"t{uuid.uuid4().hex[:10]}"), Stitcher())
    broker = EmbeddedBroker(tmp_path / "broker.log")
    bootstrap = broker.start()
    caplog.set_level(logging.INFO, logger="processors.sink_parts")
    try:
        committed = asyncio.run(_run(bootstrap, sink, events=40))
    finally:
        broker.stop()
        store.command(f"DROP DATABASE IF EXISTS {store.database}")
    assert committed, "the loop committed no write"
    passes = [r.created for r in caplog.records if r.getMessage().startswith(PASS_LOGGED)]
    assert passes, "no full pass ran once the stream was idle"
    # The writer lingers WRITE_LINGER_S for more batches before it writes, and the stream
    # reads idle every 20 ms meanwhile: a pass let run then would come before the commit.
    assert WRITE_LINGER_S >= 0.1
    assert min(passes) >= committed[0]
