"""``ledger.contractions``, read live by the gateway.

Every partition from its start, in no consumer group: each gateway needs every contraction
(they are few), including those decided before it started, since a connection may bind
to a session contracted earlier. A record that does not decode is logged and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from kernel.contraction import Contraction, decode
from kernel.errors import RecordError
from kernel.kafka import security_options

if TYPE_CHECKING:
    from kernel.config import Settings

log = logging.getLogger(__name__)

OnContraction = Callable[[Contraction], Awaitable[None]]


async def consume_contractions(
    bootstrap: str,
    topic: str,
    on_contraction: OnContraction,
    stop: asyncio.Event,
    *,
    settings: Settings | None = None,
    ready: asyncio.Event | None = None,
    wait_ms: int = 50,
) -> None:
    """Hand each contraction on ``topic`` to ``on_contraction``, in order, until ``stop``."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=5_000,
        **security_options(settings),
    )
    await consumer.start()
    try:
        if ready is not None:
            ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=wait_ms, max_records=1_000)
            for partition, messages in batch.items():
                for message in messages:
                    try:
                        contraction = decode(message.value or b"")
                    except RecordError as exc:
                        where = f"{partition.topic}/{partition.partition}/{message.offset}"
                        log.error("%s: %s", where, exc)
                        continue
                    await on_contraction(contraction)
    finally:
        await consumer.stop()
