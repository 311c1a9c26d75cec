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
``attribute`` takes four steps, each adding its evidence: who acted, the delegation chain
back to the origin, the instruction and whether it covers the action (``processors.coverage``),
and whether an upstream agent may have steered a downstream one (a confused deputy).
"""

from __future__ import annotations

from typing import Final

from kernel import events as ev
from kernel.vocabulary import (
    AGENT_AUTONOMOUS,
    AGENT_DELEGATED,
    DIRECT_USER,
    HUMAN_TYPES,
    INTENT_DECLARED,
    INTENT_MCP_CLIENT,
    INTENT_OTEL_AGENT,
    INTENT_TXN_TOKEN,
    ORIGIN_AGENT,
    ORIGIN_HUMAN,
    RULE_COVERED,
    RULE_NO_ACTOR,
    RULE_NO_INSTRUCTION,
    RULE_NO_SESSION,
    RULE_OUTSIDE,
    RULE_PERSON,
    UNATTRIBUTED,
    WEB_IDENTITY_KEY,
)
from processors.coverage import covers
from processors.labels import (
    OWN_ID_KEY,
    ActionFacts,
    Attribution,
    Hop,
    Intent,
    SessionContext,
    agent_name,
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
        # A token exchange joined by inference: it presented the token the session held
        # (processors.federation). Its label is the same whether it joined as it arrived or
        # by a merge once the token was seen (then its own link is its issued key).
        WEB_IDENTITY_KEY,
    }
)
# What a principal does at the identity provider is their own step, even in an agent's session.
SELF_KINDS: Final = frozenset({ev.IDENTITY, ev.TOKEN_GRANT})

_SOURCE_WORDS: Final = {
    INTENT_DECLARED: "declared at session start",
    INTENT_TXN_TOKEN: "purpose of its transaction token",
    INTENT_MCP_CLIENT: "asserted by the MCP client's aiInvocation",
    INTENT_OTEL_AGENT: "prompt of the invoke_agent span",
}


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
    agent = _who_acted(facts, ctx, evidence)
    if not agent:
        return _without_agent(facts, ctx, evidence)
    if facts.link_key_type == OWN_ID_KEY:
        evidence.append(
            _evidence(
                "no_session",
                "the record carries no correlation key, so no session can be established",
            )
        )
        return Attribution(UNATTRIBUTED, RULE_NO_SESSION, agent, "", "", (), False, tuple(evidence))

    chain, origin = _delegation(facts, ctx, agent, evidence)
    origin_type = origin.kind if origin is not None else ""
    origin_principal = origin.id if origin is not None else ""
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
    covered = _instruction(facts, intent, evidence)
    confused = _confused_deputy(facts, intent, chain, evidence)
    label, rule = (AGENT_DELEGATED, RULE_COVERED) if covered else (AGENT_AUTONOMOUS, RULE_OUTSIDE)
    return Attribution(
        label, rule, agent, origin_type, origin_principal, chain, confused, tuple(evidence)
    )


# -- 1. who acted ------------------------------------------------------------------------------
def _who_acted(facts: ActionFacts, ctx: SessionContext, evidence: list[dict[str, str]]) -> str:
    """The agent the record names, the act claim's current actor, or the session's agent
    when the action ran on the session's credential; "" when no agent is seen."""
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
    return agent


def _without_agent(
    facts: ActionFacts, ctx: SessionContext, evidence: list[dict[str, str]]
) -> Attribution:
    """No agent acted: a person on their own credentials, or nobody known."""
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
        hop = Hop(ORIGIN_HUMAN, person, ctx.session_id, "own_credentials")
        return Attribution(
            DIRECT_USER, RULE_PERSON, "", ORIGIN_HUMAN, person, (hop,), False, tuple(evidence)
        )
    evidence.append(
        _evidence(
            "no_actor",
            f"no agent is seen and {who} ({facts.principal_type or 'type unknown'}) is "
            "not known to be a person",
        )
    )
    return Attribution(UNATTRIBUTED, RULE_NO_ACTOR, "", "", "", (), False, tuple(evidence))


def _is_human(facts: ActionFacts, ctx: SessionContext) -> bool:
    if facts.principal_type in HUMAN_TYPES:
        return True
    # A token's subject is a person when the IdP said so for the same principal.
    return bool(
        facts.principal and facts.principal == ctx.principal and ctx.principal_type in HUMAN_TYPES
    )


# -- 2. the delegation chain back to the origin ------------------------------------------------
def _delegation(
    facts: ActionFacts, ctx: SessionContext, agent: str, evidence: list[dict[str, str]]
) -> tuple[tuple[Hop, ...], Hop | None]:
    """The chain from the acting agent back to its origin, and the origin if it is known
    (a person, a schedule, a token's subject: anything but another agent)."""
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
    origin = chain[-1] if chain and chain[-1].kind != ORIGIN_AGENT else None
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
    return chain, origin


def _chain(facts: ActionFacts, ctx: SessionContext, agent: str) -> tuple[Hop, ...]:
    """From the acting agent back to the origin. Declared upstream sessions give the
    richer chain (each hop with its session and intent); a token's RFC 8693 ``act`` chain
    stands in where no upstream session was declared."""
    declared = (Hop(ORIGIN_AGENT, agent, ctx.session_id, "session", ctx.intent), *ctx.upstream)
    if not facts.actors or ctx.upstream:
        return declared  # the session's origin is known: the act claim only corroborates it
    # Outermost act first (acting now), each nested act the one before it; the token's
    # subject is the party on whose behalf the whole chain acts.
    hops = [Hop(ORIGIN_AGENT, facts.actors[0], ctx.session_id, "act_claim", ctx.intent)]
    hops += [Hop(ORIGIN_AGENT, actor, "", "act_claim") for actor in facts.actors[1:]]
    if facts.principal:
        kind = ORIGIN_HUMAN if _is_human(facts, ctx) else "subject"
        hops.append(Hop(kind, facts.principal, "", "act_claim"))
    return tuple(hops)


def _hop_words(hop: Hop) -> str:
    where = f" in {hop.session_id}" if hop.session_id else ""
    return f"{hop.kind} {hop.id or '(unknown)'}{where}"


# -- 3. the instruction, and whether it covers the action --------------------------------------
def _instruction(facts: ActionFacts, intent: Intent, evidence: list[dict[str, str]]) -> bool:
    evidence.append(
        _evidence(
            "intent",
            f"intent ({_SOURCE_WORDS.get(intent.source, intent.source)}): {intent.text[:200]}",
            source=intent.source,
        )
    )
    covered, why = covers(intent, facts)
    evidence.append(_evidence("coverage", why, covered="yes" if covered else "no"))
    return covered


# -- 4. a possible confused deputy -------------------------------------------------------------
def _confused_deputy(
    facts: ActionFacts, intent: Intent, chain: tuple[Hop, ...], evidence: list[dict[str, str]]
) -> bool:
    """A downstream agent doing what the first intent in its chain does not cover may have
    been steered by the agent upstream of it."""
    originating = next((hop.intent for hop in reversed(chain) if hop.intent is not None), None)
    if originating is None or originating is intent:
        return False
    first_covered, first_why = covers(originating, facts)
    if first_covered:
        return False
    evidence.append(
        _evidence(
            "confused_deputy",
            f"possible confused deputy: the originating intent "
            f"({originating.text[:120]}) does not cover it: {first_why}",
        )
    )
    return True


def _evidence(fact: str, detail: str, **data: str) -> dict[str, str]:
    return {"fact": fact, "detail": detail, **data}
