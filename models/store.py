"""Saving and loading drift models: skops files (never pickle), each with a version like
``drift-20261202-1a2b3c4d`` and a JSON card beside it (what it was trained on, how it
scored). Loading names every type it trusts; a file asking for any other type is refused.

Where a scorer comes from (``load_scorer``): the path given, else the deployment's current
model under ``<data_dir>/models/`` (written by ``agentledger model train``), else the
default shipped in ``models/default/``.

A scorer needs only the model's numbers (its weights, intercept, threshold and version).
Reading them takes skops and scikit-learn, whose modules hold about 150 MB of a process's
memory for as long as it runs; so a process that has not imported scikit-learn (the
worker, the gateway) reads a model file in a short-lived child process, which loads it
with skops as here and hands back the numbers. A process that trains or evaluates, and
has scikit-learn already, reads in place.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from models.features import FEATURES, Baseline
from models.scorer import DriftScorer, ModelError

DEFAULT_DIR = Path(__file__).parent / "default"
MODEL_FILE = "drift.skops"
CARD_FILE = "drift.json"
CURRENT_FILE = "CURRENT"  # in <data_dir>/models/: the file name of the model in use
# Every type a drift model file may hold, beyond the builtins skops trusts itself.
TRUSTED_TYPES = [
    "sklearn.linear_model._logistic.LogisticRegression",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.int64",
    "builtins.float",
]


def new_version(coefficients: Any, day: datetime | None = None) -> str:
    """``drift-YYYYMMDD-<hash>``: the day it was made and a hash of what it holds."""
    when = (day or datetime.now(UTC)).strftime("%Y%m%d")
    digest = hashlib.sha256(repr(coefficients).encode()).hexdigest()[:8]
    return f"drift-{when}-{digest}"


def _baselines_json(baselines: Mapping[str, Baseline]) -> dict[str, Any]:
    return {
        agent: {
            "tools": sorted(b.tools),
            "kinds": sorted(b.kinds),
            "session_calls_p99": b.session_calls_p99,
            "sessions": b.sessions,
        }
        for agent, b in sorted(baselines.items())
    }


def _baselines_of(value: Any) -> dict[str, Baseline]:
    found: dict[str, Baseline] = {}
    for agent, b in (value or {}).items():
        found[str(agent)] = Baseline(
            tools=frozenset(b.get("tools", ())),
            kinds=frozenset(b.get("kinds", ())),
            session_calls_p99=float(b.get("session_calls_p99", 0.0)),
            sessions=int(b.get("sessions", 0)),
        )
    return found


def save_model(
    classifier: Any,
    directory: Path,
    *,
    threshold: float,
    version: str,
    card: Mapping[str, Any] | None = None,
    baselines: Mapping[str, Baseline] | None = None,
    stem: str = "drift",
) -> Path:
    """Write ``classifier`` (a fitted LogisticRegression) and its card; returns the skops
    file's path."""
    import skops.io as sio

    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / f"{stem}.skops"
    sio.dump(
        {
            "classifier": classifier,
            "features": list(FEATURES),
            "threshold": float(threshold),
            "version": version,
        },
        model_path,
    )
    body = {
        "version": version,
        "threshold": threshold,
        "features": list(FEATURES),
        **(card or {}),
        "baselines": _baselines_json(baselines or {}),
    }
    (directory / f"{stem}.json").write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return model_path


