"""What the sink keeps beside its batches: its counts and where its time goes, the event ids
it wrote lately, how it asks the ledger for the others, and the garbage collector's
discipline between batches."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from typing import Any, NamedTuple

from kernel import codec
from kernel.contraction import Contraction
from kernel.contraction import encode as encode_contraction
from kernel.contraction import headers as contraction_headers
from kernel.errors import RecordError, StoreError
from kernel.events import TIME_OBSERVED, TIME_SOURCE, micros
from kernel.procs import gc_paused
from kernel.topics import Topics
from ledger.drift_rows import DriftOutput
from ledger.rows import StitchOutput
from processors.recount import WriteBases
from processors.writes import retrying

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SinkStats:
    batches: int = 0
    consumed: int = 0
    written: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    # Where the worker's time goes (``agentledger bench`` prints it per event consumed): the
    # Avro decode, the wait for the ledger's answer to which events it holds already (asked
    # during the decode: only what the decode did not hide), the stitcher, and the ledger
    # writes (a task of their own, beside the stitching: wall time, not the worker's CPU).
    # The scoring stage keeps its own (``processors.scoring.ScoringStats``).
    decode_ns: int = 0
    lookup_ns: int = 0
    asked: int = 0  # events the ledger was asked about (``RecentIds``: most are not)
    stitch_ns: int = 0
    columns_ns: int = 0  # the Arrow columns of each batch's rows, built as it is stitched
    write_ns: int = 0
    writes: int = 0  # ledger writes, each an insert per table with rows
    inserts: int = 0
    written_at: float = 0.0  # when the counts were last kept (monotonic)

    def timings(self) -> dict[str, Any]:
        per = max(self.consumed, 1) * 1000
        return {
            "events": self.consumed,
            "batches": self.batches,
            "decode_us_per_event": round(self.decode_ns / per, 2),
            "lookup_us_per_event": round(self.lookup_ns / per, 2),
            "asked": self.asked,
            "duplicates": self.duplicates,
            "stitch_us_per_event": round(self.stitch_ns / per, 2),
            "columns_us_per_event": round(self.columns_ns / per, 2),
            "write_us_per_event": round(self.write_ns / per, 2),
            "writes": self.writes,
            "inserts": self.inserts,
        }


class BatchCollector:
    """Keeps what outlives a batch out of the cyclic garbage collector.

    The stitch and drift state grows with every batch and lives for the session window;
    the collector's older generations walk all of it again and again (5-14 µs an event).
    After each batch whatever is left is frozen (``gc.freeze``), so collections walk only
    what the next batch allocates.

    While the worker runs (``running``) there are no automatic collections at all. Every
    50,000 allocations one walked the young objects, and every twentieth of those all the
    batch's rows built so far, and they found nothing: a batch leaves no cyclic garbage
    (reference counting frees its rows). A young collection after each of the 47 batches
    of a 100,000-event run walked 2.1 million objects in 1.7 s and found not one
    unreachable. What a batch leaves is frozen as it is; a cycle among it waits for the
    next full pass. An idle stream collects its young objects at each empty read (a
    standby worker's polls, which never reach a full pass).

    Cycles among state let go since are freed by a full pass (thaw, collect, freeze), which
    walks all the state: 0.3-0.7 s for 100,000 events' worth, every event of the stream
    waiting behind it, and it finds almost nothing (ten unreachable objects after 100,000
    events). So it runs when the stream is idle once ``full_every`` events have gone by, and
    in a stream that never idles, after ``forced_every``. Idle means the writes too: a pass
    that ran while the last batches' write was still to be made and committed held their
    commit back by the whole pass (0.4-0.9 s after 200,000 events, the longer with the drift
    trails), so with a write in hand the idle stream collects only its young objects.
    """

    def __init__(self, full_every: int = 200_000, forced_every: int = 2_000_000) -> None:
        self.full_every = full_every
        self.forced_every = max(forced_every, full_every)
        self.since_full = 0
        self.passes = 0

    def running(self) -> contextlib.AbstractContextManager[None]:
        """No automatic collections inside (a batch leaves no cyclic garbage); as it was
        after, however many workers of one process run (``gc_paused``)."""
        return gc_paused()

    def after_batch(self, events: int) -> None:
        self.since_full += events
        if self.since_full >= self.forced_every:
            self.full_pass()
        gc.freeze()

    def when_idle(self, writing: bool = False) -> None:
        """The stream has nothing to read: the time for a full pass, if one is due and no
        write is in hand (``writing``); else what was allocated since the last look
        (aiokafka's polls, the writer's) is collected."""
        if self.since_full >= self.full_every and not writing:
            self.full_pass()
        else:
            gc.collect(0)
        gc.freeze()

    def full_pass(self) -> None:
        began = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        self.since_full = 0
        self.passes += 1
        log.info(
            "full garbage collection: %.0f ms, %d unreachable objects freed",
            1e3 * (time.perf_counter() - began),
            found,
        )


NEVER = -(2**62)  # an event time older than any (µs since the epoch)
ALWAYS = 2**62  # newer than any


class RecentIds:
    """The event ids this sink stitched lately, and what that says about the ledger: most
    events are then never asked about.

    The sink that owns the stream is the ledger's only writer of events (``raw_events``).
    So an event the ledger holds is either one this sink stitched, or one it held when this
    sink took the stream, whose time is no newer than the newest it held then. An id
    ``through`` counts both: an event not stitched lately (not here) and newer than
    ``through`` is not in the ledger, and is not asked about. ``through`` begins at
    ``ALWAYS`` (everything is asked) until ``took_over`` says what the ledger held, and it
    rises to the newest time of every id let go from here (``capacity``), so an id let go
    is asked about again. Its one exception is an event whose time ingest gave it (a record
    that carries none): a replay of it bears a newer time (``observed_ids``).

    What an owner taken for dead while alive may still be writing after the take-over
    (``docs/scaling.md``) is asked about all the same (``EventSink.from_last_owner``)."""

    def __init__(self, capacity: int = 500_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        # The ids in the order they were added, as (how many are left here, their newest
        # time): one entry a batch, so that letting ids go knows how new they were.
        self._added: deque[list[int]] = deque()
        self._held_through = ALWAYS  # the newest event time the ledger held at the take-over
        self._let_go_through = NEVER  # the newest time of the ids let go

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def through(self) -> int:
        """No event the ledger may hold, not among these ids, is newer than this (µs)."""
        return max(self._held_through, self._let_go_through)

    def took_over(self, newest: int | None) -> None:
        """This sink now owns the stream; ``newest`` is the newest event time the ledger held
        then (``None``: it held none)."""
        self._held_through = NEVER if newest is None else newest

    def unheld(self, keys: Iterable[tuple[str, int] | None]) -> Iterator[tuple[str, int]]:
        """Those of ``keys`` (id, event time) the ledger may hold though they are not here."""
        through, ids = self.through, self._ids
        return (k for k in keys if k is not None and k[1] <= through and k[0] not in ids)

    def add_all(self, event_ids: Iterable[str], newest: int = ALWAYS) -> None:
        """Ids stitched now; ``newest`` is the newest of their event times."""
        ids = self._ids
        before = len(ids)
        for event_id in event_ids:
            ids[event_id] = None
        added = len(ids) - before
        if added:
            self._added.append([added, newest])
        while len(ids) > self.capacity:
            ids.popitem(last=False)
            oldest = self._added[0]
            oldest[0] -= 1
            if oldest[0] <= 0:
                self._added.popleft()
                self._let_go_through = max(self._let_go_through, oldest[1])


EventKey = tuple[str, int]  # an event's id and event time (µs since the epoch)


class Asked(NamedTuple):
    """Of a batch's messages, the events to ask the ledger about (``EventSink.keys_of``),
    and how many messages' keys could not be read off their bytes (the decode reads those,
    and they are asked about after it)."""

    keys: list[EventKey]
    unread: int


_produced_at = attrgetter("timestamp")  # a Kafka record's timestamp (ms)


def in_arrival_order(batch: Mapping[Any, list[Any]]) -> list[Any]:
    """A fetched batch's messages (by partition, each partition's in offset order) as one
    list: each partition's messages keep their order, and the partitions are interleaved
    by when each message was produced (its record timestamp). Listed partition after
    partition, a drifting call fetched with a block of other traffic produced just after
    it was stitched behind all of that block; in arrival order it goes in the first slice."""
    parts = [records for records in batch.values() if records]
    if len(parts) <= 1:
        return list(parts[0]) if parts else []
    # ``heapq.merge`` takes from each list in its own order, so a partition's order holds
    # even where its timestamps do not rise (producers with clocks apart).
    return list(heapq.merge(*parts, key=_produced_at))


def event_key_of_message(message: Any) -> EventKey | None:
    """A message's event id and time read without decoding it (``None``: only the decode
    can tell, and says why not when it cannot)."""
    try:
        return codec.event_key_of(message.value, codec.writer_version(message.headers))
    except RecordError:
        return None


def observed_ids(envelopes: Iterable[codec.Envelope], recent: RecentIds) -> list[str]:
    """The events whose time is when ingest saw them (a record that carries none), not
    stitched lately: a replay of one bears another time under the same id, so the ledger is
    asked for them by id, which the question by (time, id) would miss."""
    return [
        env.event.event_id
        for env in envelopes
        if env.event.attributes.get(TIME_SOURCE) == TIME_OBSERVED
        and env.event.event_id not in recent
    ]


def event_key(envelope: codec.Envelope) -> EventKey:
    """A decoded event's key, as ``event_key_of_message`` reads it off the message."""
    return envelope.event.event_id, micros(envelope.event.event_time)


