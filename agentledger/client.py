"""Reach a ledger: the one running for a data directory, or a fresh one started for a task."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import orjson

from agentledger.stack_state import StackInfo, read_state, require_state
from kernel import keyfiles
from kernel.config import Settings, load_settings
from kernel.declaration import DeclarationError, SessionDeclaration
from kernel.errors import ConfigError, StackError
from kernel.procs import spawn
from ledger.factory import open_store
from ledger.store import LedgerStore


async def wait_for_state(
    data_dir: Path, proc: subprocess.Popen[bytes], timeout: float
) -> StackInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = read_state(data_dir)
        if info is not None and (data_dir / "run" / "ready").exists():
            return info
        if proc.poll() is not None:
            raise StackError(
                f"`agentledger up` exited with {proc.returncode}; see {data_dir}/logs/up.log"
            )
        if time.monotonic() > deadline:
            raise StackError(f"the ledger did not start within {timeout:.0f}s; see {data_dir}/logs")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_ledger(
    settings: Settings, *, startup_timeout: float = 90
) -> AsyncIterator[StackInfo]:
    """The ledger running at ``settings.data_dir``, or one started there (and stopped after).

    A started one runs as its own ``agentledger up`` process, as it would in use, so that
    the caller's work and the ledger's do not share one interpreter.
    """
    info = read_state(settings.data_dir)
    if info is not None:
        yield info
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "agentledger", "up", "--data-dir", str(settings.data_dir)]
    proc = spawn(args, log=settings.data_dir / "logs" / "up.log", env=ledger_env(settings))
    try:
        yield await wait_for_state(settings.data_dir, proc, startup_timeout)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 60)
            except subprocess.TimeoutExpired:
                proc.kill()


def ledger_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a started ledger runs with: the caller's, plus what the caller chose
    in code rather than in its environment (``bench --no-scoring`` turns scoring off,
    ``bench --workers N`` sets the workers)."""
    env = dict(os.environ if base is None else base)
    if settings.writer_password is not None:
        # The caller's writer password (it may have chosen one to write as well) goes to
        # the started ledger through its environment, never its command line.
        env["AGENTLEDGER_WRITER_PASSWORD"] = settings.writer_password.get_secret_value()
    env["AGENTLEDGER_DRIFT_SCORING"] = "true" if settings.drift_scoring else "false"
    env["AGENTLEDGER_WORKERS"] = str(settings.workers)
    return env


def use_fingerprint_key(settings: Settings) -> None:
    """Fingerprint credentials in this process with the deployment's key (the ledger's own,
    created by ``up``, unless ``AGENTLEDGER_FINGERPRINT_KEY`` gives one)."""
    from kernel.tokens import use_fingerprint_key as use_key

    use_key(keyfiles.fingerprint_key(settings))


def api_key(settings: Settings, info: StackInfo) -> str:
    """The API key this command line sends: ``AGENTLEDGER_API_KEY``, else the local one."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    key = keyfiles.read_private(Path(info.api_key_file))
    if not key:
        raise ConfigError(
            f"no API key: set AGENTLEDGER_API_KEY, or run as the user who started the ledger "
            f"(its key is in {info.api_key_file})"
        )
    return key


def analyst_store(settings: Settings, info: StackInfo) -> LedgerStore:
    """The running ledger, read as the analyst (``AGENTLEDGER_SQL_PASSWORD``, else the
    password file the ledger keeps)."""
    if settings.sql_password is not None:
        password = settings.sql_password.get_secret_value()
    elif info.sql_password_file:
        password = keyfiles.read_private(Path(info.sql_password_file)) or ""
    else:
        raise ConfigError(
            "the ledger's ClickHouse server takes its own credentials: set "
            "AGENTLEDGER_SQL_PASSWORD (and AGENTLEDGER_SQL_USER), or pass --clickhouse URL"
        )
    return open_store(
        url=info.sql_url, database=info.database, username=info.sql_user, password=password
    )


def ledger_reader(data_dir: Path | None, clickhouse: str | None) -> LedgerStore:
    """What the read-only commands read: the ClickHouse server given, else the running
    ledger, read as the analyst."""
    settings = load_settings(data_dir=data_dir, clickhouse_url=clickhouse)
    if settings.clickhouse_url:
        return open_store(settings)
    return analyst_store(settings, require_state(settings.data_dir))


def post_declaration(http_url: str, declaration: SessionDeclaration, key: str) -> str:
    """Declare a session on a running ledger's API; its session id, or the API's refusal."""
    request = urllib.request.Request(  # noqa: S310 (the running ledger's own URL)
        f"{http_url}/v1/sessions",
        data=declaration.model_dump_json().encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            return str(orjson.loads(reply.read())["session_id"])
    except urllib.error.HTTPError as exc:
        body = orjson.loads(exc.read() or b"{}")
        if exc.code in (401, 403):
            raise ConfigError(
                f"the ledger refused the API key ({exc.code}): {body.get('error')}"
            ) from exc
        problems = body.get("problems") or [{"field": "", "reason": body.get("error", str(exc))}]
        raise DeclarationError(str(problems[0]["field"]), str(problems[0]["reason"])) from exc
