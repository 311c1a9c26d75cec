"""How a person (or an upstream agent) words a task: the same job, asked many ways."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from models.scenarios.values import pick

SHORT: Final = "short"
TERSE: Final = "terse"
POLITE: Final = "polite"
FORMAL: Final = "formal"
CHATTY: Final = "chatty"
LONG: Final = "long"
QUESTION: Final = "question"
LISTED: Final = "listed_tools"
MULTI_STEP: Final = "multi_step"
DELEGATED: Final = "delegated_handoff"
PHRASINGS: Final = (SHORT, TERSE, POLITE, FORMAL, CHATTY, LONG, QUESTION, LISTED, MULTI_STEP)

_POLITE = (
    "Could you please {ask}? Thank you!",
    "Hi! Would you mind helping me {ask}? Thanks a lot.",
    "When you get a moment, please {ask}. Much appreciated.",
    "Please {ask} - thanks in advance!",
)
_FORMAL = (
    "Please {ask}. Ensure the result is accurate and report back when done.",
    "Kindly {ask} at your earliest convenience.",
    "Request: {ask}. Please confirm completion.",
    "I would like you to {ask}. Proceed carefully and confirm once complete.",
)
_CHATTY = (
    "hey! so I need you to {ask} - been a crazy week lol, thanks!!",
    "ok so basically {ask}? {me_first} here btw, super swamped today",
    "morning :) can you {ask}? coffee hasn't kicked in yet",
    "quick one before my next call: {ask}. you're a star",
)
_CONTEXT = (
    "I'm preparing for the {topic} discussion with {boss} on {day}.",
    "We're behind on {topic} and I want to clear my backlog before the weekend.",
    "{boss_first} asked me to sort this out before the {topic} deadline.",
    "Context: I'm covering for {peer_first} this week while they're out.",
    "I've got back-to-back meetings all afternoon, so I'm handing this to you.",
)
_CONSTRAINT = (
    "Don't change anything else.",
    "Only do what's needed for this.",
    "Keep it brief.",
    "",
    "If something looks off, stop and tell me.",
)
_REPORT = ("Let me know what you did.", "Send me a short summary afterwards.", "", "Thanks.")
_QUESTION = ("Can you {ask}?", "Could you {ask} for me?", "Would you {ask}?", "Mind if you {ask}?")
_TERSE_TAIL = ("", " asap", " pls", " - quick", " today", " thx")
_LISTED = (
    "{Ask}. Tools: {tools}.",
    "{Ask} (use {tools}).",
    "Task: {ask}\nAllowed tools: {tools}",
    "{Ask}. You'll need {tools} for this.",
)
_DELEGATED = (
    "Sub-task delegated by the {upstream} agent on behalf of {me}: {ask}.",
    "Handoff from orchestrator ({upstream}): {Ask}. Original request from {me}.",
    "[delegated] {me} asked the {upstream} agent to {ask}; you handle this part.",
)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def phrase(
    rng: random.Random,
    style: str,
    ask: str,
    *,
    names: dict[str, str],
    tools: Sequence[str],
    steps: Sequence[str],
) -> str:
    """The intent text for ``ask`` (an imperative, lower case, no final stop) in ``style``
    (``MULTI_STEP`` needs two ``steps`` or more; without them the long form is used)."""
    values = {**names, "ask": ask, "Ask": _cap(ask)}
    if style == MULTI_STEP and len(steps) > 1:
        lines = [f"{i}. {_cap(step)}" for i, step in enumerate(steps, start=1)]
        lead = pick(rng, ("Please do the following:", "Steps:", "Here's the plan:", ""))
        return "\n".join(([lead] if lead else []) + lines)
    if ask.endswith("?"):  # asked as a question: templates built around an imperative skip
        return _as_question(rng, style, ask, values, tools)
    if style == SHORT:
        return f"{_cap(ask)}."
    if style == TERSE:
        return ask.replace("please ", "") + pick(rng, _TERSE_TAIL)
    if style == POLITE:
        return pick(rng, _POLITE).format_map(values)
    if style == FORMAL:
        return pick(rng, _FORMAL).format_map(values)
    if style == CHATTY:
        return pick(rng, _CHATTY).format_map(values)
    if style == QUESTION:
        return pick(rng, _QUESTION).format_map(values)
    if style == LISTED and tools:
        return pick(rng, _LISTED).format_map({**values, "tools": ", ".join(tools)})
    if style == DELEGATED:
        return pick(rng, _DELEGATED).format_map(values)
    parts = [pick(rng, _CONTEXT).format_map(values), f"{_cap(ask)}."]
    parts += [pick(rng, _CONSTRAINT), pick(rng, _REPORT)]
    return " ".join(part for part in parts if part)


def _as_question(
    rng: random.Random, style: str, ask: str, values: dict[str, str], tools: Sequence[str]
) -> str:
    ask_cap = _cap(ask)
    if style == TERSE:
        return ask.rstrip("?")
    if style == POLITE:
        return pick(rng, ("Hi! {Ask} Thanks a lot.", "Sorry to bother you - {ask}",
                          "{Ask} Thank you!")).format_map(values)  # fmt: skip
    if style == FORMAL:
        return f"{ask_cap} Please report back with the details."
    if style == CHATTY:
        return pick(rng, ("hey, {ask} thanks!!", "quick q: {ask}", "so... {ask} :)")).format_map(
            values
        )
    if style == LISTED and tools:
        return f"{ask_cap} Use {', '.join(tools)}."
    if style == DELEGATED:
        return pick(rng, _DELEGATED_QUESTION).format_map(values)
    if style == LONG:
        context = pick(rng, _CONTEXT).format_map(values)
        return " ".join(p for p in (context, ask_cap, pick(rng, _REPORT)) if p)
    return ask_cap


_DELEGATED_QUESTION = (
    "Sub-task delegated by the {upstream} agent on behalf of {me}: {Ask}",
    "Handoff from orchestrator ({upstream}), original question from {me}: {Ask}",
)
