"""Small helpers the integration tests share."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agentledger.ingesting import ingest_paths
from agentledger.progress import stored_count
from ingest.pipeline import IngestReport
from kernel.kafka import consumer_lag
from kernel.keyfiles import CLI_KEY_FILE, SECRETS_DIR
from kernel.topics import Topics
from ledger.store import LedgerStore
from tests.integration.conftest import RunningStack


def api_headers(stack: RunningStack) -> dict[str, str]:
    """The headers the command line sends: the ledger's local admin key, from its file."""
    key = (stack.stack.data_dir / SECRETS_DIR / CLI_KEY_FILE).read_text().strip()
    return {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}


def ingest(stack: RunningStack, source: str, *paths: Path, batch: str) -> IngestReport:
    topics = Topics(stack.settings.topic_prefix)
    return asyncio.run(
        ingest_paths(stack.bootstrap, topics, source, [str(p) for p in paths], ingest_batch=batch)
    )


def wait_stored(store: LedgerStore, batch: str, expected: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        count = stored_count(store, batch)
        if count >= expected:
            assert count == expected, f"{count} events of batch {batch} stored, {expected} sent"
            return
        time.sleep(0.1)
    raise AssertionError(f"only {count} of {expected} events of {batch} reached the ledger")


def wait_consumed(stack: RunningStack, timeout: float = 60) -> None:
    """Until the worker has committed everything on ledger.events."""
    topics = Topics(stack.settings.topic_prefix)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lag = asyncio.run(consumer_lag(stack.bootstrap, topics.worker_group, topics.events))
        if lag == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not consume ledger.events in time")


def wait_rows(store: LedgerStore, table: str, expected: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        count = store.count(table)
        if count >= expected:
            return count
        time.sleep(0.1)
    raise AssertionError(f"{table} has {count} rows, expected {expected}")
