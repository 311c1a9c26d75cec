"""Tamper evidence through the real broker, Faust worker and chDB ledger.

One stream runs through a stack: sample sessions, then the worker killed and started
again, then the same records again (a replay) and new ones. The ledger it leaves verifies;
then each kind of tampering is done to a copy of its records (one case each) and
``verify`` must name it: stream, position, event id and kind.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from agentledger.cli import main
from agentledger.sampledata import generate_sessions, write_files
from kernel.errors import EvidenceError
from kernel.evidence import chain_rows
from kernel.topics import Topics
from ledger.chdb_store import ChdbStore
from ledger.store import LedgerStore
from processors.evidence import signature_holds
from processors.rebuild import rebuild
from processors.verify import DELETED, EDITED, INSERTED, REORDERED, verify
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.integration.conftest import (
    ANALYST_PASSWORD,
    ANALYST_USER,
    WRITER_PASSWORD,
    RunningStack,
    make_settings,
)
from tests.integration.helpers import evidence_keys, ingest, wait_processed, wait_stored
from tests.polling import wait_for


@dataclass
class Evidenced:
    """The ledger a stream left, stopped: its database and digest keys."""

    store: ChdbStore
    keys: dict[str, Any]
    streams: int  # partitions of the topics the worker reads, at most one stream each
    topics: list[str]
    published: list[dict[str, Any]]


def _ingest(stack: RunningStack, directory: Path, batch: str, count: int) -> int:
    files = write_files(generate_sessions(count, run_id=batch), directory)
    total = 0
    for source, path in files.items():
        report = ingest(stack, source, path, batch=batch)
        assert report.rejected == 0, report.as_json()
        total += report.events
    return total


def _digested_to_the_end(store: LedgerStore) -> bool:
    db = store.database
    [row] = store.query_rows(
        f"SELECT (SELECT count() FROM {db}.raw_events FINAL WHERE chain_stream != '') AS chained,"
        f" (SELECT sum(m) FROM (SELECT max(last_seq) AS m FROM {db}.evidence_digests FINAL "
        "GROUP BY stream)) AS digested"
    )
    return int(row["chained"]) > 0 and int(row["chained"]) == int(row["digested"] or 0)


async def _published(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every message on the digests topic so far."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            partitions = [TopicPartition(topic, p) for p in range(2)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        messages: list[dict[str, Any]] = []
        while batch := await consumer.getmany(timeout_ms=1_000):
            messages += [orjson.loads(m.value) for ms in batch.values() for m in ms]
        return messages
    finally:
        await consumer.stop()


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams read seven rows at a time: the walk goes on across pages, and a row in one
    page is named by what lies in another."""
    monkeypatch.setattr("processors.verify.PAGE_SIZE", 7)


@pytest.fixture(scope="module")
def evidenced(
    tmp_path_factory: pytest.TempPathFactory, chdb_ledger: ChdbStore
) -> Iterator[Evidenced]:
    tmp = tmp_path_factory.mktemp("evidence")
    # No drift scoring: its model adds seconds to each worker start and proves nothing here.
    settings = make_settings(tmp, digest_interval_s=0.5, drift_scoring=False)
    stack = RunningStack(settings, chdb_ledger.with_database(settings.database))
    stack.start()
    store = chdb_ledger.with_database(settings.database)
    try:
        first = _ingest(stack, tmp / "one", "ev-one", 4)
        wait_stored(store, "ev-one", first)
        # A worker killed and started again goes on with each chain where the ledger has it.
        [worker] = stack.stack._workers
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert stack.stack.respawn_dead_workers() == [(0, -signal.SIGKILL)]
        # The same records again (a replay: stored once, so no chain forks) and new ones.
        assert _ingest(stack, tmp / "one", "ev-one", 4) == first
        second = _ingest(stack, tmp / "two", "ev-two", 4)
        wait_stored(store, "ev-two", second)
        wait_processed(stack)
        wait_stored(store, "ev-one", first)
        for batch in ("ev-two", "ev-three"):  # one more: every stream has several digests
            if batch == "ev-three":
                wait_stored(store, batch, _ingest(stack, tmp / "three", batch, 4))
            wait_for(
                lambda: _digested_to_the_end(store),
                until=bool,
                timeout=30,
                what=f"digests up to each stream's last record, after {batch}",
            )
        topic = Topics(settings.topic_prefix).digests
        published = asyncio.run(_published(stack.bootstrap, topic))
        keys = evidence_keys(stack)
    finally:
        stack.stop()
    topics = Topics(settings.topic_prefix).event_topics
    yield Evidenced(store, keys, settings.partitions * len(topics), topics, published)


