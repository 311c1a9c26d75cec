"""A worker SIGKILLed at random moments while a stream flows loses nothing, counts nothing
twice and changes nothing (issue 12).

One input, a shuffled multi-source sample with declarations, goes through two stacks in
chunks: one left alone, one whose worker is killed with SIGKILL at seeded random moments
(once right after a restart, while the new worker is still starting and joining its group)
and started again as ``agentledger up`` does (``Stack.respawn_dead_workers``). Then every
event is in ``raw_events`` exactly once, and which actions share a session, each action's
label, and each session's counters are the same in both ledgers.

What this tests is the restart: the restored stitch state against the one a worker that ran
through holds. So both stacks read the stream in the same order, from one partition: the
stitcher's web-identity inference and the key an action is linked by depend on the order
events arrive in. They batch as they poll, at most ``batch_max`` events: a restart cuts the
stream into other batches, which changes nothing (``tests/unit/test_batch_boundaries.py``).
The re-stitch window (``KILL_RESTITCH`` seconds, an hour by default) covers the sample's
twenty minutes of event times: near the window's edge a restored pairing of requests and
results can still differ from a running one's (docs/scaling.md, "Restarts").

``AGENTLEDGER_KILL_SEED`` picks another draw of input and kill moments (the seed is in
the failure message).
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentledger.sampledata import generate_sessions
from ledger.chdb_store import ChdbStore
from ledger.store import LedgerStore
from tests.integration.conftest import RunningStack, make_settings
from tests.integration.helpers import (
    actions_by_root,
    attributions_of,
    chains_of,
    declare,
    ingest,
    records_by_source,
    wait_processed,
    wait_stored,
    write_records,
)
from tests.polling import wait_for

SEED = int(os.environ.get("AGENTLEDGER_KILL_SEED", "12"))
SESSIONS = 30
CHUNKS_PER_SOURCE = 3
BATCH = "kills"


@dataclass(slots=True)
class Kill:
    after_chunk: int  # killed once this chunk was sent
    delay_s: float  # this long after it
    while_joining_s: float | None  # then again this long after the restart, if set


@dataclass(slots=True)
class Killed:
    """What each kill found: events of the run stored by then, and whether the worker it
    killed had joined its group yet."""

    stored: list[int] = field(default_factory=list)
    ready: list[bool] = field(default_factory=list)


def _chunks(directory: Path, rng: random.Random) -> list[tuple[str, Path]]:
    """Each source's records shuffled and cut in chunks, in files as the sources write
    them; the chunks of all sources in a shuffled order."""
    directory.mkdir(parents=True)
    chunks = []
    for source, samples in records_by_source(_sessions()).items():
        rng.shuffle(samples)
        size = -(-len(samples) // CHUNKS_PER_SOURCE)
        for index in range(CHUNKS_PER_SOURCE):
            records = [s.record for s in samples[index * size : (index + 1) * size]]
            chunks.append((source, write_records(directory, f"{source}-{index}", source, records)))
    rng.shuffle(chunks)
    return chunks


def _sessions() -> list[Any]:
    return generate_sessions(SESSIONS, run_id=f"worker-kills-{SEED}", showcase=True)


def _kills(rng: random.Random, chunks: int) -> list[Kill]:
    """Three kills or more: after chunks drawn at random, at a random moment, one of them
    followed by another while the restarted worker starts."""
    after = sorted(rng.sample(range(chunks - 1), 3))
    joining = rng.randrange(3)
    return [
        Kill(chunk, rng.uniform(0.0, 1.5), rng.uniform(0.3, 1.0) if i == joining else None)
        for i, chunk in enumerate(after)
    ]


def _kill_and_restart(running: RunningStack, killed: Killed) -> None:
    stack = running.stack
    [pid] = stack.worker_pids()
    killed.ready.append(stack.ready_file(0).exists())
    killed.stored.append(running.store.count("raw_events"))
    os.kill(pid, signal.SIGKILL)
    restarted = wait_for(
        stack.respawn_dead_workers,
        timeout=10,
        interval=0.02,
        what=f"worker {pid} to exit after SIGKILL and start again",
    )
    assert restarted == [(0, -signal.SIGKILL)]


def _run(
    tmp_path: Path,
    ledger: ChdbStore,
    name: str,
    chunks: list[tuple[str, Path]],
    kills: list[Kill],
) -> tuple[dict[str, Any], Killed]:
    settings = make_settings(
        tmp_path / name,
        partitions=1,
        # Small batches, so that the stream is still flowing when the kills come; where
        # they begin and end moves with each restart and poll.
        batch_max=8,
        restitch_window_s=int(os.environ.get("KILL_RESTITCH", "3600")),
        # Scoring restores its trails in event-time order, not the order they were fed in
        # (docs/scaling.md, "Restarts"); it is not what this compares.
        drift_scoring=False,
    )
    running = RunningStack(settings, ledger.with_database(settings.database))
    running.start()
    killed = Killed()
    try:
        declared = [s.declaration for s in _sessions() if s.declaration is not None]
        for body in declared:
            declare(running, body)
        wait_for(
            lambda: running.store.count("declarations"),
            until=lambda n: n == len(declared),
            timeout=60,
            what=f"{len(declared)} declarations in the ledger",
        )
        planned = {kill.after_chunk: kill for kill in kills}
        sent = 0
        for index, (source, path) in enumerate(chunks):
            sent += ingest(running, source, path, batch=BATCH).events
            kill = planned.get(index)
            if kill is None:
                continue
            time.sleep(kill.delay_s)
            _kill_and_restart(running, killed)
            if kill.while_joining_s is not None:
                time.sleep(kill.while_joining_s)
                _kill_and_restart(running, killed)
        wait_stored(running.store, BATCH, sent, timeout=120)
        wait_processed(running, timeout=120)
        return _ledger(running.store, sent), killed
    finally:
        running.stop()


def _ledger(store: LedgerStore, sent: int) -> dict[str, Any]:
    """What the comparison looks at, read once everything sent is stored."""
    db = store.database
    [counted] = store.query_rows(
        f"SELECT count() AS n, uniqExact(event_id) AS ids FROM {db}.raw_events "
        "WHERE ingest_batch = {b:String}",
        {"b": BATCH},
    )
    return {
        "sent": sent,
        "rows": int(counted["n"]),
        "event_ids": int(counted["ids"]),
        "chains": chains_of(store),
        "labels": attributions_of(store),
        "counters": _counters(store),
    }


def _counters(store: LedgerStore) -> dict[Any, tuple[Any, ...]]:
    """Each session's counters and principal, by its actions (a session's id is named after
    the first key its stitcher met), or by its id for a declared session with none yet."""
    db = store.database
    aliases, actions = actions_by_root(store)
    counters: dict[Any, tuple[Any, ...]] = {}
    for row in store.query_rows(
        "SELECT session_id, event_count, action_count, failure_count, principal, "
        f"origin_type, origin_principal, declared FROM {db}.sessions FINAL"
    ):
        sid = row["session_id"]
        if sid in aliases:
            continue  # merged into another: its counts are the survivor's now
        key: Any = frozenset(actions[sid]) if sid in actions else sid
        counters[key] = (
            int(row["event_count"]),
            int(row["action_count"]),
            int(row["failure_count"]),
            row["principal"],
            row["origin_type"],
            row["origin_principal"],
            bool(row["declared"]),
        )
    return counters


def test_a_worker_killed_at_random_moments_loses_and_changes_nothing(
    tmp_path: Path, chdb_ledger: ChdbStore
) -> None:
    rng = random.Random(SEED)
    chunks = _chunks(tmp_path / "input", rng)
    kills = _kills(rng, len(chunks))
    seed = f"AGENTLEDGER_KILL_SEED={SEED}, kills {kills}"

    alone, _ = _run(tmp_path, chdb_ledger, "alone", chunks, [])
    assert alone["rows"] == alone["event_ids"] == alone["sent"] > 300, seed
    # What makes the comparison worth making: sessions span sources and merge, and their
    # labels differ.
    assert max(len(chain) for chain in alone["chains"]) > 5
    assert {label[0] for label in alone["labels"].values()} >= {
        "agent_delegated",
        "agent_autonomous",
        "direct_user",
    }

    killed_run, killed = _run(tmp_path, chdb_ledger, "killed", chunks, kills)
    # The kills came while the stream flowed, and one while a restarted worker started.
    assert len(killed.stored) >= 4, seed
    assert any(n < alone["sent"] for n in killed.stored), (seed, killed)
    assert not all(killed.ready), (seed, killed)

    # Every event exactly once: as many rows as events sent, each id once (rows are
    # counted without FINAL, so a duplicate shows before a merge could fold it away).
    assert killed_run["rows"] == killed_run["event_ids"] == alone["sent"], seed
    for what in ("chains", "labels", "counters"):
        assert killed_run[what] == alone[what], f"{seed}: {_differ(alone[what], killed_run[what])}"


def _differ(alone: Any, killed: Any) -> str:
    if isinstance(alone, set):
        return f"{len(alone - killed)} chains of {len(alone)} split or joined differently"
    changed = sorted(k for k in alone.keys() | killed.keys() if alone.get(k) != killed.get(k))
    shown = [(alone.get(k), killed.get(k)) for k in changed[:3]]
    said = f"{len(changed)} of {len(alone)} differ, e.g. (alone, killed) {shown}"
    counted = [(alone.get(k), killed.get(k)) for k in changed]
    if counted and all(a and b and b[0] > a[0] and b[1] > a[1] for a, b in counted):
        # Events counted twice while stored once: a write the kill cut after the sessions
        # rows and before raw_events, read again (issue 12, part-way writes).
        said += "; every one counts more events: a part-way write counted twice"
    return said
