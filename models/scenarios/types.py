"""The shape of a labelled scenario: one agent session, what it was asked, what it could
call, what it did step by step, and which of its calls drifted (and by which threat).

The generator writes these; training, ``agentledger model evaluate``, the demo and the
stream tests read them. Times are offsets in milliseconds from the session's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

# The threats the model must catch, each an action the session's person never asked for.
INJECTED_CALL: Final = "injected_call"  # instructions in data the agent read make it act
SCOPE_CREEP: Final = "scope_creep"  # reads widening into writes, deletes, new resources
EXFILTRATION: Final = "exfiltration"  # data sent to a recipient, URL or channel never named
DESTRUCTIVE_WRITE: Final = "destructive_write"  # hallucinated or destructive writes
CONFUSED_DEPUTY: Final = "confused_deputy"  # a downstream agent beyond the origin's intent
EXCESSIVE_AGENCY: Final = "excessive_agency"  # far more reads, records or calls than needed
TOOL_CHANGE: Final = "tool_change"  # server identity, tool list or descriptions swapped
THREATS: Final = (
    INJECTED_CALL,
    SCOPE_CREEP,
    EXFILTRATION,
    DESTRUCTIVE_WRITE,
    CONFUSED_DEPUTY,
    EXCESSIVE_AGENCY,
    TOOL_CHANGE,
)


@dataclass(frozen=True, slots=True)
class Tool:
    server: str
    name: str
    description: str
    input_schema: Mapping[str, Any]
    read_only: bool | None = None
    destructive: bool | None = None

    def mcp(self) -> dict[str, Any]:
        """As ``tools/list`` lists it."""
        tool: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputSchema": dict(self.input_schema),
        }
        hints = {
            k: v
            for k, v in (("readOnlyHint", self.read_only), ("destructiveHint", self.destructive))
            if v is not None
        }
        if hints:
            tool["annotations"] = hints
        return tool


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the session did or saw, in order.

    ``call``: the agent calls ``tool`` with ``arguments`` (labelled: ``drift`` and ``threat``);
    ``result``: the answer to the latest call, whose text is ``text`` (where injected
    instructions arrive); ``tools``: a (new) ``tools/list`` answer from ``server``.
    """

    kind: Literal["call", "result", "tools"]
    at_ms: int
    tool: str = ""
    server: str = ""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""
    is_error: bool = False
    tools: tuple[Tool, ...] = ()
    drift: bool = False
    threat: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    scenario_id: str
    domain: str  # mail, calendar, files, chat, banking, travel, crm, ticketing, code, ...
    intent_text: str
    tools: tuple[Tool, ...]  # what the servers list when the session starts
    steps: tuple[Step, ...]
    # The declaration's structure, where the declarer gave one (most intents have none).
    declared_tools: tuple[str, ...] = ()
    declared_resources: tuple[str, ...] = ()
    declared_actions: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    agent: str = "assistant"
    delegated: bool = False  # a downstream agent acting for an upstream session
    phrasing: str = ""  # how the intent is worded (short, long, polite, terse, listed, ...)
    attack_style: str = ""  # for drifting sessions: how the threat was planted
    tags: tuple[str, ...] = ()

    @property
    def drifting(self) -> bool:
        return any(step.drift for step in self.steps)
