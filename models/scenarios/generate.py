"""The public door: ``generate`` labelled scenarios, deterministic for a seed."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Final

from kernel.errors import LedgerError
from models.scenarios.bridges import BRIDGES
from models.scenarios.build import COMPANION_SHARE, build
from models.scenarios.domains import ALL
from models.scenarios.types import THREATS, Scenario
from models.scenarios.values import pick

DOMAINS: Final[tuple[str, ...]] = tuple(domain.name for domain in ALL)
_BY_NAME: Final = {domain.name: domain for domain in ALL}


class ScenarioError(LedgerError):
    """A request for scenarios that cannot be met (an unknown domain, a bad share)."""


def generate(
    seed: int,
    n: int,
    *,
    domains: Sequence[str] | None = None,
    drift_share: float = 0.5,
) -> list[Scenario]:
    """``n`` labelled sessions spread evenly over ``domains`` (default: all), a share
    ``drift_share`` of them drifting, threats drawn evenly. Scenario ``i`` depends only on
    the seed, ``i``, the domains and the share, so a larger ``n`` extends a smaller one.
    A second domain's tools ride along in some sessions; it is drawn from ``domains`` too,
    so a held-out domain never leaks into a training set."""
    names = tuple(domains) if domains is not None else DOMAINS
    unknown = [name for name in names if name not in _BY_NAME]
    if unknown or not names:
        raise ScenarioError(f"unknown domains {unknown}; known: {', '.join(DOMAINS)}")
    if not 0.0 <= drift_share <= 1.0:
        raise ScenarioError(f"drift_share must be within [0, 1], got {drift_share}")
    chosen = [_BY_NAME[name] for name in names]
    # Ids differ between sets drawn over different domains or shares with the same seed
    # (a training and a test set), so their rendered sessions never share a token id.
    digest = hashlib.sha256(f"{','.join(names)}|{drift_share}".encode()).hexdigest()[:6]
    scenarios: list[Scenario] = []
    for i in range(n):
        # Not for secrets: scenarios must be reproducible from the seed.
        rng = random.Random(f"scenarios:{seed}:{i}")  # noqa: S311
        domain = chosen[i % len(chosen)]
        threat = pick(rng, THREATS) if rng.random() < drift_share else ""
        companion = None
        if rng.random() < COMPANION_SHARE:
            others = [d for d in chosen if d is not domain]
            # Mostly a companion the domain has work with, so that a second server's tools
            # are used by benign tasks as often as by attacks.
            bridged = [d for d in others if (domain.name, d.name) in BRIDGES]
            companion = pick(rng, bridged if bridged and rng.random() < 0.6 else others or [None])
        scenarios.append(build(rng, f"sc-{seed}-{digest}-{i:05d}", domain, companion, threat))
    return scenarios
