"""``agentledger bench --contractions``: how long a drifting action takes to become a
contraction, while other traffic flows.

Drifting sessions from the project's scenario generator are played into the running ledger
through the ingest path (``ledger.raw.mcp`` and ``ledger.events.calls``), each up to and including
its first drifting call, one every ``spacing`` seconds. Meanwhile generated background
records flow at ``background_eps`` events a second: parsed, their raw records produced and
their events encoded before the clock starts, so that their cost at run time is the broker's
and the ledger's, not that of the ingest that would run elsewhere. A consumer reads
``ledger.contractions`` and matches each contraction to its session by the session's token
``jti``: the latency is from the moment the drifting call's record is handed to the
producer to the moment its contraction is read off the topic.

The background is live traffic by default (``--live-times``): as many records a second of
event time as are played, in time order within each source, from a directory of as many
people as that rate needs (``sampledata.generator.people_for``), each source's blocks
merged with the others' by time. ``--backlog-times`` plays the generator's own spacing
instead, a backlog's: sessions about 42 s apart, each one's records together, so a run
spans days of event time, and many of its events, and the drifting sessions' (whose times
are now), arrive past the re-stitch window.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import orjson
from rich.console import Console

from agentledger.client import api_key, post_declaration, running_ledger, use_fingerprint_key
from agentledger.sampledata import iter_records
from ingest.framing import Framed, frame_lines
from ingest.pipeline import SCHEMA_HEADERS, IngestReport, Parsed, parse_all, produce, send_raw
from ingest.registry import get_source
from kernel import contraction as contraction_codec
from kernel import native
from kernel.config import Settings
from kernel.declaration import parse_declaration
from kernel.events import KEY_JTI, now_utc
from kernel.kafka import BatchSender, group_lag, security_options
from kernel.kafka import producer as make_producer
from kernel.topics import Topics
from models.scenarios import RenderedSession, generate, render

TICK_S = 0.1  # the background is produced in a block every tick
# Background only, before the first drifting session (``--warmup``).
WARMUP_S = 3.0


@dataclass(slots=True)
class _Drifting:
    """One drifting session: its records before the drifting call, and that call."""

    rendered: RenderedSession
    before: list[dict[str, Any]]
    call: dict[str, Any]
    sent_at: float | None = None
    sent_wall: float = 0.0  # the same moment by the wall clock, which the worker's decision bears
    early: bool = False  # contracted before its drifting call was sent (a false positive)
    latency_ms: float | None = None


@dataclass(slots=True)
class _Background:
    blocks: list[tuple[str, list[Parsed]]] = field(default_factory=list)
    events: int = 0


async def _encoded(
    sender: BatchSender, topics: Topics, background: _Background, run_id: str
) -> list[tuple[str, list[tuple[bytes | None, bytes]]]]:
    """Each block's raw records produced, and its events encoded for the topic they go to."""
    blocks = []
    for source_name, block in background.blocks:
        source = get_source(source_name)
        events = await send_raw(sender, topics.raw(source_name), source, block, f"bg-{run_id}")
        blocks.append((topics.events_of(source.tool_traffic), events))
    return blocks


def _drifting_sessions(count: int, seed: int, prefix: str) -> list[_Drifting]:
    found: list[_Drifting] = []
    start = now_utc()
    for scenario in generate(seed, count * 2, drift_share=1.0):
        rendered = render(scenario, start, server_prefix=prefix)
        first = next((c for c in rendered.calls if c.drift), None)
        if first is None:
            continue
        index = next(
            i
            for i, record in enumerate(rendered.records)
            if record["server"] == first.server
            and record["message"].get("id") == first.rpc_id
            and record["message"].get("method") == "tools/call"
        )
        found.append(_Drifting(rendered, rendered.records[:index], rendered.records[index]))
        if len(found) == count:
            break
    return found


def _frames(source_name: str, lines: list[str], name: str) -> Iterator[Framed]:
    for item in frame_lines(get_source(source_name), lines, name):
        if isinstance(item, Framed):
            yield item


BACKGROUND_SOURCES = ("okta", "cloudtrail", "mcp")  # what the sample generator writes


def background_sources_of(text: str) -> tuple[str, ...]:
    """``--background-sources``: comma-separated, each one of ``BACKGROUND_SOURCES``."""
    sources = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in sources if s not in BACKGROUND_SOURCES]
    if unknown or not sources:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'none given'}: choose among {', '.join(BACKGROUND_SOURCES)}",
            param_hint="--background-sources",
        )
    return sources


