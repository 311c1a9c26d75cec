"""The ledger goes away in the middle of a stream and comes back: nothing lost, nothing doubled.

The worker writes the ledger over HTTP, as it writes a ClickHouse server (``LedgerFront``,
this process's chDB behind ``ledger.http_front``). Mid-stream the front dies at a chosen
moment of a write (``WriteGate``): as a write's session rows arrive (the write is cut
part-way), or once the engine took a write's raw events or dead letters but before it
answered (the rows are in; the worker is told nothing). It stays away for several seconds,
refusing connections, while events, dead letters and a declaration keep arriving on the
broker, and comes back on the same port.

Then every event is in ``raw_events`` exactly once and every dead letter in
``dead_letters`` once (rows counted without ``FINAL``: a doubled insert shows before a merge
could fold it away), every chain, label and session counter equals what a run of the same
input without the outage gives, and the hash chains and signed digests verify. The
worker's log must show the failed writes, so that an outage it never met cannot pass.

Seedable: ``OUTAGE_TEST_SEED`` picks the sessions and their shuffle (default 12).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentledger.sampledata import generate_sessions
from ledger.chdb_store import ChdbStore
from ledger.queries import stored_count
from ledger.store import LedgerStore
from processors.verify import verify
from tests.integration.conftest import RunningStack, make_settings
from tests.integration.helpers import (
    actions_by_root,
    attributions_of,
    chains_of,
    declare,
    evidence_keys,
    ingest,
    records_by_source,
    wait_processed,
    wait_stored,
    write_records,
)
from tests.integration.ledger_front import LedgerFront, Moment
from tests.polling import wait_for

SEED = int(os.environ.get("OUTAGE_TEST_SEED", "12"))
SESSIONS = 24
CHUNKS = 6  # the stream, sent in this many parts
OUTAGE_AFTER = 2  # chunks sent before the ledger goes away
OUTAGE_S = 4.0  # how long it stays away, while chunks keep arriving
# processors.writes' log lines, for the stream's writes and the dead letters'
WRITE_FAILED = "ledger write failed, retrying"
DEAD_LETTER_WRITE_FAILED = "dead letters failed, retrying"
LATE_DECLARATIONS = 1  # declared while the ledger is away
# One line in each chunk that no source reads: its dead letter is written while the ledger
# is away too, and must be kept once as well.
BAD_LINE = b'{"ts": "not a time", "direction": "sideways"}\n'


@dataclass(frozen=True)
class Stream:
    """The input: ``chunks`` of (source, file), and the declarations of its sessions."""

    chunks: list[list[tuple[str, Path]]]
    declarations: list[dict[str, Any]]


@dataclass
class Outcome:
    """What a run left in the ledger, in terms that do not depend on arrival order."""

    sent: int
    rejected: int
    dead_letters: int  # the batch's dead_letters rows, every version (no FINAL)
    rows: int  # raw_events rows of the run's batch, every version (no FINAL)
    distinct: int
    event_ids: frozenset[str] = field(repr=False)
    chains: set[frozenset[str]] = field(repr=False)
    labels: dict[str, tuple[Any, ...]] = field(repr=False)
    sessions: Counter[tuple[Any, ...]] = field(repr=False)
    worker_log: str = field(repr=False)


def _stream(directory: Path, seed: int) -> Stream:
    """Sessions across okta, cloudtrail and mcp, each source's records shuffled and cut in
    ``CHUNKS`` parts, each part's sources in a shuffled order."""
    rng = random.Random(seed)
    sessions = generate_sessions(SESSIONS, seed=seed, run_id=f"outage-{seed}", showcase=True)
    by_source = records_by_source(sessions)
    directory.mkdir(parents=True)
    chunks: list[list[tuple[str, Path]]] = [[] for _ in range(CHUNKS)]
    for source, samples in by_source.items():
        rng.shuffle(samples)
        records = [s.record for s in samples]
        for index in range(CHUNKS):
            part = records[index::CHUNKS]
            bad = (rng.randrange(len(part) + 1), BAD_LINE) if source == "mcp" else None
            chunks[index].append(
                (source, write_records(directory, f"{source}-{index}", source, part, bad))
            )
    for chunk in chunks:
        rng.shuffle(chunk)
    declarations = [s.declaration for s in sessions if s.declaration is not None]
    return Stream(chunks, declarations)


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    return _stream(tmp_path_factory.mktemp("outage") / "input", SEED)


