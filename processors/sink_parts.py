"""What the sink keeps beside its batches: its counts and where its time goes, the event ids
it wrote lately, how it asks the ledger for the others, and the garbage collector's
discipline between batches."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kernel import codec
from kernel.errors import RecordError, StoreError
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
    stitch_ns: int = 0
    write_ns: int = 0
    written_at: float = 0.0  # when the counts were last kept (monotonic)

    def timings(self) -> dict[str, Any]:
        per = max(self.consumed, 1) * 1000
        return {
            "events": self.consumed,
            "batches": self.batches,
            "decode_us_per_event": round(self.decode_ns / per, 2),
            "lookup_us_per_event": round(self.lookup_ns / per, 2),
            "stitch_us_per_event": round(self.stitch_ns / per, 2),
            "write_us_per_event": round(self.write_ns / per, 2),
        }


class BatchCollector:
    """Keeps what outlives a batch out of the cyclic garbage collector.

    The stitch and drift state grows with every batch and lives for the session window;
    the collector's older generations walk all of it again and again (5-14 µs an event).
    After each batch whatever is left is frozen (``gc.freeze``), so automatic collections
    walk only what the next batch allocates; a batch leaves no cyclic garbage behind
    (reference counting frees its rows).

    Cycles among state let go since are freed by a full pass (thaw, collect, freeze), which
    walks all the state: 0.3-0.7 s for 100,000 events' worth, every event of the stream
    waiting behind it, and it finds almost nothing (ten unreachable objects after 100,000
    events). So it runs when the stream is idle once ``full_every`` events have gone by, and
    in a stream that never idles, after ``forced_every``.
    """

    def __init__(self, full_every: int = 200_000, forced_every: int = 2_000_000) -> None:
        self.full_every = full_every
        self.forced_every = max(forced_every, full_every)
        self.since_full = 0
        self.passes = 0
        self.last_pass_s = 0.0

    def after_batch(self, events: int) -> None:
        self.since_full += events
        if self.since_full >= self.forced_every:
            self.full_pass()
        gc.freeze()

    def when_idle(self) -> None:
        """The stream has nothing to read: the time for a full pass, if one is due."""
        if self.since_full >= self.full_every:
            self.full_pass()
            gc.freeze()

    def full_pass(self) -> None:
        began = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        self.last_pass_s = time.perf_counter() - began
        self.since_full = 0
        self.passes += 1
        log.info(
            "full garbage collection: %.0f ms, %d unreachable objects freed",
            1e3 * self.last_pass_s,
            found,
        )


class RecentIds:
    """Event ids written lately, so most replays skip the ledger lookup."""

    def __init__(self, capacity: int = 500_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add_all(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self._ids[event_id] = None
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


def event_id_of_message(message: Any) -> str | None:
    """A message's event id read without decoding it (``None``: only the decode can tell,
    and says why not when it cannot)."""
    try:
        return codec.event_id_of(message.value, codec.writer_version(message.headers))
    except RecordError:
        return None


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
