"""The embedded stack: broker, ledger (chDB + its HTTP interface), Faust workers, and the
Shared Signals transmitter beside the API.

``Stack`` starts what is not given from outside (``--kafka``, ``--clickhouse``), writes a
state file other commands read to find it, and stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from agentledger.auth import ApiKeys, Authenticator, JwtVerifier, local_cli_key
from agentledger.broker import EmbeddedBroker
from agentledger.normalizing import ready_file as normalizer_ready_file
from agentledger.normalizing import stats_file
from agentledger.signals import SignalsService
from agentledger.stack_env import normalizer_env, worker_env
from agentledger.stack_state import (
    STATE_FILE,
    StackInfo,
    normalizer_counts,
    take_lock,
    without_credentials,
)
from ingest.normalizer import raw_sources
from ingest.otel import OtelTraceSource
from ingest.registry import SOURCES
from kernel import keyfiles
from kernel.config import Settings
from kernel.declaration import SessionDeclaration
from kernel.errors import StackError
from kernel.events import now_utc
from kernel.kafka import BatchSender, ensure_topics
from kernel.kafka import producer as kafka_producer
from kernel.keyfiles import CLI_KEY_FILE, SECRETS_DIR
from kernel.policy import Policy
from kernel.procs import free_port, refuse_taken_port, spawn, stop
from kernel.tokens import use_fingerprint_key
from kernel.topics import Topics
from ledger.engine_priority import keep_background_low
from ledger.factory import open_store
from ledger.store import LedgerStore
from processors.evidence import digest_signer

if TYPE_CHECKING:
    from ingest.pipeline import IngestReport

START_ATTEMPTS = 3  # a worker that exits while joining is started again, up to this often


class Stack:
    """Start with ``async with Stack(settings) as stack``; ``stack.store`` is the ledger."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: LedgerStore | None = None,
        workers: int | None = None,
        write_state: bool = True,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.data_dir = settings.data_dir
        self.worker_count = settings.workers if workers is None else workers
        self.write_state = write_state
        self._given_store = store
        self.store: LedgerStore | None = store
        self.broker: EmbeddedBroker | None = None
        self.bootstrap = settings.kafka or ""
        self.http_url = ""
        # Never write a password into the state file: readers bring their own.
        self.sql_url = without_credentials(settings.clickhouse_url or "")
        self.sql_user = settings.sql_user  # a ClickHouse server has its own analyst account
        self._sql_password_file: Path | None = None
        self._writer_url = settings.clickhouse_url or ""
        self.api_keys: ApiKeys | None = None
        self._jwt: JwtVerifier | None = None
        self._server: Any = None
        self._producer: Any = None
        self._sender: BatchSender | None = None
        self._traces = OtelTraceSource()
        self._server_task: asyncio.Task[None] | None = None
        self._background: asyncio.Task[None] | None = None  # keep_background_low
        self.signals: SignalsService | None = None
        self._workers: list[subprocess.Popen[bytes]] = []
        self._normalizer: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self.started_at = now_utc()
        self.accepting = True  # False once stopping: nothing new goes to the broker

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> Stack:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        raw_sources(self.settings.raw_topics)  # an unknown source fails before anything starts
        Policy.load(self.settings.policy_file)  # so does a mistake in the drift policy
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = take_lock(self.data_dir)
        if self.settings.http_port:  # a port taken fails now, before the broker or ledger starts
            refuse_taken_port(self.settings.http_host, self.settings.http_port)
        self._prepare_secrets()
        logs = self.data_dir / "logs"
        topics = self.topics.all(list(SOURCES))
        if not self.bootstrap:
            self.broker = EmbeddedBroker(logs / "broker.log")
            self.bootstrap = await asyncio.to_thread(self.broker.start)
            # The embedded broker is ours: its raw topics too. A cluster's belong to whoever
            # runs the shippers, and the normalizer reads them once they exist.
            topics += [raw.topic for raw in self.settings.raw_topics]
        await ensure_topics(self.bootstrap, topics, self.settings.partitions, self.settings)
        if self.store is None:
            self.store = await asyncio.to_thread(open_store, self.settings)
        await asyncio.to_thread(self.store.ensure_schema)
        await self._serve_http()
        if not self.settings.clickhouse_url and self.settings.ledger_merge_nice:
            self._background = asyncio.create_task(
                keep_background_low(self.settings.ledger_merge_nice)
            )
        for index in range(self.worker_count):
            self._workers.append(self._spawn_worker(index))
        if self.settings.raw_topics:
            stats_file(self.data_dir).unlink(missing_ok=True)  # counts are per `up`
            self._normalizer = self._spawn_normalizer()
        if self.write_state:
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / "run" / "ready").unlink()
            self._write_state()

    async def stop(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
            self._background = None
        if self._normalizer is not None:  # first: what feeds the workers stops before them
            await asyncio.to_thread(stop, self._normalizer)
            self._normalizer = None
        for proc in self._workers:
            await asyncio.to_thread(stop, proc)
        self._workers.clear()
        if self.signals is not None:  # before the server: its long polls answer at once
            await self.signals.stop()
            self.signals = None
        if self._server is not None:
            self._server.should_exit = True
            if self._server_task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(self._server_task, 10)
            self._server = None
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
            self._sender = None
        if self.store is not None and self._given_store is None:
            self.store.close()
            self.store = None
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
            self.broker = None
        if self._lock is not None and self.write_state:  # only the owner removes its state
            for path in (self.data_dir / STATE_FILE, self.data_dir / "run" / "ready"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- parts -----------------------------------------------------------------------------
    def _prepare_secrets(self) -> None:
        """The deployment's own secrets, created on first start (owner-only files).

        The fingerprint key is made here, before any ingest, so that every process that
        ingests into this ledger reads the same one; this process redacts with it too (the
        spans exported to the API).
        """
        settings = self.settings
        use_fingerprint_key(keyfiles.fingerprint_key(settings))
        self.api_keys = ApiKeys(self.data_dir)
        local_cli_key(self.data_dir, self.api_keys)
        # The digest key, and its public half published for `verify`, before any worker.
        digest_signer(settings.evidence_dir or self.data_dir)
        self._jwt = (
            JwtVerifier(
                settings.auth_jwks,
                issuer=settings.auth_issuer,
                audience=settings.auth_audience,
                roles_claim=settings.auth_roles_claim,
            )
            if settings.auth_jwks
            else None
        )

    def _refuse_when_stopping(self) -> None:
        if not self.accepting:
            raise StackError("the ledger is stopping: send again once it runs")

    async def _publish_declaration(self, declaration: SessionDeclaration) -> None:
        assert self._producer is not None
        self._refuse_when_stopping()
        await self._producer.send_and_wait(
            self.topics.declared,
            declaration.model_dump_json().encode(),
            key=declaration.session_id.encode(),
        )

    async def _receive_traces(self, document: dict[str, Any], origin: str) -> IngestReport:
        """Spans exported to the API, framed, parsed and produced as `agentledger ingest
        --source otel` does, on the producer the API keeps for its lifetime; ``origin``
        names the request in positions as a file's name does."""
        from aiokafka.errors import KafkaError

        from agentledger.ingesting import new_batch_id
        from ingest.framing import frame_value
        from ingest.pipeline import ingest_stream

        assert self._sender is not None
        self._refuse_when_stopping()
        source = self._traces
        # Redaction walks every value of every span: off the loop that serves the ledger.
        records = await asyncio.to_thread(lambda: list(frame_value(source, document, origin)))
        try:
            return await ingest_stream(
                self._sender, self.topics, source, records, ingest_batch=new_batch_id("otlp")
            )
        except KafkaError as exc:
            raise StackError(f"the broker did not take the spans: {exc}") from exc

    async def _serve_http(self) -> None:
        """The API (declarations, trace exports, status) and, when the ledger is embedded,
        the ClickHouse HTTP interface over chDB, on one loopback port."""
        import uvicorn

        from agentledger.api import build_api, serve_http, server_without_signals

        self._producer = kafka_producer(self.bootstrap, self.settings)
        await self._producer.start()
        self._sender = BatchSender(self._producer)
        assert self.api_keys is not None and self.store is not None
        host = self.settings.http_host
        port = self.settings.http_port or free_port(host)
        self.signals = SignalsService(
            self.settings, self.store, self.bootstrap, f"http://{host}:{port}"
        )
        app = build_api(
            self._publish_declaration,
            self.status,
            Authenticator(self.api_keys, self._jwt),
            receive_traces=self._receive_traces,
            otlp_max_body=self.settings.otlp_max_body_bytes,
            signals=self.signals.transmitter,
            ledger=self.store,
        )
        if not self.settings.clickhouse_url:
            app.mount("/", self._ledger_interface(host, port))
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        server = self._server = server_without_signals(config)
        self._server_task = asyncio.create_task(serve_http(server, host, port))
        deadline = time.monotonic() + 15
        while not server.started:
            if self._server_task.done():
                self._server_task.result()  # raises what ended it
            if self._server_task.done() or time.monotonic() > deadline:
                raise StackError(f"the HTTP interface did not start on {host}:{port}")
            await asyncio.sleep(0.02)
        self.http_url = f"http://{host}:{port}"
        await self.signals.start()

    def _ledger_interface(self, host: str, port: int) -> Any:
        from ledger.chdb_store import ChdbStore
        from ledger.http_front import WRITER, Credentials, build_app

        # The front serves the engine itself (its read-only connection, every database), so
        # only the chDB ledger this process owns can back it: the one backend named here.
        assert isinstance(self.store, ChdbStore)
        writer_password = (
            self.settings.writer_password.get_secret_value()
            if self.settings.writer_password
            else secrets.token_urlsafe(24)
        )
        sql_password = keyfiles.sql_password(self.settings)
        if self.settings.sql_password is None:
            self._sql_password_file = keyfiles.sql_password_file(self.data_dir)
        self.sql_url = f"http://{host}:{port}"
        # The writer's URL goes only to the workers' environment, never to a file or a log.
        self._writer_url = f"http://{WRITER}:{quote(writer_password, safe='')}@{host}:{port}"
        return build_app(
            self.store, Credentials(writer_password, self.settings.sql_user, sql_password)
        )

    def ready_file(self, index: int) -> Path:
        return self.data_dir / "run" / f"worker-{index}.ready"

    def scoring_stats_file(self, index: int) -> Path:
        """Where worker ``index`` keeps its drift-scoring counts (``agentledger bench``)."""
        return self.data_dir / "run" / f"worker-{index}.scoring.json"

    def _spawn_worker(self, index: int) -> subprocess.Popen[bytes]:
        ready = self.ready_file(index)
        with contextlib.suppress(FileNotFoundError):
            ready.unlink()
        env = worker_env(
            self.settings,
            bootstrap=self.bootstrap,
            writer_url=self._writer_url,
            worker_dir=self.data_dir / f"worker-{index}",
            ready=ready,
            scoring_stats=self.scoring_stats_file(index),
        )
        args = [sys.executable, "-m", "processors.worker", "worker", "-l", "info", "--without-web"]
        return spawn(args, log=self.data_dir / "logs" / f"worker-{index}.log", env=env)

    def _spawn_normalizer(self) -> subprocess.Popen[bytes]:
        """The normalizer of the raw topics, a process of its own (see
        ``agentledger.normalizing`` for why); it reads the fingerprint key of this data
        directory, or the one these settings give, as ``agentledger ingest`` does."""
        normalizer_ready_file(self.data_dir).unlink(missing_ok=True)
        args = [sys.executable, "-m", "agentledger.normalizing"]
        env = normalizer_env(self.settings, self.bootstrap)
        return spawn(args, log=self.data_dir / "logs" / "normalizer.log", env=env)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every worker, and the normalizer, has joined its consumer group.

        One that exits while joining (killed, or a start that failed on a busy machine) is
        started again, up to ``START_ATTEMPTS`` times in all: one that cannot start at all
        still fails the stack, naming its log.
        """
        deadline = time.monotonic() + timeout
        names = [f"worker {i}" for i in range(len(self._workers))]
        if self._normalizer is not None:
            names.append("normalizer")
        for name in names:
            attempts = 1
            while not self._ready_file_of(name).exists():
                proc = self._process_of(name)
                if proc.poll() is not None:
                    log = self.data_dir / "logs" / f"{name.replace(' ', '-')}.log"
                    if attempts >= START_ATTEMPTS:
                        raise StackError(
                            f"{name} exited with {proc.returncode} while joining, "
                            f"{attempts} times; see {log}"
                        )
                    attempts += 1
                    self._restart(name)
                    print(
                        f"{name} exited with {proc.returncode} while joining; started again "
                        f"(attempt {attempts} of {START_ATTEMPTS}, log: {log})",
                        file=sys.stderr,
                        flush=True,
                    )
                    deadline = max(deadline, time.monotonic() + timeout / 2)
                if time.monotonic() > deadline:
                    raise StackError(f"{name} not ready after {timeout:.0f}s")
                await asyncio.sleep(0.1)

    def _process_of(self, name: str) -> subprocess.Popen[bytes]:
        if name == "normalizer":
            assert self._normalizer is not None
            return self._normalizer
        return self._workers[int(name.split()[1])]

    def _ready_file_of(self, name: str) -> Path:
        if name == "normalizer":
            return normalizer_ready_file(self.data_dir)
        return self.ready_file(int(name.split()[1]))

    def _restart(self, name: str) -> None:
        if name == "normalizer":
            self._normalizer = self._spawn_normalizer()
        else:
            index = int(name.split()[1])
            self._workers[index] = self._spawn_worker(index)
        if self.write_state:
            self._write_state()

    async def stop_feeding(self) -> None:
        """Stop what feeds the workers (the normalizer; the API's declarations and trace
        exports are refused from now on), so that the workers can be drained."""
        self.accepting = False
        if self._normalizer is not None:
            await asyncio.to_thread(stop, self._normalizer)
            self._normalizer = None

    def broker_running(self) -> bool:
        return self.broker_exit_code() is None

    def broker_exit_code(self) -> int | None:
        """The embedded broker's exit code once it has exited, else ``None``."""
        proc = self.broker.proc if self.broker is not None else None
        return proc.poll() if proc is not None else None

    def mark_ready(self) -> None:
        """Tell commands waiting on this stack that its workers have joined."""
        path = self.data_dir / "run" / "ready"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{os.getpid()}\n")

    def respawn_dead_workers(self) -> list[tuple[int, int]]:
        """Start again every worker that exited; returns (index, exit code) of each.

        The ledger holds what a worker needs (stitch state is rebuilt from it and offsets
        were committed only after writes), so a restarted worker resumes where it stopped.
        """
        restarted = []
        for index, proc in enumerate(self._workers):
            code = proc.poll()
            if code is not None:
                self._workers[index] = self._spawn_worker(index)
                restarted.append((index, code))
        if restarted and self.write_state:
            self._write_state()
        return restarted

    def respawn_dead_normalizer(self) -> int | None:
        """Start the normalizer again if it exited; returns its exit code, else ``None``.

        It committed offsets only for batches the broker had taken, so it resumes where it
        stopped; a batch it was in the middle of is read again, which adds nothing.
        """
        if self._normalizer is None or (code := self._normalizer.poll()) is None:
            return None
        self._normalizer = self._spawn_normalizer()
        if self.write_state:
            self._write_state()
        return code

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._workers]

    def info(self) -> StackInfo:
        return StackInfo(
            pid=os.getpid(),
            bootstrap=self.bootstrap,
            sql_url=self.sql_url,
            sql_user=self.sql_user,
            sql_password_file=str(self._sql_password_file) if self._sql_password_file else None,
            api_key_file=str((self.data_dir / SECRETS_DIR / CLI_KEY_FILE).resolve()),
            http_url=self.http_url,
            database=self.settings.database,
            topic_prefix=self.settings.topic_prefix,
            data_dir=str(self.data_dir.resolve()),
            started_at=self.started_at.isoformat(),
            embedded_broker=self.broker is not None,
            embedded_ledger=not self.settings.clickhouse_url,
            workers=self.worker_pids(),
            raw_topics=[str(raw) for raw in self.settings.raw_topics],
            normalizer=self._normalizer.pid if self._normalizer is not None else None,
        )

    def status(self) -> dict[str, Any]:
        info = self.info().as_json()
        info["workers_alive"] = [p.poll() is None for p in self._workers]
        if self._normalizer is not None:
            info["normalizer_alive"] = self._normalizer.poll() is None
            info["normalized"] = normalizer_counts(self.data_dir, info["raw_topics"])
        if self.signals is not None:
            info["signals"] = self.signals.status()
        return info

    def _write_state(self) -> None:
        path = self.data_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.info().as_json(), option=orjson.OPT_INDENT_2))
        tmp.replace(path)
