"""The drift policy's decisions, as the hot path makes them for every scored action.

``kernel.policy`` reads and checks the policy file (pydantic models, which stay
interpreted); each of its rules becomes a ``Limits`` here once, and the decision for a score
is worked out by the functions below, which are compiled with the hot path. Most actions
are allowed: ``decision`` alone says so, with no ``SessionFacts`` or ``Verdict`` built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kernel.contraction import ALLOW, HALT, NARROW, REVOKE

FLAGGED: Final = "flagged"  # the model's own threshold
NEVER: Final = "never"
_ORDER: Final = (ALLOW, NARROW, HALT, REVOKE)

_set = object.__setattr__


@dataclass(frozen=True, slots=True, init=False)
class Limits:
    """One rule's thresholds with the defaults filled in: a score (in [0, 1]), ``"flagged"``
    or ``"never"`` for each decision; the decision for an action out of the declared bounds;
    the narrowing of a session that halts it instead."""

    narrow: float | str | None = None
    halt: float | str | None = None
    revoke: float | str | None = None
    out_of_bounds: str | None = None
    halt_after_narrowings: int | None = None

    def __init__(
        self,
        narrow: float | str | None = None,
        halt: float | str | None = None,
        revoke: float | str | None = None,
        out_of_bounds: str | None = None,
        halt_after_narrowings: int | None = None,
    ) -> None:
        _set(self, "narrow", narrow)
        _set(self, "halt", halt)
        _set(self, "revoke", revoke)
        _set(self, "out_of_bounds", out_of_bounds)
        _set(self, "halt_after_narrowings", halt_after_narrowings)


def decision(limits: Limits, score: float, flagged: bool, out_of_bounds: bool) -> str:
    """The strongest decision ``score`` reaches under ``limits`` (before a narrowing counts
    towards ``halt_after_narrowings``, which only turns a narrowing into a halt)."""
    reached = ALLOW
    if _reached(limits.narrow, score, flagged):
        reached = NARROW
    if _reached(limits.halt, score, flagged):
        reached = HALT
    if _reached(limits.revoke, score, flagged):
        reached = REVOKE
    if out_of_bounds and limits.out_of_bounds is not None:
        reached = stronger(reached, limits.out_of_bounds)
    return reached


def stronger(a: str, b: str) -> str:
    return a if _ORDER.index(a) >= _ORDER.index(b) else b


def _reached(threshold: float | str | None, score: float, flagged: bool) -> bool:
    if threshold is None:
        return False
    if isinstance(threshold, str):  # "flagged": the model's own threshold; "never"
        return flagged and threshold == FLAGGED
    return score >= threshold
