"""What a drift scorer sees and says: the declared intent, the tools a server lists, one
call, the session's trail so far, and the score.

The stream worker and the MCP gateway both keep one ``SessionTrail`` per session and feed it
what they see, in order: the intent when it is known, each ``tools/list`` answer, each call
(scored before it is added), and each call's result text. ``Scorer.score`` is the one door.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# A call's identity among identical calls (``models.calls.call_signature``): the hash of its
# tool, its resource, and each argument's name with its value as text.
CallSignature = int


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """One tool as an MCP server's ``tools/list`` describes it."""

    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=dict)
    read_only: bool | None = None  # annotations.readOnlyHint, where the server gives it
    destructive: bool | None = None  # annotations.destructiveHint

    @classmethod
    def from_mcp(cls, tool: Mapping[str, Any]) -> ToolInfo:
        annotations = tool.get("annotations") or {}
        schema = tool.get("inputSchema") or {}
        read_only = annotations.get("readOnlyHint")
        destructive = annotations.get("destructiveHint")
        return cls(
            name=str(tool.get("name") or ""),
            description=str(tool.get("description") or ""),
            input_schema=schema if isinstance(schema, Mapping) else {},
            read_only=read_only if isinstance(read_only, bool) else None,
            destructive=destructive if isinstance(destructive, bool) else None,
        )


@dataclass(frozen=True, slots=True)
class DeclaredIntent:
    """The envelope a session may act in. ``declared``: a declarer stated it (its tools,
    resources and actions are hard bounds); otherwise the agent's client asserted it."""

    text: str
    tools: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()  # read, write, delete or "*"
    scopes: tuple[str, ...] = ()
    declared: bool = True


# The value classes built for every action write their ``__init__`` out (``init=False``):
# compiled (kernel.native), a hand-written one runs natively, where the one ``dataclasses``
# generates stays interpreted (ten times slower a construction). They are not frozen, though
# never changed once made: a frozen class's fields are set through ``object.__setattr__``, a
# call into the interpreter per field (1.2 µs of each ``Call``), where a plain assignment
# compiles to a store.


@dataclass(slots=True, init=False)
class Call:
    """One action to score: an MCP ``tools/call`` (tool and arguments), or an API call
    (``tool`` is its operation, ``api`` true: no ``tools/list`` describes it, and a
    declaration's tools do not bound it; its resources and actions do)."""

    action_id: str
    tool: str
    event_time: datetime
    arguments: Mapping[str, Any]
    server: str
    resource: str
    access: str  # read, write, delete, or "" when unknown
    api: bool  # an API call (CloudTrail, audit logs), not an MCP tools/call

    def __init__(
        self,
        action_id: str,
        tool: str,
        event_time: datetime,
        arguments: Mapping[str, Any] | None = None,
        server: str = "",
        resource: str = "",
        access: str = "",
        api: bool = False,
    ) -> None:
        self.action_id = action_id
        self.tool = tool
        self.event_time = event_time
        self.arguments = {} if arguments is None else arguments
        self.server = server
        self.resource = resource
        self.access = access
        self.api = api


@dataclass(slots=True, init=False)
class DriftScore:
    score: float  # in [0, 1]
    flagged: bool
    reasons: tuple[str, ...]
    model_version: str
    out_of_bounds: bool  # outside the declared tools, resources or actions

    def __init__(
        self,
        score: float,
        flagged: bool,
        reasons: tuple[str, ...],
        model_version: str,
        out_of_bounds: bool = False,
    ) -> None:
        self.score = score
        self.flagged = flagged
        self.reasons = reasons
        self.model_version = model_version
        self.out_of_bounds = out_of_bounds


@dataclass(slots=True, init=False)
class Reading:
    """One call's features as ``models.features.read_call`` reads them, with what fired."""

    values: list[float]
    kind: str  # the kind of action the call is
    paged: bool  # the call walks a listing (a page, offset or cursor argument)
    volume: float  # the records it asks for
    details: dict[str, str]  # feature -> what fired
    named_keys: list[str]  # arguments that carried the task's item
    signature: CallSignature  # the call's identity among identical calls (0 if not worked out)
    at: float  # the call's time in epoch seconds (0.0 if not worked out)

    def __init__(
        self,
        values: list[float],
        kind: str,
        paged: bool = False,
        volume: float = 0.0,
        details: dict[str, str] | None = None,
        named_keys: list[str] | None = None,
        signature: CallSignature = 0,
        at: float = 0.0,
    ) -> None:
        self.values = values
        self.kind = kind
        self.paged = paged
        self.volume = volume
        self.details = {} if details is None else details
        self.named_keys = [] if named_keys is None else named_keys
        self.signature = signature
        self.at = at


class SessionTrail(Protocol):
    """A session's context as a scorer keeps it."""

    def set_intent(self, intent: DeclaredIntent | None) -> None: ...

    def set_agent(self, agent: str, delegated: bool = False) -> None:
        """The acting agent, and whether it acts for an upstream agent's session."""

    def see_tools(self, server: str, tools: Iterable[ToolInfo]) -> list[str]:
        """A ``tools/list`` answer; returns what changed under a running session (a tool's
        description or schema, a tool added or removed), as reasons."""

    def see_result(self, action_id: str, text: str, is_error: bool = False) -> None:
        """The text a call's result carried (content blocks joined)."""


class Scorer(Protocol):
    version: str

    def new_trail(self) -> SessionTrail: ...

    def score(self, trail: SessionTrail, call: Call) -> DriftScore:
        """Score ``call`` in its session's context, then add it to the trail."""

    def score_many(self, items: Sequence[tuple[SessionTrail, Call]]) -> list[DriftScore]:
        """Score in order (a session's later call sees its earlier ones)."""
