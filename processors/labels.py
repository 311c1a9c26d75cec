"""What attribution works with: an action's facts, its session's context, and the label it gives.

``processors.attribution`` turns facts and context into a label; the stitcher keeps the facts
of every action still open to a new label and compares labels by ``signature``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from kernel.events import Event
from kernel.vocabulary import ATTR_ACT_CHAIN
from ledger.rows import attribution_row

# The ``link_key_type`` of an event that carries no correlation key: its own id stands in,
# so it starts a session of its own and no other event can join it.
OWN_ID_KEY: Final = "event"


def actors_of(event: Event) -> tuple[str, ...]:
    """The RFC 8693 ``act`` chain the parser kept, outermost (acting now) first."""
    chain = event.attributes.get(ATTR_ACT_CHAIN)
    if not chain:
        return ()
    try:
        value = orjson.loads(chain)
    except orjson.JSONDecodeError:
        return ()
    return tuple(str(v) for v in value if v) if isinstance(value, list) else ()


def agent_name(name: str, instance: str) -> str:
    if name and instance and name != instance:
        return f"{name} ({instance})"
    return name or instance


@dataclass(slots=True)
class ActionFacts:
    """What attribution needs to know about one action; kept while it may be re-labelled."""

    action_id: str
    session_id: str
    event_time: datetime
    kind: str
    source: str
    operation: str
    resource: str
    access: str
    principal: str
    principal_type: str
    agent_name: str
    agent_instance: str
    actors: tuple[str, ...]
    link_key_type: str
    link_key: str
    link_rule: str
    emitted: int = 0  # signature of the label last written for it, 0 before any

    @classmethod
    def of(cls, row: dict[str, Any], event_time: datetime) -> ActionFacts:
        """From an ``actions`` row (the stitcher's own, or one read back from the ledger)."""
        return cls(
            action_id=row["action_id"],
            session_id=row["session_id"],
            event_time=event_time,
            kind=row["kind"],
            source=row["source"],
            operation=row["operation"],
            resource=row["resource"],
            access=row.get("access", ""),
            principal=row["principal"],
            principal_type=row["principal_type"],
            agent_name=row["agent_name"],
            agent_instance=row["agent_instance"],
            actors=tuple(row.get("actors", ())),
            link_key_type=row["link_key_type"],
            link_key=row["link_key"],
            link_rule=row["link_rule"],
        )


@dataclass(frozen=True, slots=True)
class Intent:
    text: str
    source: str  # one of kernel.vocabulary.INTENT_SOURCES
    tools: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()

    @property
    def structured(self) -> bool:
        return bool(self.tools or self.resources or self.actions)


@dataclass(frozen=True, slots=True, init=False)
class Hop:
    """One link of a delegation chain, walked from the acting agent back to its origin."""

    kind: str  # agent, human, schedule (kernel.vocabulary ORIGIN_*), subject, unknown
    id: str
    session_id: str
    via: str  # declaration, token_grant, act_claim, session
    intent: Intent | None

    def __init__(  # written out: compiled (kernel.native), it runs natively
        self,
        kind: str,
        id: str,
        session_id: str = "",
        via: str = "",
        intent: Intent | None = None,
    ) -> None:
        _set = object.__setattr__
        _set(self, "kind", kind)
        _set(self, "id", id)
        _set(self, "session_id", session_id)
        _set(self, "via", via)
        _set(self, "intent", intent)

    def as_json(self, *, first: bool = False) -> dict[str, str]:
        out = {"kind": self.kind, "id": self.id}
        if self.session_id:
            out["session_id"] = self.session_id
        if self.via:
            out["via"] = self.via
        if self.intent is not None and not first:  # the first hop's is the session's own
            out["intent"] = self.intent.text
        return out


@dataclass(frozen=True, slots=True)
class SessionContext:
    """The session-level half of attribution: equal contexts give equal labels."""

    session_id: str
    agent: str = ""
    agent_ids: tuple[str, ...] = ()  # the instance and SPIFFE ID the session knows it by
    principal: str = ""
    principal_type: str = ""
    intent: Intent | None = None
    # From this session's origin back to the first one: (human alice) for a session a person
    # started; (agent orchestrator in s-1, human alice) for one an upstream agent declared.
    upstream: tuple[Hop, ...] = ()


@dataclass(frozen=True, slots=True)
class Attribution:
    label: str
    rule: str
    agent: str
    origin_type: str
    origin_principal: str
    chain: tuple[Hop, ...]
    confused_deputy: bool
    evidence: tuple[dict[str, str], ...]

    def row(self, facts: ActionFacts, session_id: str, version: int) -> dict[str, Any]:
        chain = [hop.as_json(first=i == 0) for i, hop in enumerate(self.chain)]
        return attribution_row(self, facts.action_id, session_id, facts.event_time, chain, version)


def signature(row: dict[str, Any]) -> int:
    """What makes two labels of one action the same, from an ``attributions`` row (the
    stitcher's own or one read back from the ledger): a hash of those fields, never 0 (an
    action never labelled). Held for every open action of the window, it is a number, not
    the row's chain and evidence texts (about 900 bytes an action)."""
    return (
        hash(
            (
                row["session_id"],
                row["label"],
                row["rule"],
                row["agent"],
                row["origin_type"],
                row["origin_principal"],
                row["chain"],
                bool(row["confused_deputy"]),
                row["evidence"],
            )
        )
        or 1
    )
