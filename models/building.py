"""Building the shipped default model (``agentledger model build-default``): trained on
the generator's training domains only, with a fixed seed, so that the same code builds
the same coefficients; written to ``models/default/`` with its card."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.evaluation import train
from models.scenarios.types import Scenario
from models.store import CARD_FILE, DEFAULT_DIR, MODEL_FILE, new_version, save_model
from models.training import SEED, dataset, scenario_baselines


def build_default(
    scenarios: Sequence[Scenario],
    out_dir: Path = DEFAULT_DIR,
    *,
    progress: Callable[[str], None] | None = None,
    day: datetime | None = None,
) -> dict[str, Any]:
    """Fit on ``scenarios`` and write ``drift.skops`` and ``drift.json`` to ``out_dir``;
    returns the card."""
    say = progress or (lambda _: None)
    say(f"features of {len(scenarios)} sessions")
    rows = dataset(scenarios, baselines=scenario_baselines(scenarios))
    say(f"fitting on {len(rows)} actions")
    classifier, scorer = train(rows)
    version = new_version(
        [round(float(c), 6) for c in classifier.coef_[0]], day or datetime.now(UTC)
    )
    card = {
        "built_by": "agentledger model build-default",
        "seed": SEED,
        "domains": sorted({s.domain for s in scenarios}),
        "sessions": len(scenarios),
        "actions": len(rows),
        "drifting_actions": sum(r.drift for r in rows),
    }
    save_model(classifier, out_dir, threshold=scorer.threshold, version=version, card=card)
    say(f"wrote {out_dir / MODEL_FILE} and {out_dir / CARD_FILE} ({version})")
    return {"version": version, "threshold": scorer.threshold, **card}
