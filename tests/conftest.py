"""Shared test fixtures (where the real third-party samples live, the fingerprint key), and
the ``unit`` / ``integration`` markers, given by directory.

``tests/unit`` is pure logic: records, rows and requests in, values out, no broker, no chDB.
``tests/integration`` starts the real broker, the real chDB ledger and real workers; its
fixtures (``chdb_ledger``, ``ledger_http``, ``stack``) live in its own conftest, so a unit
test cannot ask for them.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.tokens import use_fingerprint_key

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SUITES = ("unit", "integration")  # each a directory under tests/ and a marker of that name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test ``unit`` or ``integration`` by the directory it lives in, so
    ``pytest -m unit`` runs the pure tests alone; a test in neither directory is an error."""
    misplaced = []
    for item in items:
        try:
            suite = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # not under tests/ (a path given on the command line)
            continue
        if suite in SUITES:
            item.add_marker(getattr(pytest.mark, suite))
        else:
            misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError(
            f"tests must live in tests/unit or tests/integration: {', '.join(misplaced)}"
        )


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


@pytest.fixture
def collector_on() -> Iterator[None]:
    """Automatic garbage collections on for the test, whatever an earlier test of this
    process left, and as they were after, either way: a test that turns them off must not
    leave them off for the tests after it."""
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()