def test_the_stream_verifies_and_every_record_is_chained_once_and_digested(
    evidenced: Evidenced,
) -> None:
    store, db = evidenced.store, evidenced.store.database
    report = verify(store, evidenced.keys)
    assert report.ok, [p.describe() for p in report.problems]
    assert store.count("raw_events", "chain_stream = ''") == 0
    # A stream is a partition of either topic the worker reads: every one the events went
    # to is verified.
    chained = {
        r["chain_stream"]
        for r in store.query_rows(f"SELECT DISTINCT chain_stream FROM {db}.raw_events")
    }
    assert {check.stream for check in report.streams} == chained
    assert len(chained) <= evidenced.streams
    assert {name.rsplit("/", 1)[0] for name in chained} == set(evidenced.topics)
    for check in report.streams:
        # Positions 1..n, each once: the restart and the replay forked nothing.
        positions = store.query_rows(
            f"SELECT chain_seq AS s FROM {db}.raw_events WHERE chain_stream = {{s:String}} "
            "ORDER BY s",
            {"s": check.stream},
        )
        assert [int(r["s"]) for r in positions] == list(range(1, check.records + 1))
        assert check.digests >= 2 and check.undigested == 0
    # Every digest also went out on the digests topic, signed as the ledger keeps it.
    kept = {r["digest_id"]: r for r in store.query_rows(f"SELECT * FROM {db}.evidence_digests")}
    assert evidenced.published
    [public] = evidenced.keys.values()
    for digest in evidenced.published:
        assert kept[digest["digest_id"]]["body"] == digest["body"]
        assert signature_holds(public, digest["body"].encode(), digest["signature"])
    # No secret is in the ledger: the digests carry a key id and signatures only.
    assert all('"d"' not in row["body"] for row in kept.values())
    # From a time: each stream from the last digest signed before it, which vouches for
    # the chain hash the check starts from.
    newest = max(row["made_at"] for row in kept.values())
    since = datetime.strptime(newest, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    partial = verify(store, evidenced.keys, since)
    assert partial.ok, [p.describe() for p in partial.problems]
    for check in partial.streams:
        before = [
            int(r["last_seq"])
            for r in kept.values()
            if r["stream"] == check.stream and r["made_at"] < newest
        ]
        assert check.first_position == max(before, default=0) + 1
    assert all(check.first_position > 1 for check in partial.streams)


def test_verify_on_the_command_line(
    evidenced: Evidenced, ledger_http: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys.json"
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": _x(evidenced.keys)}]}
    keys.write_bytes(orjson.dumps(jwks))
    monkeypatch.setenv("AGENTLEDGER_DATABASE", evidenced.store.database)
    url = f"http://{ANALYST_USER}:{ANALYST_PASSWORD}@{ledger_http}"  # read as the analyst
    args = ["verify", "--clickhouse", url, "--public-keys", str(keys), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["ok"] is True
    # From a time after every digest: only what is newer is read (nothing), and it holds.
    since = CliRunner().invoke(main, [*args, "--since", "2299-01-01T00:00:00Z"])
    assert since.exit_code == 0, since.output
    assert all(s["records"] == 0 for s in orjson.loads(since.output)["streams"])


def _x(keys: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    [public] = keys.values()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- tampering, one case each, on a copy of the records -----------------------------------------
def _copy(evidenced: Evidenced, case: str) -> ChdbStore:
    source = evidenced.store.database
    copy = evidenced.store.with_database(f"{source}_{case}")
    copy.ensure_schema()
    for table in ("raw_events", "evidence_digests"):
        copy.command(f"INSERT INTO {copy.database}.{table} SELECT * FROM {source}.{table}")
    return copy


def _stream(store: LedgerStore) -> tuple[str, list[dict[str, Any]]]:
    """The stream with the most records, and its rows by position."""
    [row] = store.query_rows(
        f"SELECT chain_stream AS s, count() AS n FROM {store.database}.raw_events "
        "GROUP BY s ORDER BY n DESC LIMIT 1"
    )
    rows = store.query_rows(
        f"SELECT * FROM {store.database}.raw_events FINAL WHERE chain_stream = {{s:String}} "
        "ORDER BY chain_seq",
        {"s": row["s"]},
    )
    assert len(rows) > 12
    return row["s"], rows


def _mutate(store: LedgerStore, statement: str) -> None:
    store.command(
        f"ALTER TABLE {store.database}.raw_events {statement} SETTINGS mutations_sync = 2"
    )


def _first_problem(store: LedgerStore, evidenced: Evidenced) -> Any:
    report = verify(store, evidenced.keys)
    assert not report.ok
    return report.problems[0]


def test_a_changed_byte_is_named_and_rebuild_refuses_it(evidenced: Evidenced) -> None:
    copy = _copy(evidenced, "edited")
    stream, rows = _stream(copy)
    target = rows[4]["event_id"]
    _mutate(
        copy,
        "UPDATE raw = concat(substring(raw, 1, 2), if(substring(raw, 3, 1) = 'x', 'y', 'x'), "
        f"substring(raw, 4)) WHERE event_id = '{target}'",
    )
    problem = _first_problem(copy, evidenced)
    assert (problem.kind, problem.stream, problem.position, problem.event_id) == (
        EDITED,
        stream,
        5,
        target,
    )
    with pytest.raises(EvidenceError, match="EDITED"):
        rebuild(copy, public_keys=evidenced.keys)
    # Told to, it rebuilds from them (the edited record no longer parses: it is counted).
    rebuilt = rebuild(copy, public_keys=None)
    assert rebuilt.events + rebuilt.unparseable == copy.count("raw_events")


def test_a_deleted_event_is_named(evidenced: Evidenced) -> None:
    copy = _copy(evidenced, "deleted")
    stream, rows = _stream(copy)
    _mutate(copy, f"DELETE WHERE event_id = '{rows[4]['event_id']}'")
    problem = _first_problem(copy, evidenced)
    assert (problem.kind, problem.stream, problem.position) == (DELETED, stream, 5)
    assert rows[3]["event_id"] in problem.detail and rows[5]["event_id"] in problem.detail


def test_the_newest_event_deleted_is_named_by_its_digest(evidenced: Evidenced) -> None:
    copy = _copy(evidenced, "tail")
    stream, rows = _stream(copy)
    _mutate(copy, f"DELETE WHERE event_id = '{rows[-1]['event_id']}'")
    problem = _first_problem(copy, evidenced)
    assert (problem.kind, problem.stream, problem.position) == (DELETED, stream, len(rows))
    assert "digest" in problem.detail


def test_an_event_inserted_and_chained_in_is_named(evidenced: Evidenced) -> None:
    copy = _copy(evidenced, "inserted")
    stream, rows = _stream(copy)
    # A forger who knows the scheme: a record chained after position 4, the rest moved on.
    forged = {k: v for k, v in rows[4].items() if k != "stored_at"}
    forged["event_id"] = "forged-event"
    forged["raw"] = forged["raw"].replace("{", '{"forged": true, ', 1)
    chain_rows(stream, 4, bytes.fromhex(rows[3]["chain_hash"]), [forged])
    _mutate(
        copy, f"UPDATE chain_seq = chain_seq + 1 WHERE chain_stream = '{stream}' AND chain_seq >= 5"
    )
    copy.insert_rows("raw_events", [forged])
    problem = _first_problem(copy, evidenced)
    assert (problem.kind, problem.stream, problem.position, problem.event_id) == (
        INSERTED,
        stream,
        5,
        "forged-event",
    )


def test_an_event_inserted_outside_any_chain_is_named(evidenced: Evidenced) -> None:
    copy = _copy(evidenced, "unchained")
    _, rows = _stream(copy)
    stray = {k: v for k, v in rows[2].items() if k != "stored_at" and not k.startswith("chain_")}
    copy.insert_rows("raw_events", [{**stray, "event_id": "stray-event"}])
    problem = _first_problem(copy, evidenced)
    assert (problem.kind, problem.event_id) == (INSERTED, "stray-event")


def test_two_events_swapped_are_named(evidenced: Evidenced) -> None:
    copy = _copy(evidenced, "swapped")
    stream, rows = _stream(copy)
    a, b = rows[4], rows[8]
    _mutate(
        copy,
        f"UPDATE chain_seq = if(event_id = '{a['event_id']}', {b['chain_seq']}, {a['chain_seq']}) "
        f"WHERE event_id IN ('{a['event_id']}', '{b['event_id']}')",
    )
    problem = _first_problem(copy, evidenced)
    assert (problem.kind, problem.stream, problem.position, problem.event_id) == (
        REORDERED,
        stream,
        5,
        b["event_id"],
    )


def test_the_command_line_names_it_and_rebuild_refuses_it_unless_told(
    evidenced: Evidenced, ledger_http: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = _copy(evidenced, "cli")
    stream, rows = _stream(copy)
    _mutate(copy, f"DELETE WHERE event_id = '{rows[6]['event_id']}'")
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": _x(evidenced.keys)}]}
    (tmp_path / "evidence_keys.json").write_bytes(orjson.dumps(jwks))
    monkeypatch.setenv("AGENTLEDGER_DATABASE", copy.database)
    monkeypatch.setenv("AGENTLEDGER_DATA_DIR", str(tmp_path))  # the published keys' place
    monkeypatch.setenv("AGENTLEDGER_FINGERPRINT_KEY", TEST_FINGERPRINT_KEY.decode())
    analyst = f"http://{ANALYST_USER}:{ANALYST_PASSWORD}@{ledger_http}"
    checked = CliRunner().invoke(main, ["verify", "--clickhouse", analyst])
    assert checked.exit_code == 1, checked.output
    assert f"DELETED at {stream} position 7" in " ".join(checked.output.split())
    writer = f"http://writer:{WRITER_PASSWORD}@{ledger_http}"
    refused = CliRunner().invoke(main, ["rebuild", "--clickhouse", writer])
    assert refused.exit_code == 2, refused.output
    assert "do not verify" in refused.output and "--unverified" in refused.output
    assert copy.count("sessions") == 0  # refused before anything was rebuilt
    told = CliRunner().invoke(main, ["rebuild", "--clickhouse", writer, "--unverified", "--json"])
    assert told.exit_code == 0, told.output
    assert orjson.loads(told.output)["events"] == copy.count("raw_events")
    assert copy.count("sessions") > 0
