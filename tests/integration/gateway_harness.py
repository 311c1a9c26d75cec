"""What the gateway tests drive: the gateway on its own event loop in a thread, a real MCP
client over Streamable HTTP, contractions produced to the real broker, topics read back."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import mcp_types as types
import orjson
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.streamable_http import streamable_http_client

from enforce.gateway import Gateway
from enforce.gateway_upstream import UpstreamSpec
from kernel import contraction as contractions
from kernel.contraction import Contraction
from kernel.kafka import producer
from kernel.procs import free_port
from kernel.topics import Topics
from models.trail import Scorer
from tests.polling import wait_for

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def upstream_command(log: Path) -> str:
    """The test server over stdio, writing what it receives to ``log``."""
    return f"{sys.executable} -m agentledger.demo_mcp --log {log}"


def upstream_requests(log: Path, method: str = "tools/call") -> list[dict[str, Any]]:
    """The requests of ``method`` the test server received (its params)."""
    if not log.exists():
        return []
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines() if line.strip()]
    return [line["params"] for line in lines if line["method"] == method]


class RunningGateway:
    """A ``Gateway`` serving on its own event loop in a thread, on a free loopback port."""

    def __init__(
        self,
        spec: UpstreamSpec,
        bootstrap: str,
        topics: Topics,
        scorer: Scorer | None = None,
    ) -> None:
        self.gateway = Gateway(
            spec,
            bootstrap=bootstrap,
            topics=topics,
            server_name="harbourline-mail",
            scorer=scorer,
            partitions=2,
        )
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ready = threading.Event()
        self.stop_event: asyncio.Event | None = None
        self.done: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()

        async def make_stop() -> asyncio.Event:
            return asyncio.Event()

        self.stop_event = self.call(make_stop())
        self.done = asyncio.run_coroutine_threadsafe(
            self.gateway.run("127.0.0.1", self.port, self.stop_event, self.ready.set), self.loop
        )
        wait_for(
            lambda: self.ready.is_set() or self.done.done(),
            timeout=60,
            what="the gateway to listen and read contractions",
        )
        if self.done.done():
            self.done.result()  # raises what stopped it

    def stop(self) -> None:
        """Stop serving; returns once every recorded message is produced."""
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
            self.done.result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Received:
    """What a client got from the server unasked (notifications)."""

    notifications: list[str] = field(default_factory=list)

    async def __call__(self, message: IncomingMessage) -> None:
        if not isinstance(message, Exception):
            self.notifications.append(message.method)

    def count(self, method: str) -> int:
        return self.notifications.count(method)


@asynccontextmanager
async def mcp_client(
    url: str, headers: dict[str, str], received: Received
) -> AsyncIterator[ClientSession]:
    """A real MCP client session over Streamable HTTP, initialized."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as (read_stream, write_stream),
        ClientSession(
            read_stream,
            write_stream,
            message_handler=received,
            client_info=types.Implementation(name="travel-desk-agent", version="2.4.1"),
        ) as session,
    ):
        await session.initialize()
        yield session


def contraction(
    decision: str,
    keys: tuple[tuple[str, str], ...],
    *,
    cause: str,
    removed: tuple[str, ...] = (),
    reasons: tuple[str, ...] = ("recipient first seen in a tool result",),
) -> Contraction:
    now = datetime.now(UTC)
    return Contraction(
        session_id="session-travel-1",
        agent="travel-desk-agent",
        cause_action_id=cause,
        decision=decision,
        score=0.93,
        model_version="policy-test",
        event_time=now,
        decided_at=now,
        cause_tool="send_email",
        removed_tools=removed,
        reasons=reasons,
        policy_rule="narrow-on-exfiltration",
        keys=keys,
    )


async def produce_contraction(bootstrap: str, topics: Topics, item: Contraction) -> None:
    sender = producer(bootstrap)
    await sender.start()
    try:
        await sender.send_and_wait(
            topics.contractions, contractions.encode(item), headers=contractions.headers()
        )
    finally:
        await sender.stop()


async def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every message of ``topic`` so far, from its start."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()  # the cluster's metadata, with the topic's partitions
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        for _ in range(100):
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                values.extend(m.value or b"" for m in messages)
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions) and not batch:
                break
        return values
    finally:
        await consumer.stop()