def _background(
    total: int,
    run_id: str,
    per_block: int,
    sources: tuple[str, ...] = BACKGROUND_SOURCES,
    eps: float | None = None,
) -> _Background:
    """``total`` generated records of ``sources``, parsed, in blocks of about ``per_block``
    events of one source, their event times ``eps`` records a second of event time (the
    generator's own spacing if None)."""
    background = _Background()
    pending: dict[str, list[str]] = {}
    kept = 0
    # Event times from a minute ago. At the generator's own spacing (``eps`` None: sessions
    # about 42 s apart) a run's background spans days of event time: the stitcher's
    # watermark runs days ahead of the drifting sessions, and their events, and many of the
    # background's, arrive past the re-stitch window, each labelled and let go of at
    # once (a backlog's path, ``Stitcher._let_go_late``). With ``eps`` (``--live-times``,
    # the default) event time advances as fast as the background is played, as live
    # traffic's does. The generator's sessions mix the sources: of fewer sources, more
    # sessions are made, and what is kept spans that much more event time.
    start = now_utc() - timedelta(minutes=1)
    for sample in iter_records(
        total * len(BACKGROUND_SOURCES), run_id=run_id, start=start, pace=eps
    ):
        if sample.source not in sources:
            continue
        pending.setdefault(sample.source, []).append(orjson.dumps(sample.record).decode())
        kept += 1
        if kept >= total:
            break
    for source_name, lines in pending.items():
        source = get_source(source_name)
        parsed = [
            p
            for p in parse_all(
                source, _frames(source_name, lines, f"bg-{source_name}"), IngestReport()
            )
            if isinstance(p, Parsed)
        ]
        block: list[Parsed] = []
        events = 0
        for item in parsed:
            block.append(item)
            events += len(item.events)
            if events >= per_block:
                background.blocks.append((source_name, block))
                background.events += events
                block, events = [], 0
        if block:
            background.blocks.append((source_name, block))
            background.events += events
    # Interleave the sources as shippers' batches arrive: each source's in its own order,
    # the sources merged by the time of a block's first event (the same order every run).
    background.blocks.sort(key=lambda item: (_first_time(item[1]), item[0]))
    return background


def _first_time(block: list[Parsed]) -> datetime:
    return min(
        (item.events[0].event_time for item in block if item.events),
        default=datetime.min.replace(tzinfo=UTC),
    )


class _Running:
    """A coroutine run in a thread of its own, on its own event loop; it sets the event it
    is given once it is under way."""

    def __init__(self, work: Callable[[threading.Event], Coroutine[Any, Any, None]]) -> None:
        self._started = threading.Event()
        self._error: BaseException | None = None

        def run() -> None:
            try:
                asyncio.run(work(self._started))
            except BaseException as exc:  # handed to the caller in ``finished``
                self._error = exc
                self._started.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    async def ready(self) -> None:
        await asyncio.to_thread(self._started.wait, 60)
        if self._error is not None:
            raise self._error

    async def finished(self) -> None:
        await asyncio.to_thread(self._thread.join, 60)
        if self._error is not None:
            raise self._error


