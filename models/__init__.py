"""Drift: how far each action strays from its session's declared intent, scored in [0, 1]
with the reasons that drove it, from what an enforcement point sees (the declaration, the
MCP server's ``tools/list``, each call's arguments, the results of earlier calls, the
delegation chain, the agent's baseline). No language model at run time.

- ``models.trail``: the per-session context a scorer keeps, and the score it gives;
- ``models.scenarios``: the labelled scenario generator the model is trained and judged on;
- the shipped default model (a skops file, never pickle) lives in ``models/default/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import kernel  # noqa: F401  (first: it serves the compiled hot path, kernel.native)

if TYPE_CHECKING:
    from models.trail import Scorer


def load_scorer(path: Path | None = None, *, data_dir: Path | None = None) -> Scorer:
    """The drift scorer at ``path``; else the deployment's current model under
    ``<data_dir>/models/`` (``agentledger model train``); else the shipped default."""
    from models.store import load_scorer as load

    return load(path, data_dir=data_dir)