async def answered(
    answer: asyncio.Future[set[str]], look_up: Callable[[], set[str]], stop: asyncio.Event
) -> set[str]:
    """The ledger's answer to a lookup started in a thread; after an outage, asked again
    until it answers (``retrying``)."""
    try:
        return await answer
    except StoreError as exc:
        if stop.is_set():
            raise
        log.warning("ledger lookup failed, retrying: %s", exc)
        return await retrying(look_up, "ledger lookup", stop)


@dataclass(slots=True)
class ReadAhead:
    """The next batch, read while this one is stitched, with the ledger already asked
    which of its events it holds (``read_ahead``)."""

    batch: dict[Any, list[Any]]
    asked: Asked
    look_up: Callable[[], set[str]]
    answer: asyncio.Future[set[str]]


async def read_ahead(
    consumer: Any,
    batch_max: int,
    keys_of: Callable[[list[Any]], Asked],
    look_up: Callable[[list[EventKey]], set[str]],
    partitions: list[Any],
) -> ReadAhead | None:
    """What the consumer has fetched already of ``partitions`` (no wait), with the ledger
    lookup of its events started in a thread; ``None`` when nothing is there.

    Run just before a batch is stitched, so that the lookup's round trip, which the decode
    alone hides only in part, is off the path: the next batch finds its answer waiting.
    The keys are asked before this batch's events count as stitched; ``EventSink.fresh``
    drops those again when the next batch is taken."""
    if not partitions:
        return None
    batch = await consumer.getmany(*partitions, timeout_ms=0, max_records=batch_max)
    if not any(batch.values()):
        return None
    asked = keys_of([m for records in batch.values() for m in records])
    asking = partial(look_up, asked.keys)
    loop = asyncio.get_running_loop()
    answer = loop.run_in_executor(None, asking) if asked.keys else answered_now(loop)
    return ReadAhead(batch, asked, asking, answer)


