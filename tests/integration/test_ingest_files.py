"""``ingest`` of an S3 sync: a directory tree of ``.json.gz`` CloudTrail deliveries reaches the
ledger with the same chains and labels as the same records in one plain file."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.chdb_store import ChdbStore
from tests.integration.conftest import RunningStack, make_settings
from tests.integration.helpers import chains_of, ingest, labels_of, wait_processed, wait_stored

ACCOUNT = "111122223333"
PER_FILE = 40


def _real_cloudtrail(real_data: Path) -> list[dict[str, Any]]:
    """Every record of the Stratus Red Team detonation logs, oldest first (stable)."""
    records: list[dict[str, Any]] = []
    for path in sorted((real_data / "aws_cloudtrail/stratus-red-team").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        records += document["Records"] if isinstance(document, dict) else document
    return sorted(records, key=lambda r: str(r["eventTime"]))


def _delivery(root: Path, records: list[dict[str, Any]], rng: random.Random) -> Path:
    """Where CloudTrail would deliver ``records``: named by the time of the first one."""
    when = datetime.strptime(records[0]["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    region = str(records[0].get("awsRegion") or "us-east-1")
    suffix = "".join(
        rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=16)
    )
    return (
        root
        / f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{when:%Y/%m/%d}"
        / f"{ACCOUNT}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    )


def _write_s3_sync(root: Path, records: list[dict[str, Any]]) -> tuple[int, str]:
    """The records as an S3 sync (several gzip deliveries in region and date folders, written
    and timestamped in shuffled order), with what a sync also brings: a digest, a README,
    a hidden file, and one corrupt delivery. Returns the files written and the corrupt one's
    path inside ``root``."""
    rng = random.Random(20240801)
    chunks: list[list[dict[str, Any]]] = [[]]
    for record in records:  # a delivery starts at a new minute: each name has its own time
        if (
            len(chunks[-1]) >= PER_FILE
            and record["eventTime"][:16] > chunks[-1][-1]["eventTime"][:16]
        ):
            chunks.append([])
        chunks[-1].append(record)
    targets = [_delivery(root, chunk, rng) for chunk in chunks]
    stamps = [t.name.split("_")[3] for t in targets]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), stamps
    order = list(range(len(chunks)))
    rng.shuffle(order)
    for rank, index in enumerate(order):  # modification times lie: only the names tell
        target = targets[index]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(json.dumps({"Records": chunks[index]}).encode()))
        os.utime(target, (1_000_000 + rank, 1_000_000 + rank))
    digest = root / f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/08/01/d.json.gz"
    digest.parent.mkdir(parents=True)
    digest.write_bytes(gzip.compress(b'{"digestStartTime": "2024-08-01T00:00:00Z"}'))
    (root / "README.md").write_text("synced from s3://trail-bucket\n")
    (root / f"AWSLogs/{ACCOUNT}/.sync-state").write_text("{}")
    corrupt = root / f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/12/01"
    corrupt /= f"{ACCOUNT}_CloudTrail_us-east-1_20241201T0000Z_corrupt.json.gz"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(gzip.compress(json.dumps({"Records": records[:5]}).encode())[:-40])
    return len(chunks), corrupt.relative_to(root).as_posix()


def test_an_s3_sync_of_gzip_cloudtrail_gives_the_chains_of_the_same_records_in_one_file(
    chdb_ledger: ChdbStore, real_data: Path, tmp_path: Path
) -> None:
    # One partition in both ledgers, so that each stitches the records in the order they
    # were read: the time-window links (a principal's actions close in time) depend on
    # that order, and two partitions interleave as their fetches come.
    walked_settings = make_settings(tmp_path / "walked", partitions=1)
    stack = RunningStack(walked_settings, chdb_ledger.with_database(walked_settings.database))
    stack.start()
    try:
        _compare_sync_with_one_file(stack, chdb_ledger, real_data, tmp_path)
    finally:
        stack.stop()


def _compare_sync_with_one_file(
    stack: RunningStack, chdb_ledger: ChdbStore, real_data: Path, tmp_path: Path
) -> None:
    records = _real_cloudtrail(real_data)
    sync = tmp_path / "sync"
    files, corrupt = _write_s3_sync(sync, records)
    assert files >= 5

    walked = ingest(stack, "cloudtrail", sync, batch="s3-sync")
    # The corrupt delivery is one dead letter naming it; the digest, README and hidden file
    # were never read (each would be a dead letter of its own).
    assert walked.rejected == 1, walked.as_json()
    [reason] = walked.reasons
    assert reason.startswith("unreadable gzip: ")
    assert walked.examples[reason] == f"cloudtrail {sync}/{corrupt}:1"
    wait_stored(stack.store, "s3-sync", walked.events)
    wait_processed(stack)
    dead = stack.store.query_rows(
        f"SELECT position, reason FROM {stack.store.database}.dead_letters "
        "WHERE ingest_batch = 's3-sync'"
    )
    assert [d["position"] for d in dead] == [f"{sync}/{corrupt}:1"]

    plain = tmp_path / "plain" / "cloudtrail.json"
    plain.parent.mkdir()
    plain.write_text(json.dumps({"Records": records}))
    # A fresh ledger: its own database and topics.
    settings = make_settings(tmp_path / "other", partitions=1)
    other = RunningStack(settings, chdb_ledger.with_database(settings.database))
    other.start()
    try:
        single = ingest(other, "cloudtrail", plain, batch="plain")
        assert (single.accepted, single.events, single.rejected) == (
            walked.accepted,
            walked.events,
            0,
        )
        wait_stored(other.store, "plain", single.events)
        wait_processed(other)
        chains = chains_of(stack.store)
        assert len(chains) > 1 and any(len(c) > 1 for c in chains)
        assert chains == chains_of(other.store)
        labels = labels_of(stack.store)
        assert len(labels) == stack.store.count("actions")
        assert labels == labels_of(other.store)
    finally:
        other.stop()


AGENTLEDGER = [sys.executable, "-m", "agentledger"]


def test_the_command_names_paths_it_cannot_read_before_reaching_the_ledger(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "AWSLogs"
    empty.mkdir()
    (empty / "README.md").write_text("nothing synced yet")
    result = subprocess.run(
        [
            *AGENTLEDGER,
            "ingest",
            "--source",
            "cloudtrail",
            str(tmp_path / "missing.json.gz"),
            str(empty),
            "--data-dir",
            str(tmp_path / "no-ledger"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "no such file or directory" in result.stderr and "missing.json.gz" in result.stderr
    assert "no log files under" in result.stderr
    shown = subprocess.run(
        [*AGENTLEDGER, "ingest", "--help"], capture_output=True, text=True, timeout=120
    )
    assert "directory" in shown.stdout and "gzip" in shown.stdout
