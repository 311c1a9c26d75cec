"""The hot path: read ``ledger.events`` in batches, stitch, write the ledger, then commit.

It reads with aiokafka ``getmany`` below Faust's per-event layer (Faust's per-message
machinery tops out far below the broker); the Faust worker manages it as a service.
Offsets are committed only after the ledger write, and the ledger write skips event ids it
already holds, so a crash between the two replays the batch and adds nothing twice. An
outage pauses the pipeline until the ledger is back; rows the ledger refuses go to the
dead-letter topic and the rest of their batch is written (``processors.writes``); a write
stopped part-way is restored with the counters its sessions had before it
(``processors.recount``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import partial
from typing import Any

import orjson

from ingest.base import parse_time
from ingest.deadletter import dead_letter
from kernel import codec
from kernel.contraction import Contraction
from kernel.errors import RecordError, StoreError
from kernel.events import ch_ts as ts
from kernel.kafka import batch_consumer
from kernel.topics import Topics
from ledger.contractions import recent_contractions
from ledger.projections import newest_event_time, pairing_rows, recorded_versions, stitch_rows
from ledger.replay import recent_trail_events
from ledger.rows import DriftOutput, StitchOutput
from ledger.store import LedgerStore
from processors.declared import read_declarations
from processors.evidence import EvidenceChain
from processors.federation import restore_web_identities
from processors.labels import signature
from processors.ownership import Ownership
from processors.pairing import restore_pairs
from processors.rebuild import reparse, reparsed
from processors.recount import restored
from processors.scoring import DriftStage
from processors.sessions import StitchState, sweep_mark
from processors.sink_parts import (
    BatchCollector,
    EventKey,
    Pending,
    ReadAhead,
    RecentIds,
    SinkStats,
    answered,
    event_key,
    event_key_of_message,
    observed_ids,
    publish_contractions,
    read_ahead,
)
from processors.stitch import Stitcher
from processors.writes import (
    LedgerWrite,
    Refused,
    refused_entry,
    retrying,
    send_until_taken,
    write_until_taken,
)

log = logging.getLogger(__name__)
# Requests and results held again for pairing at a restart, at most (the newest of the
# session window; older results stay listed as unpaired).
PAIRING_RESTORE_MAX = 200_000
WRITES_IN_FLIGHT = 8  # batches stitched and waiting for their ledger write, at most
# A write of fewer events waits up to WRITE_LINGER_S for the next batches to join it: each
# insert costs the ledger a fixed few milliseconds a table (a part to write, then merge),
# so a stream of small batches is written in fewer, larger inserts. Contractions do not
# wait: they are published as each batch is scored.
WRITE_MIN_EVENTS = 10_000
WRITE_LINGER_S = 0.3


def restore_state(
    store: LedgerStore, window: timedelta, restitch: timedelta = timedelta(minutes=15)
) -> StitchState:
    """The stitch state the ledger holds, to go on where it stands: what the stitcher that
    wrote it held, for a state holds what its watermark says (``StitchState.advance``)."""
    newest = newest_event_time(store)
    watermark = parse_time(newest, "event_time") if newest is not None else None
    mark = sweep_mark(watermark, restitch) if watermark is not None else None
    rows = restored(
        stitch_rows(store, ts(mark - restitch) if mark is not None else None),
        partial(recorded_versions, store),
    )
    labels = {row["action_id"]: signature(row) for row in rows.open_labels}
    for row in rows.open_actions:
        row["signature"] = labels.get(row["action_id"], "")
    since = mark - window if mark is not None else None  # pairs held: the session window
    state = StitchState.restore(
        window=window,
        restitch=restitch,
        keys=rows.keys,
        aliases=rows.aliases,
        sessions=rows.sessions,
        pending_actions=[
            row
            for row in rows.pending_actions
            if since is None or parse_time(row["event_time"], "event_time") < since
        ],
        open_actions=rows.open_actions,
    )
    restore_web_identities(state, rows.web_identities, rows.open_actions)
    if since is not None and mark is not None:
        records, calls = pairing_rows(store, ts(since), PAIRING_RESTORE_MAX)
        held = reparsed(records)  # a record that no longer parses is not held again
        restore_pairs(state, held, calls, settled=mark - restitch, given_up=since)
        state.watermark, state.swept_at = watermark, mark
    return state


# The most calls and results read back to restore the drift trails after a restart (the
# newest of the session window; sessions older than those are scored from then on). Each
# carries its raw record, a few KB: this bounds what a start holds in memory at once.
TRAIL_RESTORE_LIMIT = 50_000


def restore_drift(
    store: LedgerStore,
    state: StitchState,
    drift: DriftStage,
    since: str,
    limit: int = TRAIL_RESTORE_LIMIT,
) -> int:
    """What the drift stage knew before a restart, from the ledger: the contractions decided
    since ``since`` and the calls and results its sessions' trails were fed. Returns the
    events fed to the trails."""
    drift.restore(recent_contractions(store, since))
    events = []
    for row in recent_trail_events(store, since, limit):
        try:
            envelope = reparse(row)
        except (RecordError, orjson.JSONDecodeError):
            continue  # counted by a rebuild; a trail goes on without it
        events.append((envelope.event, row["session_id"], row["access"]))
    return drift.restore_trails(state, events)


class EventSink:
    """Decode, de-duplicate, stitch and store batches of Avro events (``run_sink`` drives it)."""

    def __init__(
        self,
        store: LedgerStore,
        topics: Topics,
        stitcher: Stitcher,
        drift: DriftStage | None = None,
        evidence: EvidenceChain | None = None,
    ) -> None:
        self.store = store
        self.topics = topics
        self.stitcher = stitcher
        self.drift = drift
        self.evidence = evidence  # chains each raw event to its stream's last (tamper evidence)
        self.recent = RecentIds()
        self.stats = SinkStats()

    def decode(
        self, messages: Iterable[Any]
    ) -> tuple[list[codec.Envelope], list[dict[str, Any]], dict[str, tuple[int, int]]]:
        """Envelopes, dead-letter entries for messages that do not decode, and each event's
        partition and offset (the first, for an event sent twice)."""
        envelopes: list[codec.Envelope] = []
        rejected: list[dict[str, Any]] = []
        where: dict[str, tuple[int, int]] = {}
        for msg in messages:
            try:
                version = codec.writer_version(msg.headers)
                envelopes.append(env := codec.decode(msg.value, version))
                where.setdefault(env.event.event_id, (msg.partition, msg.offset))
            except RecordError as exc:
                position = f"{msg.topic}/{msg.partition}/{msg.offset}"
                rejected.append(
                    dead_letter(
                        exc.located(source=msg.topic, position=position),
                        msg.value.hex()[:4096],
                    )
                )
        return envelopes, rejected, where

    def new_events(
        self, envelopes: list[codec.Envelope], assignment: Iterable[Any] = ()
    ) -> list[codec.Envelope]:
        """The envelopes whose events the ledger does not hold yet. Blocking (it reads the
        chain heads of partitions newly in ``assignment`` too). ``run_sink`` takes the same
        steps, asking the ledger while the batch is decoded."""
        keys = self.keys_to_ask([event_key(env) for env in envelopes])
        held = self.own_and_look_up(assignment, keys)
        observed = observed_ids(envelopes, self.recent)
        if observed:
            held |= self.store.existing_event_ids(observed)
        return self.fresh(envelopes, held)

    def keys_to_ask(self, keys: Iterable[EventKey | None]) -> list[EventKey]:
        """The events to ask the ledger about (id and time): each id once, none stitched
        lately."""
        recent = self.recent
        asked: dict[str, EventKey] = {}
        for key in keys:
            if key is not None and key[0] not in recent and key[0] not in asked:
                asked[key[0]] = key
        return list(asked.values())

    def own_and_look_up(self, assignment: Iterable[Any], keys: list[EventKey]) -> set[str]:
        """Take the partitions assigned now (the tamper evidence reads a new one's chain
        head), then return which of the events ``keys`` the ledger holds. Blocking; it
        touches nothing the decode does, so it runs in a thread while the batch is decoded."""
        if self.evidence is not None:
            self.evidence.own(assignment)
        return self.store.held_events(keys) if keys else set()

    def fresh(self, envelopes: list[codec.Envelope], held: set[str]) -> list[codec.Envelope]:
        """Each event of ``envelopes`` once, but those the ledger holds (``held``) and those
        stitched lately."""
        fresh: dict[str, codec.Envelope] = {}
        recent = self.recent
        for env in envelopes:
            event_id = env.event.event_id
            if event_id not in fresh and event_id not in recent and event_id not in held:
                fresh[event_id] = env
        self.stats.duplicates += len(envelopes) - len(fresh)
        return list(fresh.values())

    def stitch(
        self, fresh: list[codec.Envelope], where: dict[str, tuple[int, int]] | None = None
    ) -> tuple[StitchOutput, DriftOutput, list[Contraction]]:
        """Stitch a batch, then score its actions (when scoring is on). From now on the
        batch's events count as held: its write is retried until the ledger takes it, so a
        replay arriving before that is skipped too."""
        began = time.perf_counter_ns()
        output = self.stitcher.process(fresh)
        self.stats.stitch_ns += time.perf_counter_ns() - began
        if self.evidence is not None and where is not None:
            self.evidence.chain(output.raw_events, where)
        self.recent.add_all(env.event.event_id for env in fresh)
        if self.drift is None:
            return output, DriftOutput(), []
        scored, contractions = self.drift.score(
            self.stitcher.state, fresh, output.actions, output.raw_events, time.time_ns()
        )
        return output, scored, contractions

    def ledger_write(self, output: StitchOutput, scored: DriftOutput | None = None) -> LedgerWrite:
        """Every table's rows as one write (``processors.writes``); safe to repeat (rows
        replace rows of the same id). The drift rows go before the stitch rows, whose
        ``raw_events`` mark a batch done."""
        return LedgerWrite((scored.tables() if scored is not None else []) + output.tables())

    def written(self, output: StitchOutput, refused: list[Refused]) -> None:
        """The ledger holds ``output`` but the ``refused`` rows. A refused raw event is
        still handed to the tamper evidence: its dead letter keeps its place in the chain
        (``processors.writes.refused_entry``), so its stream's digests go on over it."""
        self.stats.written += len(output.raw_events) - sum(r.table == "raw_events" for r in refused)
        if self.evidence is not None:
            self.evidence.written(output.raw_events)