def answered_now(loop: asyncio.AbstractEventLoop) -> asyncio.Future[set[str]]:
    """The answer to a lookup of nothing: the ledger holds none of no events."""
    answer: asyncio.Future[set[str]] = loop.create_future()
    answer.set_result(set())
    return answer


# Tables whose rows change when batches join a write: their columns are built at the write.
_REBASED_TABLES = frozenset({"sessions"})


@dataclass(slots=True)
class Pending:
    """A stitched batch waiting for its ledger write, and the offsets it commits."""

    offsets: dict[Any, int]
    output: StitchOutput | None = None
    scored: DriftOutput | None = None
    events: int = 0  # read from the topic, the duplicates too
    where: dict[str, tuple[str, int, int]] | None = None  # each event's topic, partition, offset
    bases: WriteBases = field(default_factory=WriteBases)  # its sessions rows' write start
    # Each table's rows as Arrow tables, built batch by batch (``build_columns``) while the
    # rows are fresh in the caches; the write sends a table they cover in full as those.
    columns: dict[str, list[Any]] = field(default_factory=dict)
    # The broker's acknowledgements of the contractions its slices published: the write
    # waits for them, so that a batch is never written (and committed) before its
    # contractions are on the topic, while the stitching goes on without waiting.
    acks: list[asyncio.Future[Any]] = field(default_factory=list)

    async def published(self) -> None:
        """Wait until the broker holds every contraction of this batch (a send that failed
        raises here, and the batch is not written)."""
        if self.acks:
            acks, self.acks = self.acks, []
            await asyncio.gather(*acks)

    def build_columns(self) -> Pending:
        """Build this batch's Arrow columns now, once it is stitched and while its rows are
        still in the caches. The write thread found them up to 20,000 events later: in one
        process the sample traffic's rows took 9.4 µs an event converted as each batch was
        stitched, 23.4 converted after the run. A stitched batch at a time, not each slice:
        tables of 250 events cost the worker more than they saved. The ``sessions`` rows
        are left to the write: they are rebased when batches join it (``WriteBases``).
        Returns this batch."""
        from ledger.columns import arrow_table  # pyarrow: only where rows are written

        tables = (self.scored.tables() if self.scored is not None else []) + (
            self.output.tables() if self.output is not None else []
        )
        for table, rows in tables:
            if rows and table not in _REBASED_TABLES:
                data = arrow_table(table, rows)
                if data is not None:
                    self.columns.setdefault(table, []).append(data)
        return self

    def absorb(self, later: Pending) -> Pending:
        """This batch and a later one as one write (rows in order, each session's based
        where the write began; the later offsets)."""
        if later.output is not None:
            self.bases.take(later.output)
            self.output = self.output or StitchOutput()
            self.scored = self.scored or DriftOutput()
            for own, more in (
                (self.output.tables(), later.output.tables()),
                (self.scored.tables(), (later.scored or DriftOutput()).tables()),
            ):
                for (_, rows), (_, later_rows) in zip(own, more, strict=True):
                    rows.extend(later_rows)
        for table, parts in later.columns.items():
            self.columns.setdefault(table, []).extend(parts)
        self.acks.extend(later.acks)
        self.offsets = {**self.offsets, **later.offsets}
        self.events += later.events
        if later.where:
            self.where = {**later.where, **(self.where or {})}
        return self


