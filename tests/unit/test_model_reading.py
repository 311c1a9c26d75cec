"""Reading a drift model without scikit-learn: a process that has not imported it (the
worker, the gateway) reads the skops file through a child process, and gets the very
numbers an in-process read gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.scorer import ModelError
from models.store import DEFAULT_DIR, MODEL_FILE, _numbers_from_child, model_numbers

ROOT = Path(__file__).resolve().parents[2]


def test_the_child_gives_the_numbers_an_in_process_read_gives() -> None:
    path = DEFAULT_DIR / MODEL_FILE
    from_child = _numbers_from_child(path)
    assert from_child == model_numbers(path)
    assert from_child["version"].startswith("drift-")
    assert len(from_child["coefficients"]) == len(from_child["features"])


def test_a_file_the_child_refuses_says_why(tmp_path: Path) -> None:
    bogus = tmp_path / "drift.skops"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"cannot load the drift model .*drift\.skops"):
        _numbers_from_child(bogus)


def test_a_scorer_loaded_in_a_fresh_process_leaves_scikit_learn_out() -> None:
    script = (
        "import json, sys\n"
        "import models\n"
        "scorer = models.load_scorer()\n"
        "print(json.dumps({'version': scorer.version, 'intercept': scorer.intercept,\n"
        "    'loaded': sorted(m for m in ('sklearn', 'skops', 'scipy', 'pandas')\n"
        "                     if m in sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, check=True, timeout=300
    )
    seen = json.loads(done.stdout)
    numbers = model_numbers(DEFAULT_DIR / MODEL_FILE)
    assert seen["loaded"] == []
    assert seen["version"] == numbers["version"]
    assert seen["intercept"] == numbers["intercept"]
