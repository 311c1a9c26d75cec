"""A scorer of two fixed rules, for testing the gateway's inline plumbing (that the trail is
fed and a flagged call never reaches the server), apart from the drift model's own quality:
a call outside the declared tools, and an argument value that first appeared in a tool
result and not in the intent, are drift. Test code only; the product scores with
``models.load_scorer()``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from models.trail import Call, DeclaredIntent, DriftScore, SessionTrail, ToolInfo

_VALUE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")  # addresses: where a send goes


@dataclass
class RuleTrail:
    intent: DeclaredIntent | None = None
    agent: str = ""
    tools: dict[str, ToolInfo] = field(default_factory=dict)
    seen_in_results: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)

    def set_intent(self, intent: DeclaredIntent | None) -> None:
        self.intent = intent

    def set_agent(self, agent: str, delegated: bool = False) -> None:
        self.agent = agent

    def see_tools(self, server: str, tools: Iterable[ToolInfo]) -> list[str]:
        self.tools = {tool.name: tool for tool in tools}
        return []

    def see_result(self, action_id: str, text: str, is_error: bool = False) -> None:
        self.seen_in_results |= set(_VALUE.findall(text))


class RuleScorer:
    version = "rules-test-1"

    def new_trail(self) -> SessionTrail:
        return RuleTrail()

    def score(self, trail: SessionTrail, call: Call) -> DriftScore:
        assert isinstance(trail, RuleTrail)
        reasons: list[str] = []
        intent = trail.intent
        out_of_bounds = bool(intent and intent.declared and call.tool not in intent.tools)
        if out_of_bounds:
            reasons.append(f"tool {call.tool} is outside the declared tools")
        intent_text = intent.text if intent else ""
        for value in _VALUE.findall(" ".join(str(v) for v in call.arguments.values())):
            if value in trail.seen_in_results and value not in intent_text:
                reasons.append(f"{value} first appeared in a tool result, not in the intent")
        trail.calls.append(call)
        flagged = bool(reasons)
        return DriftScore(
            1.0 if flagged else 0.0, flagged, tuple(reasons), self.version, out_of_bounds
        )

    def score_many(self, items: Sequence[tuple[SessionTrail, Call]]) -> list[DriftScore]:
        return [self.score(trail, call) for trail, call in items]
