"""The drift policy: which decision a drift score leads to, per agent or intent class.

A YAML file (``AGENTLEDGER_POLICY_FILE``; the built-in policy when unset)::

    version: 1
    defaults:
      narrow: flagged        # a score at or above this narrows the session ("flagged": the
                             # model's own threshold; a number; or "never")
      halt: 0.9              # hold every call of the session for review
      revoke: never          # end the session
      out_of_bounds: halt    # an action outside the declared tools, resources or actions
      halt_after_narrowings: 3   # the third narrowing of one session halts it
    rules:                   # the first rule that matches decides; unset values: defaults
      - name: payments
        match:
          agent: "billing-*"         # glob on the agent (instance) name
          intent: "(?i)invoice|pay"  # regular expression searched in the intent text
          declared: true             # only sessions a declarer declared
        narrow: 0.4
        halt: 0.7

``narrow`` removes the drifting action's tool (and, for a write or delete, the session's
scopes that grant writing); ``halt`` and ``revoke`` refuse every later call of the session.
A mistake in the file is a ``PolicyError`` naming the field, at start.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kernel.contraction import ALLOW, HALT, NARROW
from kernel.declaration import describe_error
from kernel.errors import LedgerError
from kernel.verdicts import FLAGGED, NEVER, Limits, decision

Threshold = float | Literal["flagged", "never"]
# Scope words that grant more than reading: a narrowing for a write takes these away.
_WRITE_SCOPE = re.compile(r"write|delete|admin|manage|send|full|modify|:w\b|\.w\b", re.I)


class PolicyError(LedgerError):
    def __init__(self, field: str, reason: str, path: Path | None = None) -> None:
        self.field = field
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{field}: {reason}" if field else f"{where}{reason}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _threshold(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value <= 1:
        raise ValueError("a score threshold is in [0, 1]")
    return value


class Thresholds(_Strict):
    narrow: Threshold | None = None
    halt: Threshold | None = None
    revoke: Threshold | None = None
    out_of_bounds: Literal["narrow", "halt", "revoke"] | None = None
    halt_after_narrowings: int | None = Field(default=None, ge=1)

    _check = field_validator("narrow", "halt", "revoke", mode="before")(_threshold)


class Match(_Strict):
    agent: str | None = None
    intent: str | None = None
    declared: bool | None = None

    @field_validator("intent")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class Rule(Thresholds):
    name: str = Field(min_length=1)
    match: Match = Field(default_factory=Match)


class PolicyFile(_Strict):
    version: Literal[1] = 1
    defaults: Thresholds = Field(default_factory=Thresholds)
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _names(cls, rules: list[Rule]) -> list[Rule]:
        seen = {"defaults"}
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is taken: each rule needs its own")
            seen.add(rule.name)
        return rules


BUILT_IN_DEFAULTS: Final = Thresholds(
    narrow=FLAGGED, halt=0.9, revoke=NEVER, out_of_bounds=HALT, halt_after_narrowings=3
)


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What a rule can match on, and what a narrowing takes away."""

    agent: str
    intent: str
    declared: bool
    scopes: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()  # the tools the session may call (declared, else listed)
    narrowings: int = 0  # contractions that narrowed this session so far


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: str  # allow, narrow, halt or revoke
    rule: str  # the rule that decided ("defaults" when none matched)
    removed_tools: tuple[str, ...] = ()
    removed_scopes: tuple[str, ...] = ()
    remaining_tools: tuple[str, ...] = ()
    remaining_scopes: tuple[str, ...] = ()


