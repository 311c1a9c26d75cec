"""The suite runs the hot path as deployments do: compiled (``bin/test`` builds it first), or,
with ``AGENTLEDGER_NATIVE=0``, as plain Python; every process of it the same way."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys

import processors.stitch
from kernel import native

_PROBE = (
    "import processors.scoring, ingest.redact; from kernel import native; "
    "print(native.STATUS.active, processors.scoring.__file__, ingest.redact.__file__)"
)


def _is_extension(path: str) -> bool:
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_this_process_runs_the_hot_path_as_asked() -> None:
    if native.turned_off():
        assert not native.STATUS.active
        assert processors.stitch.__file__.endswith(".py")
        return
    assert native.STATUS.active, (
        f"the hot path is not compiled here ({native.STATUS.reason}): bin/test builds it "
        "first; by hand, run `agentledger native build`"
    )
    assert _is_extension(processors.stitch.__file__)


def test_a_child_process_runs_compiled_and_plain_when_turned_off() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AGENTLEDGER_NATIVE"}
    compiled = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    plain = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**env, "AGENTLEDGER_NATIVE": "0"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert plain[0] == "False"
    assert all(path.endswith(".py") for path in plain[1:])
    if not native.turned_off():  # the suite's own build is served to its children too
        assert compiled[0] == "True"
        assert all(_is_extension(path) for path in compiled[1:])
