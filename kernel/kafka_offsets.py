"""Reading where a consumer group stands: its committed offsets, and the true end of a topic.

Used by ``agentledger ingest`` (wait until the workers committed past what it sent), by
``down`` (drain the workers before the embedded broker, memory-only, stops) and by ``up``
(what a broker that died held that the ledger did not).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from kernel.errors import StackError
from kernel.kafka import security_options
from kernel.lag import lag

if TYPE_CHECKING:
    from kernel.config import Settings


class OffsetProbe:
    """Two long-lived clients of one cluster: one in ``group`` that commits nothing (to read
    the group's committed offsets) and one in no group (to find where topics end).

    Use as ``async with OffsetProbe(bootstrap, group) as probe``.
    """

    def __init__(
        self,
        bootstrap: str,
        group: str,
        settings: Settings | None = None,
        *,
        timeout_ms: int = 10_000,
    ) -> None:
        from aiokafka import AIOKafkaConsumer

        security = security_options(settings)
        common: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "enable_auto_commit": False,
            "request_timeout_ms": timeout_ms,
            "connections_max_idle_ms": 540_000,
            **security,
        }
        self.group = group
        self._group = AIOKafkaConsumer(group_id=group, **common)
        # Reads one record batch per partition, no more: where the last one ends.
        self._reader = AIOKafkaConsumer(group_id=None, max_partition_fetch_bytes=8 << 20, **common)

    async def __aenter__(self) -> OffsetProbe:
        from aiokafka.errors import KafkaError

        try:
            await self._group.start()
            await self._reader.start()
        except KafkaError as exc:
            await self.close()
            raise StackError(f"cannot reach the broker to read offsets: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for client in (self._group, self._reader):
            with contextlib.suppress(Exception):  # closing what may never have connected
                await client.stop()

    async def _partitions(self, topic: str) -> list[int]:
        found = self._reader.partitions_for_topic(topic)
        if not found:
            await self._reader.topics()  # refreshes the metadata
            found = self._reader.partitions_for_topic(topic)
        return sorted(found or ())

    async def committed(self, topic: str, partitions: list[int] | None = None) -> dict[int, int]:
        """The offset the group's next read of each partition begins at (0: none committed)."""
        from aiokafka import TopicPartition

        parts = partitions if partitions is not None else await self._partitions(topic)
        return {p: await self._group.committed(TopicPartition(topic, p)) or 0 for p in parts}

    async def ends(self, topic: str, wait_s: float = 2.0) -> dict[int, int]:
        """The offset after each partition's last record.

        The broker's end offset is not trusted alone: the embedded Tansu reports the last
        record batch's base offset plus one (measured: 15 records in batches of five gave
        11), so the last batch is read and its last record counted.
        """
        from aiokafka import TopicPartition

        tps = [TopicPartition(topic, p) for p in await self._partitions(topic)]
        if not tps:
            return {}
        reported: dict[Any, int] = await self._reader.end_offsets(tps)
        ends = {tp.partition: reported[tp] for tp in tps}
        nonempty = [tp for tp in tps if reported[tp] > 0]
        if not nonempty:
            return ends
        self._reader.assign(nonempty)
        for tp in nonempty:
            self._reader.seek(tp, reported[tp] - 1)
        missing = set(nonempty)
        deadline = time.monotonic() + wait_s
        while missing and time.monotonic() < deadline:
            batch = await self._reader.getmany(*missing, timeout_ms=200)
            for tp, records in batch.items():
                if records:
                    ends[tp.partition] = max(ends[tp.partition], records[-1].offset + 1)
                    missing.discard(tp)
        return ends

    async def lag(self, topic: str) -> int:
        """Records of ``topic`` the group has not committed past."""
        ends = await self.ends(topic)
        return lag(ends, await self.committed(topic, sorted(ends)))

    async def lags(self, topics: list[str]) -> dict[str, int]:
        return {topic: await self.lag(topic) for topic in topics}


async def wait_for_group(
    probe: OffsetProbe,
    topics: list[str],
    timeout: float,
    *,
    interval: float = 0.25,
    on_lag: Any = None,
) -> dict[str, int]:
    """Until the group committed up to the end of every topic or ``timeout`` seconds passed;
    the lag per topic last measured (all zero: drained). ``on_lag`` hears each measure."""
    deadline = time.monotonic() + timeout
    while True:
        lags = await probe.lags(topics)
        if on_lag is not None:
            on_lag(lags)
        if not any(lags.values()) or time.monotonic() >= deadline:
            return lags
        await asyncio.sleep(interval)
