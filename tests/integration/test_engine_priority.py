"""CPU priorities: the embedded ledger's background threads (merges, scheduled tasks) yield
to the stream's work (`up` keeps them at ``ledger_merge_nice``), and a bulk ingest yields to
the stitching workers (``ingest_nice``: the process lowered whole, threads it starts later
with it)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ledger.chdb_store import ChdbStore
from ledger.engine_priority import BACKGROUND_THREADS, lower_background_threads
from tests.integration.conftest import RunningStack, make_settings
from tests.polling import wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="a thread's priority by its id is Linux's"
)


def _threads() -> dict[int, tuple[str, int]]:
    """This process's threads: id -> (name, niceness)."""
    found = {}
    for name in os.listdir("/proc/self/task"):
        tid = int(name)
        try:
            comm = Path(f"/proc/self/task/{name}/comm").read_text().strip()
            found[tid] = (comm, os.getpriority(os.PRIO_PROCESS, tid))
        except OSError:  # ended meanwhile
            continue
    return found


def _merging(store: ChdbStore) -> None:
    """Parts enough for the engine to merge some in the background."""
    database = f"prio_{uuid.uuid4().hex[:10]}"
    store.command(f"CREATE DATABASE {database}")
    store.command(f"CREATE TABLE {database}.t (n UInt64) ENGINE = MergeTree ORDER BY n")
    for part in range(8):
        store.command(f"INSERT INTO {database}.t SELECT number + {part} FROM numbers(1000)")


def test_the_engine_background_threads_are_lowered_and_no_other(chdb_ledger: ChdbStore) -> None:
    _merging(chdb_ledger)
    before = _threads()
    seen: set[int] = set()
    lower_background_threads(12, seen)
    after = _threads()
    background = {tid for tid, (comm, _) in after.items() if comm.startswith(BACKGROUND_THREADS)}
    assert background, "the engine's schedule pools run from its start"
    # At least 12: a stack of another test in this process may have put them higher.
    assert all(after[tid][1] >= 12 for tid in background if tid in seen)
    untouched = [tid for tid in after if tid not in background and tid in before]
    assert untouched and all(after[tid][1] == before[tid][1] for tid in untouched)
    assert lower_background_threads(0, set()) == 0  # 0 leaves them as they are


def test_up_keeps_the_ledger_merges_at_the_configured_niceness(
    tmp_path: Path, chdb_ledger: ChdbStore
) -> None:
    """A niceness no other test sets: only this stack can have put them there."""
    settings = make_settings(tmp_path, ledger_merge_nice=15)
    running = RunningStack(settings, chdb_ledger.with_database(settings.database))
    running.start()
    try:
        _merging(chdb_ledger)
        wait_for(
            lambda: sorted(
                level for comm, level in _threads().values() if comm.startswith(BACKGROUND_THREADS)
            ),
            timeout=10,
            interval=0.2,
            what="the ledger's background threads at nice 15",
            until=lambda levels: bool(levels) and levels[0] >= 15,
        )
    finally:
        running.stop()


def test_a_feeding_process_lowers_every_thread_and_those_it_starts_later() -> None:
    """In a process of its own: lowering is for good, and these tests' process feeds no
    stack."""
    code = """
import os, threading
from kernel.priority import yield_to_stitching
def level():
    return os.getpriority(os.PRIO_PROCESS, 0)
started = threading.Event(); go = threading.Event(); seen = {}
def early():
    started.set(); go.wait(); seen["early"] = level()
thread = threading.Thread(target=early); thread.start(); started.wait()
base = level()
lowered = yield_to_stitching(4)
go.set(); thread.join()
later = threading.Thread(target=lambda: seen.update(later=level())); later.start(); later.join()
print(base, lowered, level(), seen["early"], seen["later"], yield_to_stitching(0))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    base, lowered, main, early, later, none = map(int, done.stdout.split())
    assert lowered >= 2  # the main thread and the one already running
    assert main == early == later == min(base + 4, 19)
    assert none == 0
