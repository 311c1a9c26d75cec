"""What the gateway reads live from the ledger's topics: ``ledger.contractions`` (what to
enforce) and ``ledger.sessions.declared`` (each session's declared intent, for ``--inline``).

Every partition from its start, in no consumer group: each gateway needs every contraction
and declaration (they are few), including those made before it started, since a connection
may bind to a session declared or contracted earlier. A record that does not decode is
logged with its position and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from kernel import contraction
from kernel.contraction import Contraction
from kernel.declaration import DeclarationError, SessionDeclaration, parse_declaration
from kernel.errors import RecordError
from kernel.kafka import security_options

if TYPE_CHECKING:
    from kernel.config import Settings

log = logging.getLogger(__name__)

OnContraction = Callable[[Contraction], Awaitable[None]]
OnDeclaration = Callable[[SessionDeclaration], Awaitable[None]]
OnMessage = Callable[[bytes], Awaitable[None]]


def on_contraction_bytes(handler: OnContraction) -> OnMessage:
    async def handle(value: bytes) -> None:
        await handler(contraction.decode(value))

    return handle


def on_declaration_bytes(handler: OnDeclaration) -> OnMessage:
    async def handle(value: bytes) -> None:
        try:
            declaration = parse_declaration(orjson.loads(value))
        except (DeclarationError, orjson.JSONDecodeError) as exc:
            raise RecordError(f"not a session declaration: {exc}") from exc
        await handler(declaration)

    return handle


async def consume(
    bootstrap: str,
    handlers: Mapping[str, OnMessage],
    stop: asyncio.Event,
    *,
    settings: Settings | None = None,
    ready: asyncio.Event | None = None,
    wait_ms: int = 50,
    catch_up_s: float = 30.0,
) -> None:
    """Hand each message of each topic of ``handlers`` to its handler, in order per
    partition, until ``stop``. ``ready`` is set once what the topics held at the start has
    been handled (a contraction decided before the gateway started applies to its first
    connection), or after ``catch_up_s`` at the latest."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *handlers,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=5_000,
        **security_options(settings),
    )
    await consumer.start()
    try:
        await _catch_up(consumer, handlers, wait_ms, catch_up_s)
        if ready is not None:
            ready.set()
        while not stop.is_set():
            await _handle_batch(consumer, handlers, wait_ms)
    finally:
        await consumer.stop()


async def _catch_up(
    consumer: Any, handlers: Mapping[str, OnMessage], wait_ms: int, limit_s: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not consumer.assignment() and loop.time() < deadline:
        await asyncio.sleep(0.02)
    partitions = list(consumer.assignment())
    if not partitions:
        return
    ends = await consumer.end_offsets(partitions)
    while loop.time() < deadline:
        positions = [await consumer.position(tp) for tp in partitions]
        if all(position >= ends[tp] for position, tp in zip(positions, partitions, strict=True)):
            return
        await _handle_batch(consumer, handlers, wait_ms)


async def _handle_batch(consumer: Any, handlers: Mapping[str, OnMessage], wait_ms: int) -> None:
    batch = await consumer.getmany(timeout_ms=wait_ms, max_records=1_000)
    for partition, messages in batch.items():
        handler = handlers[partition.topic]
        for message in messages:
            try:
                await handler(message.value or b"")
            except RecordError as exc:
                where = f"{partition.topic}/{partition.partition}/{message.offset}"
                log.error("%s: %s", where, exc)