class Policy:
    """Decisions from scores; ``Policy.load(path)`` reads a file, ``Policy()`` is built in."""

    def __init__(self, spec: PolicyFile | None = None, name: str = "built-in") -> None:
        self.spec = spec or PolicyFile()
        self.name = name
        self._rules = [(rule, _matcher(rule.match)) for rule in self.spec.rules]
        # Thresholds are filled in once per rule; which rule a session meets, once per
        # (agent, intent, declared): the hot path asks for both on every scored action.
        self._filled = {rule.name: _filled(rule, self.spec.defaults) for rule in self.spec.rules}
        self._filled["defaults"] = _filled(self.spec.defaults, Thresholds())
        self._limits = {name: _limits(t) for name, t in self._filled.items()}
        self._chosen: dict[tuple[str, str, bool], str] = {}

    @classmethod
    def load(cls, path: Path | None) -> Policy:
        if path is None:
            return cls()
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise PolicyError("", f"cannot read the policy file: {exc}", path) from exc
        except yaml.YAMLError as exc:
            raise PolicyError("", f"not YAML: {exc}", path) from exc
        try:
            return cls(PolicyFile.model_validate(data or {}), str(path))
        except ValidationError as exc:
            first = exc.errors()[0]
            field, reason = describe_error(first["loc"], first["msg"])
            raise PolicyError(field, reason, path) from exc

    def thresholds(self, facts: SessionFacts) -> tuple[str, Thresholds]:
        """The rule that applies to a session and its thresholds, defaults filled in."""
        name = self._rule(facts.agent, facts.intent, facts.declared)
        return name, self._filled[name]

    def limits(self, agent: str, intent: str, declared: bool) -> tuple[str, Limits]:
        """The rule that applies to a session of this agent, intent and declaredness, and
        its limits (``kernel.verdicts``): what the hot path keeps per session, so that an
        action ``verdicts.decision`` allows needs nothing more from the policy."""
        name = self._rule(agent, intent, declared)
        return name, self._limits[name]

    def _rule(self, agent: str, intent: str, declared: bool) -> str:
        key = (agent, intent, declared)
        name = self._chosen.get(key)
        if name is None:
            facts = SessionFacts(agent=agent, intent=intent, declared=declared)
            name = next((rule.name for rule, matches in self._rules if matches(facts)), "defaults")
            if len(self._chosen) > 100_000:
                self._chosen.clear()
            self._chosen[key] = name
        return name

    def decide(
        self,
        facts: SessionFacts,
        *,
        score: float,
        flagged: bool,
        out_of_bounds: bool,
        tool: str,
        access: str,
    ) -> Verdict:
        """The decision for one scored action of the session ``facts`` describes."""
        rule, limits = self.limits(facts.agent, facts.intent, facts.declared)
        reached = decision(limits, score, flagged, out_of_bounds)
        if (
            reached == NARROW
            and limits.halt_after_narrowings is not None
            and facts.narrowings + 1 >= limits.halt_after_narrowings
        ):
            reached = HALT
        if reached == ALLOW:
            return Verdict(ALLOW, rule, remaining_tools=facts.tools, remaining_scopes=facts.scopes)
        if reached != NARROW:
            return Verdict(reached, rule, removed_tools=facts.tools, removed_scopes=facts.scopes)
        removed = (tool,) if tool else ()
        taken = tuple(s for s in facts.scopes if access in ("write", "delete") and _grants(s))
        return Verdict(
            NARROW,
            rule,
            removed_tools=removed,
            removed_scopes=taken,
            remaining_tools=tuple(x for x in facts.tools if x not in removed),
            remaining_scopes=tuple(s for s in facts.scopes if s not in taken),
        )


def _grants(scope: str) -> bool:
    return bool(_WRITE_SCOPE.search(scope))


def _filled(own: Thresholds, defaults: Thresholds) -> Thresholds:
    values = {
        name: (
            getattr(own, name)
            if getattr(own, name) is not None
            else getattr(defaults, name)
            if getattr(defaults, name) is not None
            else getattr(BUILT_IN_DEFAULTS, name)
        )
        for name in Thresholds.model_fields
    }
    return Thresholds(**values)


def _limits(t: Thresholds) -> Limits:
    def number(value: Threshold | None) -> float | str | None:
        return value if value is None or isinstance(value, str) else float(value)

    return Limits(
        narrow=number(t.narrow),
        halt=number(t.halt),
        revoke=number(t.revoke),
        out_of_bounds=t.out_of_bounds,
        halt_after_narrowings=t.halt_after_narrowings,
    )


def _matcher(match: Match) -> Any:
    intent = re.compile(match.intent) if match.intent is not None else None

    def matches(facts: SessionFacts) -> bool:
        if match.agent is not None and not fnmatch.fnmatchcase(facts.agent, match.agent):
            return False
        if intent is not None and not intent.search(facts.intent):
            return False
        return match.declared is None or match.declared == facts.declared

    return matches