class WriteQueue:
    """Stitched batches waiting for their ledger write, in order, bounded by the events
    they hold (``most_events``) rather than by their number: one item larger than the bound
    still goes in, alone. One task puts, one takes. ``None`` (no events) ends the queue."""

    def __init__(self, most_events: int) -> None:
        self.most_events = max(1, most_events)
        self.events = 0
        self._items: deque[Pending | None] = deque()
        self._added = asyncio.Event()
        self._taken = asyncio.Event()

    async def put(self, item: Pending | None) -> None:
        """Queue ``item`` once there is room for its events."""
        while not self.put_nowait(item):
            self._taken.clear()
            await self._taken.wait()

    def put_nowait(self, item: Pending | None) -> bool:
        """Queue ``item`` if there is room for its events now; whether it was queued."""
        events = item.events if item is not None else 0
        if self._items and self.events + events > self.most_events:
            return False
        self._items.append(item)
        self.events += events
        self._added.set()
        return True

    async def get(self) -> Pending | None:
        while not self._items:
            self._added.clear()
            await self._added.wait()
        return self.get_nowait()

    def get_nowait(self) -> Pending | None:
        item = self._items.popleft()  # IndexError when empty, as ``deque`` says
        self.events -= item.events if item is not None else 0
        self._taken.set()
        return item

    def empty(self) -> bool:
        return not self._items


async def send_contractions(
    producer: Any, topics: Topics, contractions: list[Contraction]
) -> list[asyncio.Future[Any]]:
    """Hand each contraction to the producer, keyed by its session so that one session's
    decisions stay in order on one partition; returns the broker's acknowledgements to
    wait for. The producer does not linger: they go out now, acknowledged or not."""
    return [
        await producer.send(
            topics.contractions,
            encode_contraction(c),
            key=c.session_id.encode(),
            headers=contraction_headers(),
        )
        for c in contractions
    ]
