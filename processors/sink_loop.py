"""The worker's loop over the sink (``processors.sink``): read batches, stitch and score
them, publish contractions, write the ledger, then commit.

Two lanes. Agents' tool traffic (``ledger.events.calls``: MCP calls and what they read) and
the declarations are the lane a drifting call travels, and it is never made to wait behind
the rest (``ledger.events``, the bulk of any deployment's traffic). Whatever the lane has
fetched is taken before the next batch of the rest, and a batch of the rest is stitched in
slices of ``slice_events``, with the lane taken between slices: a drifting call waits for
one slice at most, not for a whole batch of thousands, before it is scored and contracted.
The lane's own batches are stitched in slices as well, each slice's contractions published
as soon as it is scored: a call does not wait for the rest of its batch either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from kernel.errors import StoreError
from kernel.kafka import batch_consumer
from ledger.drift_rows import DriftOutput
from processors.declared import read_declarations
from processors.ownership import Ownership
from processors.sink import EventSink
from processors.sink_parts import (
    BatchCollector,
    Pending,
    ReadAhead,
    SinkStats,
    WriteQueue,
    answered,
    answered_now,
    event_key,
    in_arrival_order,
    observed_ids,
    read_ahead,
    send_contractions,
)
from processors.writes import refused_entry, retrying, send_until_taken, write_until_taken

log = logging.getLogger(__name__)
# Stitched events waiting for their ledger write, at most: this many batches' worth. The
# bound is on events, not on batches: a drifting call read alone, or a batch cut short to
# take the lane, is one small item, and with a bound of eight items a burst of them filled
# the queue while one write of ten thousand events ran, holding the loop (and the lane)
# back, up to 362 ms in a traced contraction bench.
WRITES_IN_FLIGHT = 8
# A write of fewer events waits up to WRITE_LINGER_S for the next batches to join it: each
# insert costs the ledger a fixed few milliseconds a table (a part to write, then merge),
# so a stream of small batches is written in fewer, larger inserts. Contractions do not
# wait: they are published as each batch is scored. Batches join a write only until it
# holds WRITE_MIN_EVENTS: a write of everything queued behind a slow ledger (up to 22,500
# events) built its rows' columns all at once, the worker's largest peak of memory.
WRITE_MIN_EVENTS = 10_000
WRITE_LINGER_S = 0.3
# Events of the rest stitched between two looks at the lane: at 100-200 µs an event to
# stitch and score, 20-50 ms that a call on the lane can wait.
STITCH_SLICE = 250
# Turns of the event loop given to the consumer's fetcher before the lane is looked at: a
# fetch answered while a slice was stitched is read off the socket, then parsed, then
# buffered, each step a turn; a look without them finds nothing new.
IO_TURNS = 4


def uncommitted_most(batch_max: int) -> int:
    """The most messages a worker can have read past its last commit: the write under way
    (queued batches joined until it holds ``WRITE_MIN_EVENTS``), the queue, and outside it
    the batch being stitched, the lane's batch taken between its slices, and the next batch
    read ahead (each at most ``batch_max``)."""
    return WRITE_MIN_EVENTS + (WRITES_IN_FLIGHT + 4) * batch_max


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
    slice_events: int = STITCH_SLICE,
    collector: BatchCollector | None = None,
) -> None:
    """Consume ``ledger.events`` and ``ledger.events.calls`` until ``stop`` is set
    (``security``: aiokafka SASL/TLS). With ``ownership``, the declarations too, and only
    while this worker owns the stream (``processors.ownership``: however many workers run,
    one stitches). After ``idle_settle_s`` seconds with nothing read (0: never), what the
    stream sent is taken as all there is (``Stitcher.settle_idle``). ``collector``: when the
    garbage collector's passes run (``BatchCollector``'s defaults if none)."""
    from aiokafka import AIOKafkaProducer, TopicPartition

    # pyarrow imported and warmed now, not by the first batch's columns: about a third of a
    # second on the bench's machine, which the first events of a burst would wait for.
    from ledger.columns import warm

    warm()

    security = security or {}
    topics = list(sink.topics.event_topics)
    lane_topics = {sink.topics.calls}
    options: dict[str, Any] = {}
    if ownership is not None:
        topics.append(sink.topics.declared)
        lane_topics.add(sink.topics.declared)  # a call is scored against its declaration
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
    # at most ``WRITES_IN_FLIGHT`` batches' worth of events wait to be written, so a slow
    # ledger slows the reading instead of filling memory.
    writes = WriteQueue(WRITES_IN_FLIGHT * batch_max)
    writing = False  # a write taken from the queue and not yet committed

    async def write_in_order() -> None:
        nonlocal writing
        while (item := await writes.get()) is not None:
            writing = True
            # What queued up while the last write ran goes in one write, up to
            # WRITE_MIN_EVENTS: when the stream outruns the ledger, writes grow instead of
            # multiplying (each insert is a part the ledger has to merge), while
            # contractions still go out batch by batch.
            done = False
            linger_until = time.monotonic() + WRITE_LINGER_S
            while True:
                while not writes.empty() and item.events < WRITE_MIN_EVENTS:
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
            await item.published()  # its contractions are on the topic before it is written
            if item.output is not None:
                began = time.perf_counter_ns()
                write = sink.ledger_write(item.output, item.scored, item.columns)
                refused = await write_until_taken(write, sink.store, stop)
                sink.stats.write_ns += time.perf_counter_ns() - began
                sink.stats.writes += 1
                sink.stats.inserts += sum(1 for _, rows in write.tables if rows)
                sink.written(item.output, refused)
                if refused:
                    # Delivered before the offsets are committed: a crash cannot lose them.
                    entries = [refused_entry(r, item.where or {}) for r in refused]
                    await send_until_taken(producer, sink.topics.dlq, entries, stop)
                    sink.stats.dead_lettered += len(entries)
                    log.warning(
                        "%d rows the ledger refused went to %s; the rest of the batch is written",
                        len(entries),
                        sink.topics.dlq,
                    )
            if item.offsets:  # an idle stream's settling read nothing to commit
                await consumer.commit(item.offsets)
            writing = False
            if on_batch is not None:
                on_batch(writes.empty())  # whether the writer has caught up
            if done:
                return

    writer = asyncio.create_task(write_in_order())

    async def queue_write(item: Pending | None) -> None:
        """Wait for room in the queue, unless the writer has stopped (its error is raised)."""
        if writes.put_nowait(item):
            return
        put = asyncio.ensure_future(writes.put(item))
        await asyncio.wait({put, writer}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            writer.result()

    def end_of(topic: str, partition: int) -> int | None:
        """The partition's end as the last fetch saw it (its high watermark)."""
        end: int | None = consumer.highwater(TopicPartition(topic, partition))
        return end

    keys_of = partial(sink.keys_of, end_of=end_of)

    def partitions(lane: bool) -> list[Any]:
        return [tp for tp in consumer.assignment() if (tp.topic in lane_topics) is lane]

    async def lane_fetched() -> dict[Any, list[Any]]:
        """What the consumer has fetched of the lane, without waiting for more."""
        for _ in range(IO_TURNS):
            await asyncio.sleep(0)
        lane = partitions(True)
        if not lane:
            return {}
        fetched: dict[Any, list[Any]] = await consumer.getmany(
            *lane, timeout_ms=0, max_records=batch_max
        )
        return fetched

    passes = collector if collector is not None else BatchCollector()
    ahead: ReadAhead | None = None

    async def take(batch: dict[Any, list[Any]], early: ReadAhead | None, lane: bool) -> None:
        """Declare, decode, look up, stitch and score one batch, and queue its write; a
        batch of the rest gives way to the lane between its slices."""
        nonlocal ahead
        messages = in_arrival_order(batch)
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
        assignment = consumer.assignment()
        if early is not None:  # asked while the last batch was stitched
            asked, look_up, answer = early.asked, early.look_up, early.answer
            if sink.evidence is not None and not sink.evidence.owns(assignment):
                # Partitions newly assigned: their chain heads.
                owning = loop.run_in_executor(None, sink.evidence.own, assignment)
        else:
            asked = keys_of(messages)
            look_up = partial(sink.own_and_look_up, assignment, asked.keys)
            if sink.nothing_to_look_up(assignment, asked.keys):
                answer = answered_now(loop)
            else:
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
        if asked.unread:  # keys only the decode could read (an older writer's schema)
            asked_ids = {event_id for event_id, _ in asked.keys}
            unread = [event_key(env) for env in envelopes if env.event.event_id not in asked_ids]
            unasked = sink.keys_to_ask(
                unread, [key for key in unread if sink.from_last_owner(*where[key[0]])]
            )
            if unasked:
                held |= await retrying(
                    partial(sink.store.held_events, unasked), "ledger lookup", stop
                )
        observed = observed_ids(envelopes, sink.recent)
        if observed:  # times of ingest's own: asked by id
            sink.stats.asked += len(observed)
            held |= await retrying(
                partial(sink.store.existing_event_ids, observed), "ledger lookup", stop
            )
        fresh = sink.fresh(envelopes, held)
        sink.stats.lookup_ns += time.perf_counter_ns() - began
        pending.where = where
        if not lane and fresh:
            ahead = await read_ahead(
                consumer, batch_max, keys_of, sink.store.held_events, partitions(False)
            )
        # The lane is stitched in slices too: a slice's contractions go out as soon as it
        # is scored, not once the whole batch is.
        step = max(1, slice_events)
        for start in range(0, len(fresh), step):
            if start and not lane:
                urgent = await lane_fetched()
                if any(urgent.values()):
                    # What is stitched so far is written before the lane's rows; the
                    # batch's offsets go with its last slice.
                    so_far, pending = pending, Pending(pending.offsets, where=where)
                    pending.events, so_far.events, so_far.offsets = so_far.events, 0, {}
                    await queue_write(built(so_far, sink.stats))
                    await take(urgent, None, lane=True)
            # Stitch once; only the write is retried, so a retry never counts twice.
            output, scored, contractions = sink.stitch(fresh[start : start + step], where)
            later = Pending({}, output, scored)
            if contractions:
                # Sent now, before the ledger write: an enforcement point acts on the drift
                # at once. The stitching does not wait for the broker's acknowledgement; the
                # write does (``Pending.published``). A crash before the commit publishes the
                # same contraction ids again, which consumers keep once.
                later.acks = await send_contractions(producer, sink.topics, contractions)
                for _ in range(IO_TURNS):  # the producer's sender puts them on the wire now
                    await asyncio.sleep(0)
            pending.absorb(later)  # after its declarations
        await queue_write(built(pending, sink.stats))
        passes.after_batch(len(messages))
        sink.stats.batches += 1
        sink.stats.consumed += len(messages)
        log.info(
            "batch of %d events; so far %d written, %d duplicates skipped",
            len(messages),
            sink.stats.written,
            sink.stats.duplicates,
        )

    # Not settled yet: exchanges restored waiting are decided too if nothing comes.
    last_read, settled = time.monotonic(), False
    # No automatic garbage collections while the loop runs: what each batch leaves is
    # frozen, and cycles wait for the full passes (``BatchCollector``).
    with passes.running():
        try:
            ready = False
            while not stop.is_set():
                early, ahead = ahead, None
                if early is not None:  # read while the last batch was stitched: the lane first
                    urgent, batch = await lane_fetched(), early.batch
                else:
                    got = await consumer.getmany(timeout_ms=batch_wait_ms, max_records=batch_max)
                    urgent = {tp: r for tp, r in got.items() if tp.topic in lane_topics}
                    batch = {tp: r for tp, r in got.items() if tp.topic not in lane_topics}
                if ownership is not None:
                    ownership.check()
                if not ready and consumer.assignment():
                    ready = True
                    if on_ready is not None:
                        on_ready()
                if not any(urgent.values()) and not any(batch.values()):
                    passes.when_idle(writing or not writes.empty())
                    idle = time.monotonic() - last_read
                    owns = ownership is None or ownership.owner  # a standby stitches nothing
                    if owns and not settled and idle_settle_s and idle >= idle_settle_s:
                        settled = True
                        output = sink.stitcher.settle_idle()
                        if any(rows for _, rows in output.tables()):
                            await queue_write(Pending({}, output))
                    continue
                last_read, settled = time.monotonic(), False
                if any(urgent.values()):
                    await take(urgent, None, lane=True)
                if any(batch.values()):
                    await take(batch, early, lane=False)
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


def built(pending: Pending, stats: SinkStats) -> Pending:
    """``pending`` with its Arrow columns built, as soon as its batch is stitched."""
    began = time.perf_counter_ns()
    pending.build_columns()
    stats.columns_ns += time.perf_counter_ns() - began
    return pending


def _declare(sink: EventSink, messages: list[Any], pending: Pending) -> list[dict[str, Any]]:
    """Apply the declarations among a batch's messages, ahead of its events; their rows go
    in the batch's write. Returns dead-letter entries for those that do not parse."""
    declarations, rejected = read_declarations(messages)
    for position, declaration in declarations:
        pending.absorb(Pending({}, sink.stitcher.declare(declaration), DriftOutput()))
        log.info("session %s declared at %s", declaration.session_id, position)
    return rejected
