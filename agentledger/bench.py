"""``agentledger bench``: generated records through ingest → broker → stitch → ledger.

``events_per_s`` is end to end: from the first produce until the last event is queryable
in the ledger, with ingest, stitching and storing all running on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
from rich.console import Console

from agentledger.bench_drift import run_contraction_bench, scoring_stats
from agentledger.client import analyst_store, running_ledger, use_fingerprint_key
from agentledger.progress import wait_until_stored
from agentledger.sampledata import iter_records
from ingest.framing import Framed, frame_lines
from ingest.pipeline import IngestReport, ingest_stream
from ingest.registry import get_source
from kernel.config import Settings
from kernel.kafka import BatchSender, consumer_lag
from kernel.kafka import producer as make_producer
from kernel.procs import tune_gc_for_throughput
from kernel.topics import Topics

CHUNK = 5_000


def _lines_by_source(total: int, run_id: str) -> list[tuple[str, list[str]]]:
    """Generated records as JSON lines in chunks of one source each, as log shippers send
    them: each source in its own order, a chunk whenever a source has ``CHUNK`` records."""
    chunks: list[tuple[str, list[str]]] = []
    pending: dict[str, list[str]] = {}
    for sample in iter_records(total, run_id=run_id):
        lines = pending.setdefault(sample.source, [])
        lines.append(orjson.dumps(sample.record).decode())
        if len(lines) >= CHUNK:
            chunks.append((sample.source, pending.pop(sample.source)))
    chunks.extend(pending.items())
    return chunks


def _role(proc: psutil.Process) -> str:
    """A name for where CPU time went: ingest (this process), ledger, worker, broker."""
    if proc.pid == os.getpid():
        return "ingest"
    try:
        command = " ".join(proc.cmdline())
    except psutil.Error:
        return "other"
    if "processors.worker" in command:
        return "worker"
    if "tansu" in command or " broker " in command:
        return "broker"
    return "ledger"


class RssSampler:
    """Peak resident memory of this process plus the ledger's processes, sampled, and the
    CPU time each of them spent."""

    def __init__(self, pids: list[int]) -> None:
        self.procs = [psutil.Process(os.getpid())]
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(pid)
                self.procs.append(proc)
                self.procs.extend(proc.children(recursive=True))
        self.peak = 0
        self.peak_by_role: dict[str, int] = {}
        self._roles = {proc.pid: _role(proc) for proc in self.procs}
        self._cpu_start = self._cpu()

    def _cpu(self) -> dict[str, float]:
        spent: dict[str, float] = {}
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                role = self._roles[proc.pid]
                spent[role] = spent.get(role, 0.0) + times.user + times.system
        return spent

    def cpu_seconds(self) -> dict[str, float]:
        end = self._cpu()
        return {k: round(end[k] - self._cpu_start.get(k, 0.0), 2) for k in sorted(end)}

    def sample(self) -> None:
        total = 0
        by_role: dict[str, int] = {}
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                rss = proc.memory_info().rss
                total += rss
                role = self._roles[proc.pid]
                by_role[role] = by_role.get(role, 0) + rss
        self.peak = max(self.peak, total)
        for role, rss in by_role.items():
            self.peak_by_role[role] = max(self.peak_by_role.get(role, 0), rss)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


def _frames(source_name: str, lines: list[str], offset: int) -> Iterator[Framed]:
    source = get_source(source_name)
    for item in frame_lines(source, lines, f"bench:{offset}"):
        assert isinstance(item, Framed)
        yield item


async def run_bench(
    settings: Settings,
    total: int,
    *,
    console: Console | None,
    contractions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The end-to-end events/s bench, or (``contractions``: its options) the contraction
    latency bench of ``agentledger.bench_drift``."""
    own_dir = None
    if settings.data_dir == Settings().data_dir and not (settings.data_dir / "stack.json").exists():
        # Without a running ledger, measure on a fresh one rather than the user's own.
        own_dir = tempfile.TemporaryDirectory(prefix="agentledger-bench-")
        settings = settings.model_copy(update={"data_dir": Path(own_dir.name)})
    try:
        if contractions is not None:
            return await run_contraction_bench(settings, **contractions, console=console)
        return await _run_events(settings, total, console=console)
    finally:
        if own_dir is not None:
            own_dir.cleanup()


async def _run_events(settings: Settings, total: int, *, console: Console | None) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    batch = f"bench-{run_id}"
    if console:
        console.print(f"generating {total} records…")
    chunks = _lines_by_source(total, run_id)
    tune_gc_for_throughput()  # as `agentledger ingest` does
    async with running_ledger(settings) as info:
        use_fingerprint_key(settings)
        topics = Topics(info.topic_prefix)
        sampler = RssSampler([info.pid])
        stop_sampling = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop_sampling))
        report = IngestReport()
        producer = make_producer(info.bootstrap, settings)
        await producer.start()
        sender = BatchSender(producer)
        if console:
            console.print(f"pushing {total} records through {info.bootstrap} → {info.http_url}")
        started = time.perf_counter()
        try:
            offset = 0
            for source_name, lines in chunks:
                source = get_source(source_name)
                await ingest_stream(
                    sender,
                    topics,
                    source,
                    _frames(source_name, lines, offset),
                    ingest_batch=batch,
                    report=report,
                )
                offset += len(lines)
            await producer.flush()
        finally:
            await producer.stop()
        produced = time.perf_counter()
        with analyst_store(settings, info) as store:
            finished = await wait_until_stored(
                store, batch, report.events, console=console, interval=0.1
            )
        lag = await consumer_lag(info.bootstrap, topics.worker_group, topics.events, settings)
        stop_sampling.set()
        await sampling
        cpu = sampler.cpu_seconds()
        scoring = scoring_stats(settings)
    seconds = finished - started
    return {
        "events": report.events,
        "records": report.accepted,
        "rejected": report.rejected,
        "seconds": round(seconds, 3),
        "events_per_s": round(report.events / seconds, 1),
        "produce_seconds": round(produced - started, 3),
        "lag_end": lag,
        "peak_rss_mb": round(sampler.peak / 2**20, 1),
        "peak_rss_mb_by_process": {
            role: round(rss / 2**20, 1) for role, rss in sorted(sampler.peak_by_role.items())
        },
        "cpu_seconds": cpu,
        "drift_scoring": settings.drift_scoring,
        **(scoring if settings.drift_scoring else {}),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
