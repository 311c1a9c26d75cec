"""``agentledger bench``: generated records through ingest → broker → stitch → ledger.

``events_per_s`` is end to end: from the first produce until the workers have committed
past the last event, which they do once the ledger holds it, with ingest, stitching and
storing all running on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import platform
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import psutil
from pydantic import SecretStr
from rich.console import Console

from agentledger.bench_ceiling import ceiling_figures, measure_ceiling, require_writer
from agentledger.bench_drift import run_contraction_bench, scoring_stats
from agentledger.client import analyst_store, running_ledger, use_fingerprint_key
from agentledger.ingest_wait import wait_held
from agentledger.sampledata import iter_records
from agentledger.stack_state import read_state
from ingest.framing import Framed, frame_lines
from ingest.pipeline import IngestReport, ingest_stream
from ingest.registry import get_source
from kernel import native
from kernel.config import Settings
from kernel.errors import StackError
from kernel.kafka import BatchSender, committed_offsets, group_lag
from kernel.kafka import producer as make_producer
from kernel.lag import SentRanges
from kernel.priority import yield_to_stitching
from kernel.procs import tune_gc_for_throughput
from kernel.topics import Topics

CHUNK = 5_000
# ``--live-times``: event time advances 10,000 records a second, about as fast as the stack
# takes them in on two cores, so a run spans about as much event time as it takes to play.
LIVE_PACE = 10_000
WAIT_TIMEOUT_S = 600.0  # for the workers to commit past the last event sent


def spool_by_source(
    total: int, run_id: str, directory: Path, pace: float | None = None
) -> list[tuple[str, Path]]:
    """Generated records as JSON lines, in files of one source each under ``directory``, as
    log shippers deliver them: each source in its own order, a file whenever a source has
    ``CHUNK`` records. The run reads them back one at a time, as ``agentledger ingest``
    reads a file, so its memory does not hold the whole run's records. ``pace``: live
    traffic of that many records a second (``iter_records``), else a backlog's."""
    chunks: list[tuple[str, Path]] = []
    pending: dict[str, list[bytes]] = {}

    def spool(source: str, lines: list[bytes]) -> None:
        path = directory / f"{len(chunks):05d}-{source}.jsonl"
        path.write_bytes(b"\n".join(lines))
        chunks.append((source, path))

    for sample in iter_records(total, run_id=run_id, pace=pace):
        lines = pending.setdefault(sample.source, [])
        lines.append(orjson.dumps(sample.record))
        if len(lines) >= CHUNK:
            spool(sample.source, pending.pop(sample.source))
    for source, lines in pending.items():
        spool(source, lines)
    return chunks


def _spooled_apart(
    total: int, run_id: str, directory: Path, pace: float | None
) -> list[tuple[str, Path]]:
    """``spool_by_source`` in a process of its own. Generating traffic takes memory this
    process would keep after it, counted as the stack's: 131 MB for a backlog's 200,000
    records, 619 MB for live traffic's, whose merge in time order holds a minute of sessions'
    records at once."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(spool_by_source, total, run_id, directory, pace).result()


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

    def cpu_now(self) -> dict[str, float]:
        """Each role's CPU time so far (seconds since its process began)."""
        return self._cpu()

    @property
    def cpu_start(self) -> dict[str, float]:
        return dict(self._cpu_start)

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


def phases(
    start: dict[str, float],
    produced: dict[str, float],
    end: dict[str, float],
    intake_s: float,
    tail_s: float,
) -> dict[str, dict[str, Any]]:
    """The run in two phases: the intake (records pushed while the stack takes them in) and
    the tail (the stack finishing what it holds once the pushing is done), each with its
    seconds, each role's CPU and the cores that makes (CPU over seconds; ``all``: every
    role's). On two cores a tail where one role keeps to one core while ``all`` stays
    under two says that role alone bounds the run there."""
    found: dict[str, dict[str, Any]] = {}
    for name, (before, after, seconds) in {
        "intake": (start, produced, intake_s),
        "tail": (produced, end, tail_s),
    }.items():
        cpu = {role: max(0.0, after[role] - before.get(role, 0.0)) for role in sorted(after)}
        cores = {role: spent / seconds for role, spent in cpu.items()} if seconds > 0 else {}
        if cores:
            cores["all"] = sum(cpu.values()) / seconds
        found[name] = {
            "seconds": round(seconds, 3),
            "cpu_seconds": {role: round(spent, 2) for role, spent in cpu.items()},
            "cores": {role: round(used, 2) for role, used in cores.items()},
        }
    return found


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
    ceiling: bool = True,
    live_times: bool = False,
) -> dict[str, Any]:
    """The end-to-end events/s bench (``ceiling``: and the machine's ceiling, see
    ``agentledger.bench_ceiling``; ``live_times``: of live traffic, ``LIVE_PACE``, rather
    than a backlog), or (``contractions``: its options) the contraction latency bench of
    ``agentledger.bench_drift``."""
    own_dir = None
    if settings.data_dir == Settings().data_dir and not (settings.data_dir / "stack.json").exists():
        # Without a running ledger, measure on a fresh one rather than the user's own.
        own_dir = tempfile.TemporaryDirectory(prefix="agentledger-bench-")
        settings = settings.model_copy(update={"data_dir": Path(own_dir.name)})
    if ceiling and settings.writer_password is None and read_state(settings.data_dir) is None:
        # A ledger started here takes a writer password chosen here, so that the insert
        # ceiling can write its scratch database; it lives as long as the run.
        password = SecretStr(secrets.token_urlsafe(24))
        settings = settings.model_copy(update={"writer_password": password})
    try:
        if contractions is not None:
            return await run_contraction_bench(settings, **contractions, console=console)
        if ceiling:
            require_writer(settings)  # before the run, not after it
        pace = LIVE_PACE if live_times else None
        return await _run_events(settings, total, console=console, ceiling=ceiling, pace=pace)
    finally:
        if own_dir is not None:
            own_dir.cleanup()


