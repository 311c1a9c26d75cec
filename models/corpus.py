"""The scenarios the model is built and judged on, from the project's own generator
(``models.scenarios.generate``). The evaluation holds whole domains out of training
(``models.evaluation.split_domains``); the shipped default is trained on the training
domains of that same split, so that ``model evaluate``'s test domains stay unseen by it too."""

from __future__ import annotations

from typing import Final

from models.evaluation import split_domains
from models.scenarios import DOMAINS, generate
from models.scenarios.types import Scenario

SEED: Final = 20261202
SESSIONS: Final = 6000  # spread evenly over the domains; half of them drifting
# The test domains' sessions are drawn with a seed of their own, changed whenever the model
# was developed while looking at a draw: a figure is only honest on a draw nobody tuned on.
TEST_SEED: Final = 20261203


def training_domains() -> tuple[str, ...]:
    return split_domains(DOMAINS).train_domains


def training_scenarios(sessions: int = SESSIONS) -> list[Scenario]:
    domains = training_domains()
    return generate(SEED, sessions * len(domains) // len(DOMAINS), domains=domains)


def test_domains() -> tuple[str, ...]:
    return split_domains(DOMAINS).test_domains


def test_scenarios(seed: int = TEST_SEED, sessions: int = SESSIONS) -> list[Scenario]:
    """The held-out domains' sessions, as many per domain as training has."""
    domains = test_domains()
    return generate(seed, sessions * len(domains) // len(DOMAINS), domains=domains)


def all_scenarios(sessions: int = SESSIONS) -> list[Scenario]:
    return generate(SEED, sessions)
