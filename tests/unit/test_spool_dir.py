"""Insert data's private directory goes with the process that made it."""

from __future__ import annotations

import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_MAKE = (
    "import os; from ledger.chdb_store import private_spool_dir; "
    "path = private_spool_dir(); print(path, oct(os.stat(path).st_mode))"
)


def test_the_spool_directory_is_private_and_removed_at_exit() -> None:
    made = subprocess.run(
        [sys.executable, "-c", _MAKE], capture_output=True, text=True, check=True
    ).stdout.split()
    path, mode = Path(made[0]), int(made[1], 8)
    assert path.name.startswith("agentledger-spool-")
    assert stat.S_IMODE(mode) == 0o700
    assert not path.exists()


def test_insert_data_is_spooled_in_memory_where_the_system_offers_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ledger import chdb_store

    memory = tmp_path / "shm"
    memory.mkdir()
    monkeypatch.setattr(chdb_store, "_MEMORY_FILES", memory)
    assert chdb_store.private_spool_dir().parent == memory

    monkeypatch.setattr(chdb_store, "_MEMORY_FILES", tmp_path / "absent")
    assert chdb_store.private_spool_dir().parent == Path(tempfile.gettempdir())
