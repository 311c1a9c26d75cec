"""Coverage: whether an intent covers an action, and why, in words.

Until drift scoring exists, coverage is decided by the intent's structure (``tools``,
``resources``, ``actions``); an intent with text alone covers every action of its session.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from kernel import events as ev
from kernel.access import PROTOCOL_KINDS
from processors.labels import ActionFacts, Intent


def matches(value: str, patterns: Sequence[str]) -> bool:
    """``value`` equals one of ``patterns`` or fits one as a glob (``crm.*``)."""
    return any(value == p or fnmatchcase(value, p) for p in patterns)


def covers(intent: Intent, facts: ActionFacts) -> tuple[bool, str]:
    """Whether ``intent`` covers the action, and why, in words.

    Each dimension the intent lists constrains the actions it applies to: ``tools`` the tool
    calls (an explicitly listed tool is the most specific word and settles it), ``resources``
    the actions that name a resource, ``actions`` every action whose access can be told;
    an action whose access cannot be told is not shown to be covered by ``actions``.
    """
    if not intent.structured:
        return True, "the intent is text only, which covers every action of its session"
    if facts.kind in PROTOCOL_KINDS:
        return True, f"{facts.operation or facts.kind} is a protocol step, not an effect"
    if facts.kind == ev.TOOL_CALL and intent.tools:
        if matches(facts.resource, intent.tools):
            return True, f"tool {facts.resource} is in the intent's tools {list(intent.tools)}"
        return False, f"tool {facts.resource} is not in the intent's tools {list(intent.tools)}"
    reasons: list[str] = []
    if intent.resources and facts.resource and facts.kind != ev.TOOL_CALL:
        if not matches(facts.resource, intent.resources):
            return False, (
                f"resource {facts.resource} matches none of the intent's resources "
                f"{list(intent.resources)}"
            )
        reasons.append(f"resource {facts.resource} is in the intent's resources")
    if intent.actions and "*" not in intent.actions:
        allowed = list(intent.actions)
        if not facts.access:
            return False, (
                f"whether {facts.operation} reads, writes or deletes cannot be told, and the "
                f"intent allows only {allowed}"
            )
        if facts.access not in intent.actions:
            return False, f"it is a {facts.access}, and the intent allows only {allowed}"
        reasons.append(f"it is a {facts.access}, which the intent allows")
    if not reasons:
        return True, "the intent's tools and resources do not constrain this kind of action"
    return True, "; ".join(reasons)