def _held(path: Path) -> dict[str, Any]:
    """What the skops file ``path`` holds, every type in it checked against the trusted."""
    import skops.io as sio

    try:
        held = sio.load(path, trusted=TRUSTED_TYPES)
    except (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot load the drift model {path}: {exc}") from exc
    if not isinstance(held, dict) or "classifier" not in held:
        raise ModelError(f"{path} holds no drift model")
    return held


def model_numbers(path: Path) -> dict[str, Any]:
    """What a scorer takes from the skops file ``path``, read here with skops: its version,
    weights, intercept, threshold and feature names, as JSON would carry them."""
    held = _held(path)
    classifier = held["classifier"]
    return {
        "version": str(held["version"]),
        "coefficients": [float(c) for c in classifier.coef_[0]],
        "intercept": float(classifier.intercept_[0]),
        "threshold": float(held["threshold"]),
        "features": [str(f) for f in held["features"]],
    }


# A child reading a model: its exit status when the file is refused (the reason on stderr).
REFUSED_STATUS = 3
_CHILD_TIMEOUT_S = 300.0


def _numbers_from_child(path: Path) -> dict[str, Any]:
    """``model_numbers(path)``, read by a child process (``python -m models.read_model``),
    so that this process never imports scikit-learn."""
    root = str(Path(__file__).resolve().parent.parent)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "models.read_model", str(path)],
            capture_output=True,
            timeout=_CHILD_TIMEOUT_S,
            cwd=root,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(f"cannot load the drift model {path}: {exc}") from exc
    message = done.stderr.decode(errors="replace").strip()
    if done.returncode == REFUSED_STATUS:
        raise ModelError(message)
    if done.returncode != 0:
        tail = " ".join(message.splitlines()[-3:]) or f"exit status {done.returncode}"
        raise ModelError(f"cannot load the drift model {path}: the reader failed: {tail}")
    numbers: dict[str, Any] = json.loads(done.stdout)
    return numbers


_READING = threading.Lock()


@lru_cache(maxsize=8)
def _numbers(path: Path, _mtime_ns: int, _size: int) -> dict[str, Any]:
    """A model file's numbers, read once per version of the file in this process."""
    if "sklearn" in sys.modules:
        return model_numbers(path)
    return _numbers_from_child(path)


def load_model(path: Path) -> DriftScorer:
    """The scorer in the skops file ``path`` (and the baselines of its JSON card)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelError(f"cannot load the drift model {path}: {exc}") from exc
    with _READING:  # a second caller waits for the first read, then finds it cached
        numbers = _numbers(path.resolve(), stat.st_mtime_ns, stat.st_size)
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    return DriftScorer(
        version=numbers["version"],
        coefficients=tuple(float(c) for c in numbers["coefficients"]),
        intercept=float(numbers["intercept"]),
        threshold=float(numbers["threshold"]),
        features=tuple(numbers["features"]),
        baselines=_baselines_of(card.get("baselines")),
    )


def deployment_model(data_dir: Path) -> Path | None:
    """The model ``agentledger model train`` last wrote for this deployment, if any."""
    pointer = data_dir / "models" / CURRENT_FILE
    if not pointer.exists():
        return None
    path = data_dir / "models" / pointer.read_text().strip()
    return path if path.exists() else None


def load_scorer(path: Path | None = None, *, data_dir: Path | None = None) -> DriftScorer:
    """The scorer at ``path``; else the deployment's current one under ``data_dir``; else
    the shipped default."""
    if path is None and data_dir is not None:
        path = deployment_model(data_dir)
    if path is None:
        path = DEFAULT_DIR / MODEL_FILE
        if not path.exists():
            raise ModelError(
                "no shipped drift model in models/default/; "
                "build it with `agentledger model build-default`"
            )
    return load_model(path)


def classifier_of(path: Path) -> tuple[Any, float]:
    """The fitted classifier and threshold held in the skops file ``path``."""
    held = _held(path)
    return held["classifier"], float(held["threshold"])


def write_deployment_model(
    data_dir: Path, baselines: Mapping[str, Baseline], *, source: Path | None = None
) -> Path:
    """A new model for this deployment: the classifier of ``source`` (the deployment's
    current model, else the shipped default) with the baselines learnt from its ledger;
    made current, so that the worker loads it at its next start."""
    source = source or deployment_model(data_dir) or DEFAULT_DIR / MODEL_FILE
    classifier, threshold = classifier_of(source)
    version = new_version((classifier.coef_.tolist(), _baselines_json(baselines)))
    directory = data_dir / "models"
    path = save_model(
        classifier,
        directory,
        threshold=threshold,
        version=version,
        card={"trained_from": source.name, "agents": len(baselines)},
        baselines=baselines,
        stem=version,
    )
    (directory / CURRENT_FILE).write_text(path.name + "\n")
    return path
