"""Open the ledger store: the one place that chooses between its two backends.

A URL gives a ``ClickHouseStore``: a ClickHouse server, or the embedded ledger's HTTP
front, through which every process but the ledger's owner reaches it. A data path gives a
``ChdbStore``: the engine in this process, which only the one process owning that path
may open (``agentledger up``, or ``agentledger rebuild`` with the ledger stopped).
"""

from __future__ import annotations

from pathlib import Path

from kernel.config import Settings
from ledger.chdb_store import ChdbStore
from ledger.clickhouse_store import ClickHouseStore
from ledger.store import LedgerStore

DEFAULT_DATABASE = "agentledger"
SERVER_TIMEOUT_S = 60.0


def embedded_path(settings: Settings) -> Path:
    """Where the embedded (chDB) ledger keeps its data in the data directory."""
    return settings.data_dir / "chdb"


def open_store(
    settings: Settings | None = None,
    *,
    url: str | None = None,
    path: Path | None = None,
    database: str | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = SERVER_TIMEOUT_S,
) -> LedgerStore:
    """The ledger named by ``url`` or ``path``, or else by ``settings``.

    From settings: ``clickhouse_url`` when set, else the embedded ledger under
    ``data_dir``. ``database`` defaults to the settings' (else ``agentledger``).
    ``username``/``password`` log in to a server and win over a ``user:password@`` in the
    URL, so a caller need not put a password into a URL.
    """
    if url is not None and path is not None:
        raise ValueError("open_store takes a url or a path, not both")
    if url is None and path is None:
        if settings is None:
            raise ValueError("open_store needs settings, a url or a path")
        if settings.clickhouse_url:
            url = settings.clickhouse_url
        else:
            path = embedded_path(settings)
    if database is None:
        database = settings.database if settings is not None else DEFAULT_DATABASE
    if url is not None:
        return ClickHouseStore(
            url, database, timeout_s=timeout_s, username=username, password=password
        )
    assert path is not None
    if username is not None or password is not None:
        raise ValueError("the embedded ledger takes no credentials")
    return ChdbStore(path, database)
