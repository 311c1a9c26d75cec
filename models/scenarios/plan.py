"""A session's plan while it is built: the calls in order (each with its tool, arguments,
result text and label) and the tool listings between them; then the timed steps.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from typing import Final

from models.scenarios.catalog import Domain, Op
from models.scenarios.types import Step, Tool
from models.scenarios.values import pick

RETRY_SHARE: Final = 0.06  # benign calls that fail once and are retried
_READ_WORDS: Final = ("get", "list", "search", "fetch", "read", "find", "history", "lookup",
                      "query", "describe", "show", "view", "browse", "status", "check")  # fmt: skip
_TRANSIENT_ERRORS: Final = ("Rate limit exceeded, retry after 2s", "upstream timeout (504)",
                        "temporarily unavailable, please retry")  # fmt: skip


def json_text(text: str) -> str:
    """``text`` as it sits inside a JSON string (a result that is JSON stays valid JSON)."""
    return json.dumps(text)[1:-1]


def takes_text(item: PlanItem) -> bool:
    """Whether a plain line can be added to this item's result (it is not bare JSON)."""
    return isinstance(item, PlannedCall) and (
        bool(item.op.slot) or not item.result.startswith(("[", "{"))
    )


def is_read_name(name: str) -> bool:
    """Whether a tool's name says it reads (get, list, search, ...)."""
    lowered = name.lower()
    return any(word in lowered for word in _READ_WORDS)


@dataclass(slots=True)
class PlannedCall:
    domain: Domain
    tool: Tool
    args: dict[str, object]
    result: str
    op: Op
    drift: bool = False
    threat: str = ""
    is_error: bool = False
    burst: bool = False


@dataclass(slots=True)
class Relist:
    server: str
    tools: tuple[Tool, ...]


PlanItem = PlannedCall | Relist


def timed_steps(rng: random.Random, items: list[PlanItem]) -> tuple[Step, ...]:
    steps: list[Step] = []
    t = 300 + int(rng.random() * 2_000)
    for item in items:
        if isinstance(item, Relist):
            steps.append(Step("tools", t, server=item.server, tools=item.tools))
            t += 50 + int(rng.random() * 400)
            continue
        tool = item.tool
        call = Step("call", t, tool=tool.name, server=tool.server, arguments=item.args,
                    drift=item.drift, threat=item.threat)  # fmt: skip
        steps.append(call)
        t += (5 + int(rng.random() * 50)) if item.burst else (30 + int(rng.random() * 900))
        if not item.drift and rng.random() < RETRY_SHARE:
            steps.append(Step("result", t, text=pick(rng, _TRANSIENT_ERRORS), is_error=True))
            t += 1_000 + int(rng.random() * 2_500)
            steps.append(replace(call, at_ms=t))
            t += 30 + int(rng.random() * 900)
        steps.append(Step("result", t, text=item.result, is_error=item.is_error))
        t += (15 + int(rng.random() * 120)) if item.burst else (600 + int(rng.random() * 6_400))
    return tuple(steps)


def steps_of(ask: str) -> list[str]:
    """The parts of a compound ask ("find X and send it to Y"), when each is a clause."""
    if ask.endswith("?"):
        return []  # a question is one thing to answer
    parts = [p.strip(" ,") for p in re.split(r";| and then | and |, then ", ask)]
    return parts if len(parts) > 1 and all(len(p.split()) >= 2 for p in parts) else []