def _parts(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    return {"p50": round(_percentile(values, 0.5), 1), "p99": round(_percentile(values, 0.99), 1)}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def run_contraction_bench(
    settings: Settings,
    *,
    sessions: int,
    background_eps: int,
    spacing_s: float,
    console: Console | None,
    background_sources: tuple[str, ...] = BACKGROUND_SOURCES,
    warmup_s: float = WARMUP_S,
    live_times: bool = True,
) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    run_id = uuid.uuid4().hex[:8]
    duration = warmup_s + sessions * spacing_s + 2.0
    if console:
        console.print(f"preparing {sessions} drifting sessions and {duration:.0f} s of background…")
    drifting = _drifting_sessions(sessions, seed=11, prefix=f"b{run_id}-")
    by_jti = {d.rendered.jti: d for d in drifting}
    mcp = get_source("mcp")

    async with running_ledger(settings) as info:
        use_fingerprint_key(settings)  # parsing redacts tokens with the deployment's key
        per_block = max(1, round(background_eps * TICK_S))
        background = _background(
            int(background_eps * duration * 1.05),
            run_id,
            per_block,
            background_sources,
            eps=background_eps if live_times else None,
        )
        topics = Topics(info.topic_prefix)
        key = api_key(settings, info)
        producer = make_producer(info.bootstrap, settings)
        await producer.start()
        sender = BatchSender(producer)
        blocks = await _encoded(sender, topics, background, run_id)
        contracted: list[float] = []
        decided: list[float] = []  # sent to decided (the rest: published and read)
        stop = threading.Event()
        produced = [0]
        played_s = [0.0]  # from the first block of background to the last sent

        async def read_contractions(ready: threading.Event) -> None:
            reader = AIOKafkaConsumer(
                bootstrap_servers=info.bootstrap,
                enable_auto_commit=False,
                fetch_max_wait_ms=10,  # as an enforcement point reads it: at once
                **security_options(settings),
            )
            await reader.start()
            try:
                parts = [TopicPartition(topics.contractions, p) for p in range(settings.partitions)]
                reader.assign(parts)
                await reader.seek_to_end(*parts)
                ready.set()
                while not stop.is_set():
                    batch = await reader.getmany(timeout_ms=50)
                    now = time.perf_counter()
                    for records in batch.values():
                        for message in records:
                            _matched(contraction_codec.decode(message.value), now)
            finally:
                await reader.stop()

        def _matched(contraction: Any, now: float) -> None:
            for key_type, value in contraction.keys:
                found = by_jti.get(value) if key_type == KEY_JTI else None
                if found is None or found.latency_ms is not None or found.early:
                    continue
                if found.sent_at is None:
                    found.early = True
                else:
                    found.latency_ms = (now - found.sent_at) * 1000
                    contracted.append(found.latency_ms)
                    at = contraction.decided_at.timestamp()
                    decided.append((at - found.sent_wall) * 1000)

        async def play_background(ready: threading.Event) -> None:
            own = make_producer(info.bootstrap, settings)
            await own.start()
            try:
                own_sender = BatchSender(own)
                ready.set()
                began = time.perf_counter()
                for tick, (topic, events) in enumerate(blocks):
                    if stop.is_set():
                        return
                    delay = began + tick * TICK_S - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await own_sender.send_all(topic, events, headers=SCHEMA_HEADERS)
                    produced[0] += len(events)
                    played_s[0] = time.perf_counter() - began
            finally:
                await own.stop()

        report = IngestReport()

        async def play_drifting() -> None:
            await asyncio.sleep(warmup_s)
            for number, item in enumerate(drifting):
                # Declared first (the declarer speaks before its agent acts), then the
                # session's earlier traffic, then, half a second on, the drifting call.
                if item.rendered.declaration is not None:
                    declaration = parse_declaration(item.rendered.declaration)
                    await asyncio.to_thread(post_declaration, info.http_url, declaration, key)
                lines = [orjson.dumps(r).decode() for r in item.before]
                await produce(
                    sender,
                    topics,
                    mcp,
                    parse_all(mcp, _frames("mcp", lines, f"drift-{number}"), report),
                    ingest_batch=f"drift-{run_id}",
                )
                await asyncio.sleep(spacing_s / 2)
                call = [orjson.dumps(item.call).decode()]
                item.sent_at, item.sent_wall = time.perf_counter(), time.time()
                await produce(
                    sender,
                    topics,
                    mcp,
                    parse_all(mcp, _frames("mcp", call, f"drift-{number}-call"), report),
                    ingest_batch=f"drift-{run_id}",
                )
                await asyncio.sleep(spacing_s / 2)

        # The reader and the background each in a thread of their own, with their own event
        # loop, as an enforcement point and other producers are processes of their own: on
        # this loop, a block of background being sent would hold back both the drifting
        # call's send and the contraction's read.
        reading = _Running(read_contractions)
        await reading.ready()
        playing = _Running(play_background)
        await playing.ready()
        started = time.perf_counter()
        try:
            await play_drifting()
            deadline = time.perf_counter() + 10.0
            while time.perf_counter() < deadline and any(
                d.latency_ms is None and not d.early for d in drifting
            ):
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await playing.finished()
            await reading.finished()
            await producer.stop()
        seconds = time.perf_counter() - started
        lag = await group_lag(info.bootstrap, topics.worker_group, topics.event_topics, settings)
        scoring = scoring_stats(settings)

    missed = [d for d in drifting if d.latency_ms is None and not d.early]
    return {
        "contraction_latency_ms": {
            "p50": round(_percentile(contracted, 0.5), 1) if contracted else None,
            "p99": round(_percentile(contracted, 0.99), 1) if contracted else None,
            "max": round(max(contracted), 1) if contracted else None,
            "n": len(contracted),
        },
        # Where the latency went: from the drifting call's send to the worker's decision
        # (fetched, waiting for the batch being stitched, then its own batch decoded, looked
        # up and stitched), and the rest (its batch scored, the contraction published, read).
        "contraction_latency_parts_ms": {
            "to_decision": _parts(decided),
            "decision_to_read": _parts(
                [total - part for total, part in zip(contracted, decided, strict=True)]
            ),
        },
        "drifting_sessions": len(drifting),
        "contracted_before_the_drifting_call": sum(d.early for d in drifting),
        "not_contracted": len(missed),
        "drifting_records_rejected": report.rejected,
        # While it played: once the drifting calls are sent, the bench waits up to 10 s
        # more for their contractions, the background over.
        "background_eps": round(produced[0] / played_s[0], 1) if played_s[0] else 0.0,
        "background_events": produced[0],
        "background_eps_asked": background_eps,
        "background_sources": list(background_sources),
        "background_times": "live" if live_times else "backlog",
        "warmup_s": warmup_s,
        "seconds": round(seconds, 2),
        "lag_end": lag,
        **scoring,
        "compiled_hot_path": native.STATUS.active,
    }


WORKER_PARTS = ("decode", "lookup", "stitch", "columns", "write")  # as ``SinkStats.timings``


def scoring_stats(settings: Settings) -> dict[str, Any]:
    """The workers' scoring counts and where their time went (each keeps them in
    ``run/worker-N.scoring.json``)."""
    scored = model_ns = stage_ns = flagged = contractions = 0
    events = asked = duplicates = writes = inserts = 0
    spent = dict.fromkeys(WORKER_PARTS, 0.0)  # µs in all, summed over the workers
    for path in (settings.data_dir / "run").glob("worker-*.scoring.json"):
        with contextlib.suppress(OSError, orjson.JSONDecodeError, KeyError, TypeError):
            stats = orjson.loads(path.read_bytes())
            worker = stats.get("worker") or {}
            n_events = int(worker.get("events", 0))
            events += n_events
            asked += int(worker.get("asked", 0))
            duplicates += int(worker.get("duplicates", 0))
            writes += int(worker.get("writes", 0))
            inserts += int(worker.get("inserts", 0))
            for part in WORKER_PARTS:
                spent[part] += float(worker.get(f"{part}_us_per_event", 0.0)) * n_events
            if "scored" not in stats:
                continue  # scoring off
            n = int(stats["scored"])
            scored += n
            flagged += int(stats["flagged"])
            contractions += int(stats["contractions"])
            model_ns += int(stats["model_us_per_action"] * 1000 * n)
            stage_ns += int(stats["stage_us_per_action"] * 1000 * n)
    per = max(scored, 1)
    per_event = max(events, 1)
    return {
        "scoring_us_per_action": round(model_ns / per / 1000, 2),
        "scoring_stage_us_per_action": round(stage_ns / per / 1000, 2),
        "actions_scored": scored,
        "actions_flagged": flagged,
        "contractions": contractions,
        # Per event the workers read: decode, lookup, stitch and score are the stitching
        # worker's own time; ledger_write is the wall time of its writes, which run beside.
        "worker_us_per_event": {
            **{part: round(spent[part] / per_event, 2) for part in WORKER_PARTS[:3]},
            "score": round(stage_ns / per_event / 1000, 2),
            # The Arrow columns of each batch's rows, built on the stitching thread.
            "columns": round(spent["columns"] / per_event, 2),
            "ledger_write": round(spent["write"] / per_event, 2),
            "events": events,
            "asked_the_ledger": asked,  # events the lookup asked about (``RecentIds``)
            # Events skipped as held already: replays, and records repeated in the input.
            "duplicates_skipped": duplicates,
            # The ledger writes those took, and their inserts (one a table with rows each):
            # each insert costs the ledger a fixed few milliseconds, whatever its rows.
            "ledger_writes": writes,
            "ledger_inserts": inserts,
        },
    }
