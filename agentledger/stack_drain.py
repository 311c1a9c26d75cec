"""Stopping without losing what the embedded broker holds, and saying so when it cannot.

The embedded broker keeps its topics in memory only: whatever the workers have not written
to the ledger when it stops is gone. So a stack that stops first stops what feeds the
workers, then waits (bounded) until the worker group has committed to the end of
``<prefix>.events`` and ``<prefix>.sessions.declared``, and only then stops the workers and
the broker. What it could not drain, and what a broker that died held, is written to
``run/last-stop.json``, where ``agentledger down`` reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from kernel.errors import LedgerError
from kernel.events import now_utc
from kernel.kafka_offsets import OffsetProbe, wait_for_group

if TYPE_CHECKING:
    from agentledger.stack import Stack

STOP_REQUEST = Path("run") / "stop-request.json"
STOP_REPORT = Path("run") / "last-stop.json"
LAG_EVERY_S = 10.0  # how often `up` measures what the ledger has not written yet


def drained_topics(stack: Stack) -> list[str]:
    return [*stack.topics.event_topics, stack.topics.declared]


def request_stop(data_dir: Path, pid: int, drain_timeout: float) -> None:
    """What ``down`` asks of the ``up`` process ``pid`` before it signals it."""
    path = data_dir / STOP_REQUEST
    path.parent.mkdir(parents=True, exist_ok=True)
    (data_dir / STOP_REPORT).unlink(missing_ok=True)  # the report read after is this stop's
    path.write_bytes(orjson.dumps({"pid": pid, "drain_timeout_s": drain_timeout}))


def requested_drain_timeout(data_dir: Path, pid: int, default: float) -> float:
    """The drain timeout ``down`` asked this process (``pid``) for, else ``default``."""
    try:
        request = orjson.loads((data_dir / STOP_REQUEST).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return default
    if request.get("pid") != pid:
        return default
    return float(request.get("drain_timeout_s", default))


def write_stop_report(data_dir: Path, pid: int, **fields: Any) -> None:
    path = data_dir / STOP_REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"pid": pid, "stopped_at": now_utc().isoformat(), **fields}
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    tmp.replace(path)
    (data_dir / STOP_REQUEST).unlink(missing_ok=True)


def read_stop_report(data_dir: Path, pid: int) -> dict[str, Any] | None:
    """What the ``up`` process ``pid`` wrote as it stopped, if it did."""
    try:
        report: dict[str, Any] = orjson.loads((data_dir / STOP_REPORT).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return report if report.get("pid") == pid else None


def lag_text(lags: dict[str, int]) -> str:
    return ", ".join(f"{n} on {topic}" for topic, n in lags.items() if n) or "nothing"


class LagWatch:
    """The worker group's lag on the drained topics, measured every ``LAG_EVERY_S`` while
    the stack runs: what a broker that dies takes with it is the last measure."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.last: dict[str, int] | None = None
        self.measured_at = 0.0
        self._probe: OffsetProbe | None = None

    async def measure_if_due(self) -> None:
        if time.monotonic() - self.measured_at < LAG_EVERY_S:
            return
        self.measured_at = time.monotonic()
        try:
            if self._probe is None:
                probe = OffsetProbe(self.stack.bootstrap, self.stack.topics.worker_group)
                self._probe = await asyncio.wait_for(probe.__aenter__(), 10)
            self.last = await asyncio.wait_for(self._probe.lags(drained_topics(self.stack)), 10)
        except (TimeoutError, LedgerError, Exception):
            await self.close()

    async def close(self) -> None:
        if self._probe is not None:
            with contextlib.suppress(Exception):
                await self._probe.close()
            self._probe = None

    def broker_lost(self, code: int | None) -> str:
        """What to say when the embedded broker exited with ``code``."""
        log = self.stack.data_dir / "logs" / "broker.log"
        if self.last is None:
            held = (
                "no lag had been measured yet, so what it held that the ledger did not is unknown"
            )
        else:
            ago = time.monotonic() - self.measured_at
            held = (
                f"when last measured ({ago:.0f}s before) it held {lag_text(self.last)} that "
                "the ledger had not written yet; those are lost"
            )
        return (
            f"the embedded broker exited with {code} (log: {log}); {held}. It kept its topics "
            "in memory only: a broker started again would be empty and the workers' committed "
            "offsets gone, so the stack stops. Start it again with `agentledger up` and ingest "
            "again what was sent since the last measure (the ledger skips what it holds)"
        )


async def drain(
    stack: Stack,
    timeout: float,
    *,
    force: asyncio.Event | None = None,
    on_lag: Callable[[dict[str, int]], None] | None = None,
) -> dict[str, int]:
    """Stop what feeds the workers, then wait up to ``timeout`` seconds (or until ``force``
    is set) for them to write everything the embedded broker holds; what is left per topic
    (all zero: drained). A cluster keeps its topics: nothing to wait for there."""
    await stack.stop_feeding()
    if stack.broker is None or not stack.broker_running():
        return {}

    def measured(lags: dict[str, int]) -> None:
        stack.respawn_dead_workers()  # a worker that dies now must not leave its share
        if on_lag is not None:
            on_lag(lags)

    async with OffsetProbe(stack.bootstrap, stack.topics.worker_group) as probe:
        waiting = asyncio.ensure_future(
            wait_for_group(probe, drained_topics(stack), timeout, on_lag=measured)
        )
        forced = asyncio.ensure_future(
            force.wait() if force is not None else asyncio.Event().wait()
        )
        try:
            await asyncio.wait({waiting, forced}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            forced.cancel()
        if waiting.done():
            return waiting.result()
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        return await probe.lags(drained_topics(stack))
