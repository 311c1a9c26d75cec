"""What a running stack tells the other commands: its state file (``stack.json`` in the
data directory: where the broker, the API and the ledger are, never a secret), and the
normalizer's counts."""

from __future__ import annotations

import fcntl
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from agentledger.normalizing import read_stats
from ingest.normalizer import NormalizerStats, raw_sources
from kernel.config import parse_raw_topic
from kernel.errors import StackError
from kernel.procs import alive

STATE_FILE = "stack.json"


@dataclass(slots=True)
class StackInfo:
    """What a running stack tells other commands: where things are, never a secret.

    ``sql_url`` carries no credential; analysts log in as ``sql_user`` with the password in
    ``sql_password_file`` (owner-only) or ``AGENTLEDGER_SQL_PASSWORD``. The local command
    line's API key is in ``api_key_file``.
    """

    pid: int
    bootstrap: str
    sql_url: str
    sql_user: str
    sql_password_file: str | None
    api_key_file: str
    http_url: str
    database: str
    topic_prefix: str
    data_dir: str
    started_at: str
    embedded_broker: bool
    embedded_ledger: bool
    workers: list[int] = field(default_factory=list)
    raw_topics: list[str] = field(default_factory=list)  # SOURCE=TOPIC the normalizer reads
    normalizer: int | None = None  # its pid, when raw topics are read

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def read_state(data_dir: Path) -> StackInfo | None:
    """The running stack for ``data_dir``, or ``None`` when none runs there."""
    path = data_dir / STATE_FILE
    try:
        info = StackInfo(**orjson.loads(path.read_bytes()))
    except (FileNotFoundError, orjson.JSONDecodeError, TypeError):
        return None
    return info if alive(info.pid) else None


def normalizer_counts(data_dir: Path, raw_topics: list[str]) -> dict[str, Any]:
    """Per raw topic (``SOURCE=TOPIC``), what the normalizer of ``data_dir`` did since ``up``
    started it: messages read, records normalized, events produced, records dead-lettered."""
    sources = raw_sources(parse_raw_topic(raw) for raw in raw_topics)
    return NormalizerStats.start(sources, read_stats(data_dir)).per_topic()


def require_state(data_dir: Path) -> StackInfo:
    info = read_state(data_dir)
    if info is None:
        raise StackError(
            f"no running ledger at {data_dir.resolve()}: start one with "
            f"`agentledger up --data-dir {data_dir}` (or pass --data-dir of a running one)"
        )
    return info


def without_credentials(url: str) -> str:
    """``url`` without the user and password it may carry (the SQL URL a state shows)."""
    parts = urlsplit(url)
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def take_lock(data_dir: Path) -> IO[str]:
    """The lock of ``data_dir``'s stack, held while it runs; a ``StackError`` naming the
    running one when another holds it."""
    lock = (data_dir / "stack.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        running = read_state(data_dir)
        who = f" (pid {running.pid})" if running else ""
        raise StackError(
            f"a ledger already runs with data directory {data_dir}{who}; "
            "stop it with `agentledger down` or choose another --data-dir"
        ) from None
    return lock
