"""Attribution: who is behind each action, and the evidence that says so. Facts in, label out.

Every action gets one of four labels:

- ``direct_user``: a person acting with their own credentials, no agent in sight;
- ``agent_delegated``: an agent acting inside a session that a person, a schedule or an
  upstream agent started with an intent (declared, or asserted by the token or the client),
  and that intent covers the action;
- ``agent_autonomous``: an agent acting outside its session's intent, or with no
  instruction at all;
- ``unattributed``: neither an agent nor a person can be established, or the action has no
  key that places it in a session.

The label is a pure function of the action's own facts and its session's context, so the
stitcher can recompute it whenever the context changes (a late declaration, a token grant
that names the person, a merge) and the same input gives the same label in any order.
Until drift scoring exists, coverage is decided by the intent's structure (``tools``,
``resources``, ``actions``); an intent with text alone covers every action of its session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Final

import orjson

from kernel import events as ev
from kernel.access import PROTOCOL_KINDS
from kernel.events import Event
from kernel.events import ch_ts as ts
from kernel.vocabulary import (
    AGENT_AUTONOMOUS,
    AGENT_DELEGATED,
    ATTR_ACT_CHAIN,
    DIRECT_USER,
    HUMAN_TYPES,
    RULE_COVERED,
    RULE_NO_ACTOR,
    RULE_NO_INSTRUCTION,
    RULE_NO_SESSION,
    RULE_OUTSIDE,
    RULE_PERSON,
    UNATTRIBUTED,
)

# Keys that name the credential or the request itself: an action linked to a session by
# one of them ran on that session's credential, so the session's agent took it. IdP
# session ids and the principal window do not say whose credential it was.
CREDENTIAL_KEYS: Final = frozenset(
    {
        ev.KEY_JTI,
        ev.KEY_TOKEN_FP,
        ev.KEY_MCP_SESSION,
        ev.KEY_TRACE,
        ev.KEY_TXN,
        ev.KEY_AWS_ACCESS_KEY,
        ev.KEY_AWS_SESSION_NAME,
        ev.KEY_MCP_RPC,
    }
)
# What a principal does at the identity provider is their own step, even in an agent's session.
SELF_KINDS: Final = frozenset({ev.IDENTITY, ev.TOKEN_GRANT})


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
    emitted: tuple[Any, ...] = ()  # signature of the label last written for it

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
    source: str  # declared, txn_token, mcp_ai_invocation, otel_invoke_agent
    tools: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()

    @property
    def structured(self) -> bool:
        return bool(self.tools or self.resources or self.actions)


@dataclass(frozen=True, slots=True)
class Hop:
    """One link of a delegation chain, walked from the acting agent back to its origin."""

    kind: str  # agent, human, schedule, subject (a token's subject), unknown
    id: str
    session_id: str = ""
    via: str = ""  # declaration, token_grant, act_claim, session
    intent: Intent | None = None

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
        row = {
            "action_id": facts.action_id,
            "session_id": session_id,
            "event_time": ts(facts.event_time),
            "label": self.label,
            "rule": self.rule,
            "agent": self.agent,
            "origin_type": self.origin_type,
            "origin_principal": self.origin_principal,
            "chain": _json([hop.as_json(first=i == 0) for i, hop in enumerate(self.chain)]),
            "confused_deputy": self.confused_deputy,
            "evidence": _json(list(self.evidence)),
            "version": version,
        }
        return row


def signature(row: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two labels of one action the same, from an ``attributions`` row (the
    stitcher's own or one read back from the ledger)."""
    return (
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


def _json(value: Any) -> str:
    # Evidence and hops are built in a fixed key order, so plain dumps is stable.
    return orjson.dumps(value).decode()


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


def _is_human(facts: ActionFacts, ctx: SessionContext) -> bool:
    if facts.principal_type in HUMAN_TYPES:
        return True
    # A token's subject is a person when the IdP said so for the same principal.
    return bool(
        facts.principal and facts.principal == ctx.principal and ctx.principal_type in HUMAN_TYPES
    )


def agent_name(name: str, instance: str) -> str:
    if name and instance and name != instance:
        return f"{name} ({instance})"
    return name or instance


def _evidence(fact: str, detail: str, **data: str) -> dict[str, str]:
    item = {"fact": fact, "detail": detail}
    if data:
        item.update(data)
    return item


def attribute(facts: ActionFacts, ctx: SessionContext) -> Attribution:
    """The label of one action in its session's context, with the evidence behind it."""
    evidence = [
        _evidence(
            "link",
            f"linked to session {ctx.session_id} by rule {facts.link_rule} "
            f"via {facts.link_key_type}={facts.link_key[:64]}",
            key_type=facts.link_key_type,
        )
    ]

    # 1. Who acted: the agent the record names, the act claim's current actor, or the
    #    session's agent when the action ran on the session's credential.
    agent = agent_name(facts.agent_name, facts.agent_instance)
    if agent:
        said = f"the {facts.source} record names agent {agent}"
        # The same instance, by an id the session knows it by: name it as the session does.
        if facts.agent_instance in ctx.agent_ids and agent != ctx.agent:
            agent = ctx.agent  # the session knows the instance's name too
            said += f", which is {agent} in this session"
        evidence.append(_evidence("agent", said))
    elif facts.actors:
        agent = facts.actors[0]
        evidence.append(
            _evidence(
                "agent",
                f"its token's RFC 8693 act claim names {agent} as the party acting now",
            )
        )
    elif (
        ctx.agent
        and facts.link_key_type in CREDENTIAL_KEYS
        # A person's own sign-in or grant stays theirs; a workload's (an STS AssumeRole for
        # the agent's token) is a step of the agent's.
        and (facts.kind not in SELF_KINDS or not _is_human(facts, ctx))
    ):
        agent = ctx.agent
        evidence.append(
            _evidence(
                "agent",
                f"it ran on {facts.link_key_type}={facts.link_key[:64]}, the credential that "
                f"agent {agent} uses in this session",
            )
        )

    if not agent:
        who = facts.principal or "an unknown principal"
        person = ""
        if _is_human(facts, ctx):
            person = facts.principal
            said = (
                f"{who} is a person ({facts.principal_type or ctx.principal_type}) acting "
                "with their own credentials; no agent is seen on this action or its credential"
            )
        elif facts.link_key_type in CREDENTIAL_KEYS and ctx.principal_type in HUMAN_TYPES:
            # Temporary keys a person was issued (AssumeRoleWithSAML, SSO) act as a role,
            # but the credential is still the person's.
            person = ctx.principal
            said = (
                f"it ran on {facts.link_key_type}={facts.link_key[:64]}, a credential issued "
                f"in this session to {ctx.principal}, a person ({ctx.principal_type}); no "
                "agent is seen in the session"
            )
        if person:
            evidence.append(_evidence("person", said))
            hop = Hop("human", person, ctx.session_id, "own_credentials")
            return Attribution(
                DIRECT_USER, RULE_PERSON, "", "human", person, (hop,), False, tuple(evidence)
            )
        evidence.append(
            _evidence(
                "no_actor",
                f"no agent is seen and {who} ({facts.principal_type or 'type unknown'}) is "
                "not known to be a person",
            )
        )
        return Attribution(UNATTRIBUTED, RULE_NO_ACTOR, "", "", "", (), False, tuple(evidence))

    if facts.link_key_type == "event":
        evidence.append(
            _evidence(
                "no_session",
                "the record carries no correlation key, so no session can be established",
            )
        )
        return Attribution(UNATTRIBUTED, RULE_NO_SESSION, agent, "", "", (), False, tuple(evidence))

    # 2. The delegation chain back to the origin.
    chain = _chain(facts, ctx, agent)
    if facts.actors:
        evidence.append(
            _evidence(
                "act_claim",
                "its token was exchanged (RFC 8693): "
                + " ← ".join(facts.actors)
                + (f" on behalf of {facts.principal}" if facts.principal else ""),
            )
        )
    origin = chain[-1] if chain and chain[-1].kind != "agent" else None
    origin_type = origin.kind if origin is not None else ""
    origin_principal = origin.id if origin is not None else ""
    if origin is not None:
        evidence.append(
            _evidence(
                "origin",
                f"triggered by {origin.kind} {origin.id} (from the {origin.via.replace('_', ' ')})",
            )
        )
    else:
        evidence.append(
            _evidence("origin", "no person, schedule or upstream agent is known to have started it")
        )
    if len(chain) > 2:  # more than "this agent, for this origin": who handed it on
        evidence.append(
            _evidence(
                "chain",
                "delegation: " + " ← ".join(_hop_words(hop) for hop in chain),
            )
        )

    # 3. Instruction: is there an intent, and does it cover the action?
    intent = ctx.intent
    if intent is None:
        evidence.append(
            _evidence(
                "no_intent",
                "no intent was declared for the session, and none was asserted by a "
                "transaction token, the MCP client or an invoke_agent span",
            )
        )
        return Attribution(
            AGENT_AUTONOMOUS,
            RULE_NO_INSTRUCTION,
            agent,
            origin_type,
            origin_principal,
            chain,
            False,
            tuple(evidence),
        )
    evidence.append(
        _evidence(
            "intent",
            f"intent ({_SOURCE_WORDS.get(intent.source, intent.source)}): {intent.text[:200]}",
            source=intent.source,
        )
    )
    covered, why = covers(intent, facts)
    evidence.append(_evidence("coverage", why, covered="yes" if covered else "no"))

    # 4. A downstream agent doing what the first intent in its chain does not cover may have
    #    been steered by the agent upstream of it: a possible confused deputy.
    confused = False
    originating = next((hop.intent for hop in reversed(chain) if hop.intent is not None), None)
    if originating is not None and originating is not intent:
        first_covered, first_why = covers(originating, facts)
        if not first_covered:
            confused = True
            evidence.append(
                _evidence(
                    "confused_deputy",
                    f"possible confused deputy: the originating intent "
                    f"({originating.text[:120]}) does not cover it: {first_why}",
                )
            )
    label, rule = (AGENT_DELEGATED, RULE_COVERED) if covered else (AGENT_AUTONOMOUS, RULE_OUTSIDE)
    return Attribution(
        label, rule, agent, origin_type, origin_principal, chain, confused, tuple(evidence)
    )


_SOURCE_WORDS = {
    "declared": "declared at session start",
    "txn_token": "purpose of its transaction token",
    "mcp_ai_invocation": "asserted by the MCP client's aiInvocation",
    "otel_invoke_agent": "prompt of the invoke_agent span",
}


def _chain(facts: ActionFacts, ctx: SessionContext, agent: str) -> tuple[Hop, ...]:
    """From the acting agent back to the origin. Declared upstream sessions give the
    richer chain (each hop with its session and intent); a token's RFC 8693 ``act`` chain
    stands in where no upstream session was declared."""
    declared = (Hop("agent", agent, ctx.session_id, "session", ctx.intent), *ctx.upstream)
    if not facts.actors or ctx.upstream:
        return declared  # the session's origin is known: the act claim only corroborates it
    # Outermost act first (acting now), each nested act the one before it; the token's
    # subject is the party on whose behalf the whole chain acts.
    hops = [Hop("agent", facts.actors[0], ctx.session_id, "act_claim", ctx.intent)]
    hops += [Hop("agent", actor, "", "act_claim") for actor in facts.actors[1:]]
    if facts.principal:
        kind = "human" if _is_human(facts, ctx) else "subject"
        hops.append(Hop(kind, facts.principal, "", "act_claim"))
    return tuple(hops)


def _hop_words(hop: Hop) -> str:
    where = f" in {hop.session_id}" if hop.session_id else ""
    return f"{hop.kind} {hop.id or '(unknown)'}{where}"
