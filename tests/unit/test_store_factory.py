"""The one store factory: which backend it opens, and with what (the backends recorded, not
opened: tests/integration/test_store_factory.py opens them for real)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import ledger.factory
from kernel.config import load_settings
from kernel.errors import StoreError
from ledger.factory import embedded_path, open_store


class Opened:
    """Stands in for a backend class: records how it was constructed."""

    def __init__(self, backend: str, *args: Any, **kwargs: Any) -> None:
        self.backend, self.args, self.kwargs = backend, args, kwargs


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: start every test without AGENTLEDGER_* variables."""
    for name in list(os.environ):
        if name.startswith("AGENTLEDGER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger.factory, "ChdbStore", lambda *a, **k: Opened("chdb", *a, **k))
    monkeypatch.setattr(
        ledger.factory, "ClickHouseStore", lambda *a, **k: Opened("server", *a, **k)
    )


def _opened(**kwargs: Any) -> Opened:
    store = open_store(**kwargs)
    assert isinstance(store, Opened)
    return store


@pytest.mark.usefixtures("recorded")
def test_settings_without_a_url_open_the_embedded_ledger_in_the_data_dir(
    tmp_path: Path,
) -> None:
    settings = load_settings(data_dir=tmp_path, database="ledger_a")
    store = _opened(settings=settings)
    assert (store.backend, store.args, store.kwargs) == (
        "chdb",
        (tmp_path / "chdb", "ledger_a"),
        {},
    )
    assert embedded_path(settings) == tmp_path / "chdb"


@pytest.mark.usefixtures("recorded")
def test_settings_with_a_url_open_that_server() -> None:
    url = "https://writer:secret@clickhouse.example:8443"
    store = _opened(settings=load_settings(clickhouse_url=url, database="ledger_b"))
    assert (store.backend, store.args) == ("server", (url, "ledger_b"))
    assert store.kwargs == {"timeout_s": 60, "username": None, "password": None}


@pytest.mark.usefixtures("recorded")
def test_an_explicit_url_wins_over_the_settings(tmp_path: Path) -> None:
    """How commands reach a running embedded ledger: its HTTP front, with its credentials."""
    settings = load_settings(data_dir=tmp_path)
    store = _opened(
        settings=settings,
        url="http://127.0.0.1:8123",
        username="analyst",
        password="p",
    )
    assert (store.backend, store.args) == ("server", ("http://127.0.0.1:8123", "agentledger"))
    assert store.kwargs == {"timeout_s": 60, "username": "analyst", "password": "p"}


@pytest.mark.usefixtures("recorded")
def test_an_explicit_path_and_database(tmp_path: Path) -> None:
    store = _opened(path=tmp_path, database="other")
    assert (store.backend, store.args) == ("chdb", (tmp_path, "other"))


@pytest.mark.usefixtures("recorded")
def test_the_database_defaults_to_agentledger_without_settings() -> None:
    assert _opened(url="http://h:8123").args == ("http://h:8123", "agentledger")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"url": "http://h:8123", "path": Path("x")},
        {"path": Path("x"), "password": "p"},
    ],
    ids=["nothing", "url-and-path", "credentials-for-chdb"],
)
@pytest.mark.usefixtures("recorded")
def test_a_call_that_names_no_one_ledger_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"open_store|credentials"):
        open_store(**kwargs)


@pytest.mark.parametrize("url", ["clickhouse:8123", "ftp://h:21", "http://"])
def test_a_bad_url_says_so_before_connecting(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url=url)
    assert str(caught.value) == f"not a ClickHouse HTTP URL: {url!r}"


def test_a_bad_database_name_is_refused_before_connecting() -> None:
    with pytest.raises(StoreError, match="invalid database name"):
        open_store(url="http://h:8123", database="x; DROP")