@pytest.fixture(scope="module")
def without_outage(
    tmp_path_factory: pytest.TempPathFactory, chdb_ledger: ChdbStore, stream: Stream
) -> Outcome:
    """The same input through the same path, the ledger never away."""
    return _run(tmp_path_factory.mktemp("steady"), chdb_ledger, stream, None)


def _session_counters(store: LedgerStore) -> Counter[tuple[Any, ...]]:
    """Each session the others were merged into: its actions (session ids depend on which
    key arrived first) with its counters and what it says of its agent and origin."""
    db = store.database
    aliases, members = actions_by_root(store)
    rows = store.query_rows(
        "SELECT session_id, event_count, action_count, failure_count, sources, declared, "
        f"intent, origin_type, origin_principal, agent_name FROM {db}.sessions FINAL"
    )
    return Counter(
        (
            frozenset(members.get(r["session_id"], ())),
            r["event_count"],
            r["action_count"],
            r["failure_count"],
            tuple(sorted(r["sources"])),
            bool(r["declared"]),
            r["intent"],
            r["origin_type"],
            r["origin_principal"],
            r["agent_name"],
        )
        for r in rows
        if r["session_id"] not in aliases
    )


def _raw_counts(store: LedgerStore, batch: str) -> tuple[int, int, frozenset[str]]:
    db = store.database
    rows = store.query_rows(
        f"SELECT event_id FROM {db}.raw_events WHERE ingest_batch = {{b:String}}", {"b": batch}
    )
    ids = [r["event_id"] for r in rows]
    return len(ids), len(set(ids)), frozenset(ids)


class Sender:
    """Sends chunks into a running stack as one ingest batch, counting what it sent."""

    def __init__(self, running: RunningStack, batch: str) -> None:
        self.running = running
        self.batch = batch
        self.events = 0
        self.rejected = 0

    def send(self, chunk: list[tuple[str, Path]]) -> None:
        for source, path in chunk:
            report = ingest(self.running, source, path, batch=self.batch)
            self.events += report.events
            self.rejected += report.rejected


def _declare_all(running: RunningStack, declarations: list[dict[str, Any]]) -> None:
    for body in declarations:
        declare(running, body)


