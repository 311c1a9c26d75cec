"""Integration fixtures: the real Tansu broker, the real chDB ledger, real Faust workers.

chDB opens one data path per process, so the pytest process holds one ledger and every
test gets its own database in it, its own topics (under its own prefix) and its own
broker; nothing is shared between tests but the chDB engine.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

from agentledger.stack import Stack
from kernel.config import Settings
from kernel.procs import free_port
from ledger.chdb_store import ChdbStore
from ledger.http_front import Credentials, build_app
from ledger.store import LedgerStore
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.polling import wait_for

T = TypeVar("T")
WRITER_PASSWORD = "integration-writer"
ANALYST_USER = "analyst"
ANALYST_PASSWORD = "integration-analyst"


@pytest.fixture(scope="session")
def chdb_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbStore]:
    """The one chDB ledger of this test process (chDB opens one data path per process);
    tests take their own database in it with ``with_database``."""
    store = ChdbStore(tmp_path_factory.mktemp("chdb"), "default")
    yield store
    store.close()


@pytest.fixture(scope="session")
def ledger_http(chdb_ledger: ChdbStore) -> Iterator[str]:
    """HOST:PORT of the ClickHouse HTTP interface over this process's chDB ledger: what the
    ledger's ClickHouse-server code path (clickhouse-connect) is tested against."""
    app = build_app(chdb_ledger, Credentials(WRITER_PASSWORD, ANALYST_USER, ANALYST_PASSWORD))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10, interval=0.02, what="the ledger HTTP interface")
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


class RunningStack:
    """A ``Stack`` running on its own event loop in a thread, driven synchronously."""

    def __init__(
        self, settings: Settings, store: LedgerStore | None, *, workers: int | None = None
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stack = Stack(settings, store=store, workers=workers, write_state=False)
        self.settings = settings

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.call(self.stack.start())
        self.call(self.stack.wait_ready())

    def stop(self) -> None:
        try:
            self.call(self.stack.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    @property
    def store(self) -> LedgerStore:
        """The ledger the stack writes to (given, or opened by the stack)."""
        assert self.stack.store is not None, "the stack is not started"
        return self.stack.store

    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "data_dir": tmp_path / "ledger",
        "topic_prefix": f"t{tag}",
        "database": f"t_{tag}",
        "partitions": 2,
        "batch_wait_ms": 50,
        # The stack redacts what is exported to its API with the deployment's key, which is
        # process-wide: the one every test fingerprints with.
        "fingerprint_key": TEST_FINGERPRINT_KEY.decode(),
        # Token exchanges decided by the window only (``move_stream_on``), never by how long
        # a test happened to leave the stream idle; `agentledger up`'s test keeps the idle rule.
        "exchange_idle_s": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def stack(tmp_path: Path, chdb_ledger: ChdbStore) -> Iterator[RunningStack]:
    settings = make_settings(tmp_path)
    running = RunningStack(settings, chdb_ledger.with_database(settings.database))
    running.start()
    yield running
    running.stop()
