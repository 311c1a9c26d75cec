"""A bulk ingest yields the CPU to the stitching worker.

One stitching worker bounds the pipeline: it runs on one core at most (one interpreter),
and an ``agentledger ingest`` of a large file on the same machine competes with it for the
CPU. On two cores at one priority the worker waited for a core a tenth to two fifths of each
second the records went in (the kernel's run-queue wait of its threads,
``/proc/<pid>/task/<tid>/schedstat``), then worked off what it had not read alone, with the
other core half idle. What the ingest sends waits in the broker, so the ingest can wait:
with it ``ingest_nice`` levels lower (5 by default) the worker keeps nearer one core
throughout (``BENCHMARKS.md``). The live intake (the normalizer of raw topics) and what the
worker feeds (the ledger's inserts, the broker) keep their priority: a contraction waits on
them. Nothing here raises a priority, which needs a privilege.

Linux sets a niceness per thread, which threads started later inherit from the thread that
starts them; elsewhere, nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

_TASKS = Path("/proc/self/task")


def lower_threads(nice: int, seen: set[int], *, skip: Callable[[int, str], bool]) -> int:
    """Give each thread of this process not looked at yet, and not ``skip(tid, name)``,
    at least niceness ``nice``; returns how many were lowered now. ``seen``: the thread
    ids looked at already, trimmed to the live ones (an id used again is looked at again).
    A thread already at ``nice`` or below in priority is left as it is."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return 0
    try:
        live = {int(name) for name in os.listdir(_TASKS)}
    except OSError:
        return 0
    seen &= live
    lowered = 0
    for tid in live - seen:
        seen.add(tid)
        try:
            name = (_TASKS / str(tid) / "comm").read_text().strip()
            if skip(tid, name):
                continue
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                lowered += 1
        except OSError:  # the thread ended meanwhile
            continue
    return lowered


def yield_to_stitching(levels: int) -> int:
    """Lower this whole process (every thread it has, and so those it starts later) by
    ``levels`` below where it runs now: for a process that feeds the workers and starts
    none (``agentledger ingest``, the bench's intake). Returns the threads lowered."""
    if levels <= 0 or not sys.platform.startswith("linux"):
        return 0
    target = os.getpriority(os.PRIO_PROCESS, 0) + levels
    return lower_threads(min(target, 19), set(), skip=lambda tid, name: False)