async def run_sink(
    sink: EventSink,
    *,
    bootstrap: str,
    batch_max: int,
    batch_wait_ms: int,
    stop: asyncio.Event,
    on_ready: Any = None,
    security: dict[str, Any] | None = None,
    on_batch: Callable[[bool], None] | None = None,
    fetch_wait_ms: int = 20,
    ownership: Ownership | None = None,
    idle_settle_s: float = 0,
) -> None:
    """Consume ``ledger.events`` until ``stop`` is set (``security``: aiokafka SASL/TLS).
    With ``ownership``, the declarations too, and only while this worker owns the stream
    (``processors.ownership``: however many workers run, one stitches). After
    ``idle_settle_s`` seconds with nothing read (0: never), what the stream sent is taken
    as all there is (``Stitcher.settle_idle``)."""
    from aiokafka import AIOKafkaProducer

    security = security or {}
    topics = [sink.topics.events]
    options: dict[str, Any] = {}
    if ownership is not None:
        topics.append(sink.topics.declared)
        options["partition_assignment_strategy"] = (ownership.assignor,)
    consumer = batch_consumer(
        bootstrap,
        sink.topics.worker_group,
        security=security,
        fetch_max_wait_ms=fetch_wait_ms,
        **options,
    )
    consumer.subscribe(topics, listener=ownership)
    # No linger: a contraction goes out the moment its batch is scored.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, **security)
    await consumer.start()
    await producer.start()
    # Ledger writes run in a task of their own, in order, while the next batches are read,
    # stitched and scored: a drifting action that arrives during a write is contracted
    # without waiting for it. A batch's offsets are committed only once its write is done;
    # at most ``WRITES_IN_FLIGHT`` batches wait to be written, so a slow ledger slows the
    # reading instead of filling memory.
    writes: asyncio.Queue[Pending | None] = asyncio.Queue(WRITES_IN_FLIGHT)

    async def write_in_order() -> None:
        while (item := await writes.get()) is not None:
            # What queued up while the last write ran goes in one write: when the stream
            # outruns the ledger, writes grow instead of multiplying (each insert is a part
            # the ledger has to merge), while contractions still go out batch by batch.
            done = False
            linger_until = time.monotonic() + WRITE_LINGER_S
            while True:
                while not writes.empty():
                    more = writes.get_nowait()
                    if more is None:
                        done = True
                        break
                    item = item.absorb(more)
                if done or item.events >= WRITE_MIN_EVENTS or stop.is_set():
                    break
                if time.monotonic() >= linger_until:
                    break
                await asyncio.sleep(0.02)
            if item.output is not None:
                began = time.perf_counter_ns()
                write = sink.ledger_write(item.output, item.scored)
                refused = await write_until_taken(write, sink.store, stop)
                sink.stats.write_ns += time.perf_counter_ns() - began
                sink.written(item.output, refused)
                if refused:
                    # Delivered before the offsets are committed: a crash cannot lose them.
                    where = item.where or {}
                    entries = [refused_entry(r, where, sink.topics.events) for r in refused]
                    await send_until_taken(producer, sink.topics.dlq, entries, stop)
                    sink.stats.dead_lettered += len(entries)
                    log.warning(
                        "%d rows the ledger refused went to %s; the rest of the batch is written",
                        len(entries),
                        sink.topics.dlq,
                    )
            if item.offsets:  # an idle stream's settling read nothing to commit
                await consumer.commit(item.offsets)
            if on_batch is not None:
                on_batch(writes.empty())  # whether the writer has caught up
            if done:
                return

    writer = asyncio.create_task(write_in_order())

    async def queue_write(item: Pending | None) -> None:
        """Wait for room in the queue, unless the writer has stopped (its error is raised)."""
        put = asyncio.ensure_future(writes.put(item))
        await asyncio.wait({put, writer}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            writer.result()

    collector = BatchCollector()
    # Not settled yet: exchanges restored waiting are decided too if nothing comes.
    last_read, settled = time.monotonic(), False
    ahead: ReadAhead | None = None
    try:
        ready = False
        while not stop.is_set():
            early, ahead = ahead, None
            if early is not None:
                batch = early.batch
            else:
                batch = await consumer.getmany(timeout_ms=batch_wait_ms, max_records=batch_max)
            if ownership is not None:
                ownership.check()
            if not ready and consumer.assignment():
                ready = True
                if on_ready is not None:
                    on_ready()
            messages = [m for records in batch.values() for m in records]
            if not messages:
                collector.when_idle()
                idle = time.monotonic() - last_read
                owns = ownership is None or ownership.owner  # a standby stitches nothing
                if owns and not settled and idle_settle_s and idle >= idle_settle_s:
                    settled = True
                    output = sink.stitcher.settle_idle()
                    if any(rows for _, rows in output.tables()):
                        await queue_write(Pending({}, output))
                continue
            last_read, settled = time.monotonic(), False
            pending = Pending({tp: records[-1].offset + 1 for tp, records in batch.items()})
            pending.events = len(messages)
            rejected = []
            if ownership is not None:
                await ownership.wait()
                declared = [m for m in messages if m.topic == sink.topics.declared]
                if declared:
                    messages = [m for m in messages if m.topic != sink.topics.declared]
                    rejected = _declare(sink, declared, pending)
            # The ledger is asked which of the batch's events it holds while the batch is
            # decoded: their ids and times are read off the messages first
            # (``codec.event_key_of``).
            loop = asyncio.get_running_loop()
            owning = None
            if early is not None:  # asked while the last batch was stitched
                asked, look_up, answer = early.asked, early.look_up, early.answer
                if sink.evidence is not None:  # partitions newly assigned: their chain heads
                    owning = loop.run_in_executor(None, sink.evidence.own, consumer.assignment())
            else:
                asked = sink.keys_to_ask(event_key_of_message(m) for m in messages)
                look_up = partial(sink.own_and_look_up, consumer.assignment(), asked)
                answer = loop.run_in_executor(None, look_up)
            began = time.perf_counter_ns()
            envelopes, undecoded, where = sink.decode(messages)
            sink.stats.decode_ns += time.perf_counter_ns() - began
            rejected += undecoded
            if rejected:
                # Delivered before the offsets are committed: a crash cannot lose them.
                await send_until_taken(producer, sink.topics.dlq, rejected, stop)
                sink.stats.dead_lettered += len(rejected)
            began = time.perf_counter_ns()  # the wait for the answer the decode did not hide
            held = await answered(answer, look_up, stop)
            if owning is not None:
                await owning
            asked_ids = {event_id for event_id, _ in asked}
            unasked = sink.keys_to_ask(
                event_key(env) for env in envelopes if env.event.event_id not in asked_ids
            )
            if unasked:  # keys only the decode could read (an older writer's schema)
                held |= await retrying(
                    partial(sink.store.held_events, unasked), "ledger lookup", stop
                )
            observed = observed_ids(envelopes, sink.recent)
            if observed:  # times of ingest's own: asked by id
                held |= await retrying(
                    partial(sink.store.existing_event_ids, observed), "ledger lookup", stop
                )
            fresh = sink.fresh(envelopes, held)
            sink.stats.lookup_ns += time.perf_counter_ns() - began
            if fresh:
                ahead = await read_ahead(
                    consumer,
                    batch_max,
                    sink.keys_to_ask,
                    sink.store.held_events,
                    sink.topics.declared if ownership is not None else None,
                )
                # Stitch once; only the write is retried, so a retry never counts twice.
                output, scored, contractions = sink.stitch(fresh, where)
                if contractions:
                    # Published before the ledger write: an enforcement point acts on the
                    # drift now, not after the write. A crash before the commit publishes
                    # the same contraction ids again, which consumers keep once.
                    await publish_contractions(producer, sink.topics, contractions)
                pending.absorb(Pending({}, output, scored))  # after its declarations
                pending.where = where
            await queue_write(pending)
            collector.after_batch(len(messages))
            sink.stats.batches += 1
            sink.stats.consumed += len(messages)
            log.info(
                "batch of %d events; so far %d written, %d duplicates skipped",
                len(messages),
                sink.stats.written,
                sink.stats.duplicates,
            )
        await queue_write(None)
        await writer  # what was read is written and committed before the sink stops
    finally:
        if ahead is not None:
            ahead.answer.cancel()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, StoreError):
            await writer
        await producer.stop()
        await consumer.stop()


def _declare(sink: EventSink, messages: list[Any], pending: Pending) -> list[dict[str, Any]]:
    """Apply the declarations among a batch's messages, ahead of its events; their rows go
    in the batch's write. Returns dead-letter entries for those that do not parse."""
    declarations, rejected = read_declarations(messages)
    for position, declaration in declarations:
        pending.absorb(Pending({}, sink.stitcher.declare(declaration), DriftOutput()))
        log.info("session %s declared at %s", declaration.session_id, position)
    return rejected
