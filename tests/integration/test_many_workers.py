"""Many workers stitch as one: the same shuffled input through one worker and through three
workers over six partitions gives the same chains and the same labels.

A session's events arrive under different partition keys (the token's jti from Okta, the MCP
server, the AWS access key from CloudTrail): with each worker stitching its own partitions,
three workers would write one session as several. The stitch owner (``processors.ownership``)
is what makes them agree.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from agentledger.sampledata import generate_sessions
from ledger.chdb_store import ChdbStore
from tests.integration.conftest import RunningStack, make_settings
from tests.integration.helpers import (
    attributions_of,
    chains_of,
    declare,
    ingest,
    move_stream_on,
    records_by_source,
    wait_processed,
    wait_stored,
    write_records,
)
from tests.polling import wait_for

SESSIONS = 30
PARTITIONS = 6
TAKE_OVER = "this worker stitches the stream now"  # processors.ownership's log line


def _shuffled_files(directory: Path, seed: int) -> list[tuple[str, Path]]:
    """The sessions' records, each source's shuffled, in files as the sources write them;
    the sources in a shuffled order too."""
    rng = random.Random(seed)
    sessions = generate_sessions(SESSIONS, run_id=f"many-workers-{seed}", showcase=True)
    directory.mkdir(parents=True)
    files = []
    for source, samples in records_by_source(sessions).items():
        rng.shuffle(samples)
        path = write_records(directory, source, source, [s.record for s in samples])
        files.append((source, path))
    rng.shuffle(files)
    return files


def _declarations(seed: int) -> list[dict[str, Any]]:
    sessions = generate_sessions(SESSIONS, run_id=f"many-workers-{seed}", showcase=True)
    return [s.declaration for s in sessions if s.declaration is not None]


def _owners(running: RunningStack) -> list[int]:
    """The workers (by index) that took the stitch stream over, from their logs."""
    logs = running.stack.data_dir / "logs"
    return [
        index
        for index in range(len(running.stack.worker_pids()))
        if TAKE_OVER in (logs / f"worker-{index}.log").read_text(errors="replace")
    ]


def _stitched(
    tmp_path: Path, ledger: ChdbStore, workers: int, files: list[tuple[str, Path]], seed: int
) -> tuple[set[frozenset[str]], dict[str, tuple[Any, ...]], int]:
    """Chains and labels after the input went through ``workers`` workers; the actions."""
    settings = make_settings(tmp_path / f"workers-{workers}", partitions=PARTITIONS)
    running = RunningStack(settings, ledger.with_database(settings.database), workers=workers)
    running.start()
    try:
        assert len(running.stack.worker_pids()) == workers
        declared = _declarations(seed)
        for body in declared:
            declare(running, body)
        wait_for(
            lambda: running.store.count("declarations"),
            until=lambda n: n == len(declared),
            timeout=60,
            what=f"{len(declared)} declarations in the ledger",
        )
        batch = f"many-{workers}"
        total = sum(ingest(running, source, path, batch=batch).events for source, path in files)
        wait_stored(running.store, batch, total)
        # The token exchanges decided by the window, not by how long each stack sat idle.
        move_stream_on(running, tmp_path / f"workers-{workers}-later")
        wait_processed(running)
        owners = _owners(running)
        assert len(owners) == 1, f"workers {owners} each stitched the stream"
        store = running.store
        return chains_of(store), attributions_of(store), store.count("actions")
    finally:
        running.stop()


def test_three_workers_over_six_partitions_stitch_as_one(
    tmp_path: Path, chdb_ledger: ChdbStore
) -> None:
    seed = 13
    files = _shuffled_files(tmp_path / "input", seed)
    one_chains, one_labels, actions = _stitched(tmp_path, chdb_ledger, 1, files, seed)
    # What makes the comparison worth making: sessions span the three sources, and their
    # labels differ (declared, undeclared, a person acting directly).
    assert actions > 100 and len(one_chains) >= SESSIONS
    assert max(len(chain) for chain in one_chains) > 5
    assert {label[0] for label in one_labels.values()} >= {
        "agent_delegated",
        "agent_autonomous",
        "direct_user",
    }
    assert len(one_labels) == actions

    three_chains, three_labels, _ = _stitched(tmp_path, chdb_ledger, 3, files, seed)
    assert three_chains == one_chains
    assert three_labels == one_labels