def _run(
    tmp_path: Path,
    ledger: ChdbStore,
    stream: Stream,
    moment: tuple[str, Moment] | None,
) -> Outcome:
    """The stream through a stack whose worker writes over ``LedgerFront``; with
    ``moment``, the front dies at that moment of the write after ``OUTAGE_AFTER`` chunks,
    stays away ``OUTAGE_S`` while the next chunks (and the last declarations) arrive, and
    comes back."""
    # The re-stitch window covers the sample's twenty minutes of event times, as in the kill
    # test: an action is still open to the late declaration whenever the worker applies it
    # (its timing against the stream is the broker's, with or without an outage).
    settings = make_settings(tmp_path, digest_interval_s=1.5, restitch_window_s=3600)
    front = LedgerFront(ledger, settings.database)
    front.bring_back()
    settings = settings.model_copy(update={"clickhouse_url": front.writer_url})
    running = RunningStack(settings, ledger.with_database(settings.database))
    try:
        running.start()
        store = running.store
        sender = Sender(running, f"outage-{SEED}")
        early = stream.declarations[: len(stream.declarations) - LATE_DECLARATIONS]
        late = stream.declarations[len(early) :]
        _declare_all(running, early)
        wait_for(
            lambda: store.count("declarations"),
            until=lambda n: n == len(early),
            timeout=60,
            what=f"{len(early)} declarations in the ledger",
        )
        for chunk in stream.chunks[:OUTAGE_AFTER]:
            sender.send(chunk)
        # The worker is writing: some of the stream is in before the ledger goes.
        wait_for(
            lambda: stored_count(store, sender.batch),
            timeout=60,
            what="the first events in the ledger",
        )
        rest = stream.chunks[OUTAGE_AFTER:]
        if moment is not None:
            front.gate.arm(*moment)
            sender.send(rest.pop(0))  # its write is the one the ledger goes away in
            wait_for(
                front.gate.tripped.is_set,
                timeout=60,
                what=f"a write into {moment[0]} to take the ledger away at",
            )
            front.take_away()
            away = time.monotonic()
            assert front.refuses(), "the ledger's port still answers while it is away"
            if moment[1] == "after":
                assert front.gate.held_status == 200, "the held write did not land"
        _declare_all(running, late)
        for chunk in rest[:-1]:
            sender.send(chunk)
            if moment is not None:
                time.sleep(OUTAGE_S / len(rest))
        if moment is not None:
            assert front.refuses(), "the ledger came back before it was brought back"
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - away)))
            front.bring_back()
        sender.send(rest[-1])
        wait_stored(store, sender.batch, sender.events)
        wait_processed(running)
        wait_for(
            lambda: store.count("declarations"),
            until=lambda n: n == len(stream.declarations),
            timeout=30,
            what=f"{len(stream.declarations)} declarations in the ledger",
        )
        dead = wait_for(
            lambda: stored_count(store, sender.batch, "dead_letters"),
            until=lambda n: n >= sender.rejected,
            timeout=30,
            what=f"the {sender.rejected} dead letters of the stream in the ledger",
        )
        rows, distinct, ids = _raw_counts(store, sender.batch)
        report = verify(store, evidence_keys(running))
        assert report.ok, f"seed {SEED}: the evidence does not hold: {report.as_json()}"
        log = (running.stack.data_dir / "logs" / "worker-0.log").read_text(errors="replace")
        assert not front.shows_password(log), "the worker's log shows the writer's password"
        return Outcome(
            sent=sender.events,
            rejected=sender.rejected,
            dead_letters=dead,
            rows=rows,
            distinct=distinct,
            event_ids=ids,
            chains=chains_of(store),
            labels=attributions_of(store),
            sessions=_session_counters(store),
            worker_log=log,
        )
    finally:
        running.stop()
        front.close()


@pytest.mark.parametrize(
    ("table", "moment", "failed"),
    [
        # The front dies as a write's session rows reach it: its drift, key, alias and
        # action rows are in, the rest of that write is refused until it comes back.
        ("sessions", "before", WRITE_FAILED),
        # The front dies once the engine took a write's last table, before it answers: the
        # whole write is in, and the worker, told nothing, writes it again.
        ("raw_events", "after", WRITE_FAILED),
        # The same for a write of dead letters (from the worker's dead-letter agent).
        ("dead_letters", "after", DEAD_LETTER_WRITE_FAILED),
    ],
    ids=["refused-part-way", "answer-lost-after-commit", "dead-letters-answer-lost"],
)
def test_the_ledger_away_mid_stream_loses_and_doubles_nothing(
    tmp_path: Path,
    chdb_ledger: ChdbStore,
    stream: Stream,
    without_outage: Outcome,
    table: str,
    moment: Moment,
    failed: str,
) -> None:
    steady = without_outage
    # What makes the comparison worth making: many sessions over three sources, and labels
    # of several kinds (which ones depends on the seed's sessions).
    assert steady.sent > 200 and len(steady.chains) >= SESSIONS
    kinds = {label[0] for label in steady.labels.values()}
    assert "agent_delegated" in kinds and len(kinds) >= 3, kinds
    assert steady.rows == steady.distinct == steady.sent
    assert steady.rejected == CHUNKS and steady.dead_letters == steady.rejected
    assert "failed, retrying" not in steady.worker_log

    outage = _run(tmp_path, chdb_ledger, stream, (table, moment))
    seed = f"seed {SEED}"
    # The worker met the outage: its writes failed and were retried.
    assert failed in outage.worker_log, f"{seed}: the worker never logged {failed!r}"
    # Nothing lost, nothing doubled.
    assert outage.sent == steady.sent
    assert (outage.rows, outage.distinct) == (outage.sent, outage.sent), seed
    assert outage.event_ids == steady.event_ids, seed
    assert outage.dead_letters == outage.rejected == steady.rejected, seed
    # The same chains, labels and session counters as without the outage.
    assert outage.chains == steady.chains, seed
    assert outage.labels == steady.labels, seed
    assert outage.sessions == steady.sessions, seed
