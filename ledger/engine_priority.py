"""The embedded engine's background work (merges, its scheduled tasks) at a lower CPU
priority than everything else on the machine.

chDB merges a table's parts in threads of the process that owns it. On two cores a large
merge of ``raw_events`` kept both busy for a second or two, and the stream's own work (the
worker stitching and scoring the tool traffic, the normalizer before it) slowed four to
fifteen times meanwhile: a drifting call that arrived then waited 300-540 ms for its
contraction, where the others waited 40. The merges can wait; a contraction cannot. With
the background threads at nice 10, the contraction bench's slowest call stayed under 250 ms
in seven of eight runs, against five of seven over it in the same hour without
(BENCHMARKS.md). Queries and inserts run in other threads and keep their priority.

Linux only (a thread's priority by its id under ``/proc/self/task``); elsewhere, nothing.
A ClickHouse server has its own settings for this.
"""

from __future__ import annotations

import asyncio
import logging

from kernel.priority import lower_threads

log = logging.getLogger(__name__)

# Thread names of the engine's background pools: merges and mutations, the schedule pools
# (Bg…SchPool), moves and fetches between disks or replicas.
BACKGROUND_THREADS = ("MergeMutate", "Bg", "Move", "Fetch")


def lower_background_threads(nice: int, seen: set[int]) -> int:
    """Give this process's engine background threads at least niceness ``nice``; returns how
    many were lowered now. ``seen`` holds the thread ids looked at already (pools keep
    their threads; it is trimmed to the live ones, so an id used again is looked at
    again). A thread already at ``nice`` or lower in priority is left as it is."""
    return lower_threads(nice, seen, skip=lambda tid, name: not name.startswith(BACKGROUND_THREADS))


async def keep_background_low(nice: int, every_s: float = 1.0) -> None:
    """Keep this process's engine background threads at ``nice``, looking every ``every_s``
    (its pools start threads as merges need them). Runs until cancelled."""
    seen: set[int] = set()
    while True:
        lowered = lower_background_threads(nice, seen)
        if lowered:
            log.debug("%d ledger background threads at nice %d", lowered, nice)
        await asyncio.sleep(every_s)
