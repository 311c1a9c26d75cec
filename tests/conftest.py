"""Shared test fixtures: where the real third-party samples live."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.tokens import use_fingerprint_key
from ledger.chdb_store import ChdbStore

REPO = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path:
    """``../shared/data/real`` beside the checkout, or ``AGENTLEDGER_REAL_DATA``."""
    override = os.environ.get("AGENTLEDGER_REAL_DATA")
    return Path(override) if override else REPO.parent / "shared" / "data" / "real"


# Every test fingerprints with this key, as a deployment does with its own.
TEST_FINGERPRINT_KEY = b"agentledger-test-fingerprint-key"


@pytest.fixture(autouse=True)
def fingerprint_key() -> None:
    use_fingerprint_key(TEST_FINGERPRINT_KEY)


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = real_data_dir()
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real samples missing at {path}: CI always has ../shared/data/real")
        pytest.skip(f"real third-party samples not found at {path} (a clone without ../shared)")
    return path


@pytest.fixture(scope="session")
def chdb_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbStore]:
    """The one chDB ledger of this test process (chDB opens one data path per process);
    tests take their own database in it with ``with_database``."""
    store = ChdbStore(tmp_path_factory.mktemp("chdb"), "default")
    yield store
    store.close()