async def _committed(
    bootstrap: str, topics: Topics, settings: Settings
) -> dict[tuple[str, int], int]:
    """Where the workers' group stands on each partition of the topics it reads."""
    found: dict[tuple[str, int], int] = {}
    for topic in topics.event_topics:
        offsets = await committed_offsets(bootstrap, topics.worker_group, topic, settings)
        found.update({(topic, p): offset for p, offset in offsets.items()})
    return found


async def _run_offsets(
    bootstrap: str,
    topics: Topics,
    starts: dict[tuple[str, int], int],
    events: int,
    settings: Settings,
) -> dict[tuple[str, int], tuple[int, int]]:
    """The offsets ``[start, end)`` of this run's events on each partition: from where the
    workers' group stood before the run to where it stands once it has committed them all
    (it commits just after the ledger write the run waited for)."""
    deadline = time.monotonic() + 30
    while True:
        ends = await _committed(bootstrap, topics, settings)
        ranges = {where: (starts.get(where, 0), end) for where, end in ends.items()}
        if sum(end - start for start, end in ranges.values()) >= events:
            return ranges
        if time.monotonic() > deadline:
            raise StackError(f"the workers did not commit the run's {events} events in 30 s")
        await asyncio.sleep(0.1)


async def _run_events(
    settings: Settings, total: int, *, console: Console | None, ceiling: bool, pace: float | None
) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    batch = f"bench-{run_id}"
    if console:
        console.print(f"generating {total} records…")
    with tempfile.TemporaryDirectory(prefix="agentledger-bench-records-") as spool:
        chunks = await asyncio.to_thread(_spooled_apart, total, run_id, Path(spool), pace)
        result = await _run_chunks(settings, total, chunks, batch, console=console, ceiling=ceiling)
    return {**result, "event_times": "backlog" if pace is None else "live"}


async def _run_chunks(
    settings: Settings,
    total: int,
    chunks: list[tuple[str, Path]],
    batch: str,
    *,
    console: Console | None,
    ceiling: bool,
) -> dict[str, Any]:
    tune_gc_for_throughput()  # as `agentledger ingest` does
    async with running_ledger(settings) as info:
        use_fingerprint_key(settings)
        yield_to_stitching(settings.ingest_nice)  # as `agentledger ingest` does
        topics = Topics(info.topic_prefix)
        # Where the workers' reading begins: the bare consume reads from here to where the
        # workers' reading of this run ends.
        starts = await _committed(info.bootstrap, topics, settings)
        sampler = RssSampler([info.pid])
        stop_sampling = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop_sampling))
        report = IngestReport()
        producer = make_producer(info.bootstrap, settings)
        await producer.start()
        sent = SentRanges()
        sender = BatchSender(producer, sent)
        if console:
            console.print(f"pushing {total} records through {info.bootstrap} → {info.http_url}")
        started = time.perf_counter()
        try:
            offset = 0
            for source_name, path in chunks:
                lines = path.read_bytes().decode().split("\n")
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
        cpu_at_produced = sampler.cpu_now()
        finished = await wait_held(
            info.bootstrap, topics, sent, settings, console, timeout=WAIT_TIMEOUT_S
        )
        cpu_at_finished = sampler.cpu_now()
        lag = await group_lag(info.bootstrap, topics.worker_group, topics.event_topics, settings)
        stop_sampling.set()
        await sampling
        cpu = sampler.cpu_seconds()
        run_phases = phases(
            sampler.cpu_start,
            cpu_at_produced,
            cpu_at_finished,
            produced - started,
            finished - produced,
        )
        scoring = scoring_stats(settings)
        worker = scoring.pop("worker_us_per_event")
        measured = None
        if ceiling and report.events:
            if console:
                console.print("measuring the ceiling: a bare consume, then a bare insert…")
            ranges = await _run_offsets(info.bootstrap, topics, starts, report.events, settings)
            with analyst_store(settings, info) as reader:
                measured = await measure_ceiling(
                    settings,
                    bootstrap=info.bootstrap,
                    ranges=ranges,
                    events=report.events,
                    reader=reader,
                    sql_url=info.sql_url,
                    ingest_batch=batch,
                )
    seconds = finished - started
    events_per_s = report.events / seconds
    return {
        "events": report.events,
        "records": report.accepted,
        "rejected": report.rejected,
        "seconds": round(seconds, 3),
        "events_per_s": round(events_per_s, 1),
        "produce_seconds": round(produced - started, 3),
        "lag_end": lag,
        "peak_rss_mb": round(sampler.peak / 2**20, 1),
        "peak_rss_mb_by_process": {
            role: round(rss / 2**20, 1) for role, rss in sorted(sampler.peak_by_role.items())
        },
        "cpu_seconds": cpu,
        "phases": run_phases,
        **({"ceiling": ceiling_figures(measured, events_per_s)} if measured else {}),
        "drift_scoring": settings.drift_scoring,
        **(scoring if settings.drift_scoring else {}),
        "worker_us_per_event": worker,
        # Whether the hot path ran compiled (every process of the run finds the same build).
        "compiled_hot_path": native.STATUS.active,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
