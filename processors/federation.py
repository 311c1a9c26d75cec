"""Token exchanges: which session held the web identity token a federation took in.

An agent's token exchanged for cloud credentials (AWS ``AssumeRoleWithWebIdentity``) is
logged by the cloud with the token's identity, its issuer, subject and audience, but not
its ``jti``, and the caller chooses the session name. So the exchange shares no key with
the session that held the token. It joins the one session holding a live token of the same
issuer, subject and audience (issued at or before the exchange, not yet expired) under
``LINK_WEB_IDENTITY``, whose evidence names the token and its lifetime: an inference from
identity and time, weaker than any shared key, used only when no key links the exchange.
When two sessions hold such a token, the exchange joins neither and keeps its own session
under ``LINK_WEB_IDENTITY_AMBIGUOUS``, whose evidence names them.

Which sessions hold such a token is a question about every token, and the events that
present them may arrive after the exchange (another log, another partition). Unlike a
shared key, which only ever adds a link, the answer can change as tokens arrive: one holder
now, two later. So the exchange starts its own session and waits; the inference is made
once the re-stitch window has passed it (``settle_exchanges``, at the stitcher's sweep),
over the tokens known then, and the exchange's session merges into the holder's. Every
arrival order within the window gives the same answer, as time order does. An exchange that
arrives already past the window is decided at once, over the tokens known then.

Tokens are known from the events that present them (``ingest.fields.put_token_identity``).
Both are written to the ledger as they become known (``web_identities``: each token a
session presented, each exchange while it waits), so that a stitcher restarted mid-stream
decides the exchanges that waited over what the one before it knew
(``restore_web_identities``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.base import parse_time
from kernel import events as ev
from kernel.events import Event
from kernel.vocabulary import (
    ATTR_EXCHANGED_AUDIENCE,
    ATTR_EXCHANGED_ISSUER,
    ATTR_EXCHANGED_SUBJECT,
    ATTR_TOKEN_AUDIENCE,
    ATTR_TOKEN_EXPIRES_AT,
    ATTR_TOKEN_ISSUED_AT,
    ATTR_TOKEN_ISSUER,
    ATTR_TOKEN_SUBJECT,
    LINK_WEB_IDENTITY,
    LINK_WEB_IDENTITY_AMBIGUOUS,
    LINK_WEB_IDENTITY_UNHELD,
)
from ledger.rows import TOKEN_ROLE, StitchOutput, exchange_row, held_token_row
from processors.sessions import Exchange, LiveToken, StitchState

# The link's key type: no key of the event, the identity the inference went by.

Identity = tuple[str, str, str]  # issuer, subject, audience


@dataclass(frozen=True, slots=True)
class Inferred:
    """What an exchange joins: a session (``root``), or none when ``rule`` is ambiguous."""

    root: str | None
    identity: str  # "issuer sub=… aud=…", the link's key
    rule: str
    evidence: str


def exchanged(event: Event) -> Identity | None:
    """The web identity ``event`` exchanged, if it is a token exchange."""
    attributes = event.attributes
    issuer = attributes.get(ATTR_EXCHANGED_ISSUER)
    subject = attributes.get(ATTR_EXCHANGED_SUBJECT)
    audience = attributes.get(ATTR_EXCHANGED_AUDIENCE)
    if issuer and subject and audience:
        return issuer, subject, audience
    return None


def describe(identity: Identity) -> str:
    issuer, subject, audience = identity
    return f"{issuer} sub={subject} aud={audience}"


def infer(state: StitchState, identity: Identity, at: datetime) -> Inferred | None:
    """The session holding a live token of ``identity`` at ``at``; None if no session does."""
    holders: dict[str, LiveToken] = {}
    for token in state.live_tokens.get(identity, {}).values():
        if token.issued_at <= at <= token.expires_at:
            root = state.resolve(token.session_id)
            if root not in holders or token.issued_at > holders[root].issued_at:
                holders[root] = token
    if not holders:
        return None
    named = describe(identity)
    if len(holders) == 1:
        [(root, token)] = holders.items()
        evidence = (
            f"inferred from identity and time, not a shared key: the session held token "
            f"{token.name} of {named}, live {token.issued_at.isoformat()} to "
            f"{token.expires_at.isoformat()}"
        )
        return Inferred(root, named, LINK_WEB_IDENTITY, evidence)
    evidence = (
        f"not linked: {len(holders)} sessions held a live token of {named} "
        f"({', '.join(sorted(holders))})"
    )
    return Inferred(None, named, LINK_WEB_IDENTITY_AMBIGUOUS, evidence)


def decide(state: StitchState, identity: Identity, at: datetime) -> Inferred:
    """What the tokens known now say of an exchange of ``identity`` at ``at``: the session
    that held one, an ambiguity, or that none did (both with ``root`` None)."""
    inferred = infer(state, identity, at)
    if inferred is not None:
        return inferred
    named = describe(identity)
    evidence = f"not linked: no session held a live token of {named} when it ran"
    return Inferred(None, named, LINK_WEB_IDENTITY_UNHELD, evidence)


def waiting_evidence(identity: Identity) -> str:
    """The link evidence of an exchange while it waits."""
    return (
        f"waiting: which session held a live token of {describe(identity)} is decided once "
        "the re-stitch window has passed this exchange"
    )


def remember_exchange(
    state: StitchState, event: Event, session_id: str, out: StitchOutput, version: int
) -> Exchange | None:
    """An exchange to decide once the re-stitch window passes it (``settle_exchanges``)."""
    identity = exchanged(event)
    if identity is None:
        return None
    exchange = Exchange(session_id, event.event_time, event.event_id)
    state.exchanges.setdefault(identity, []).append(exchange)
    out.web_identities.append(
        exchange_row(identity, event.event_id, session_id, event.event_time, True, version)
    )
    return exchange


def settle_exchanges(
    state: StitchState, cutoff: datetime | None
) -> list[tuple[Identity, Exchange, Inferred]]:
    """The exchanges older than ``cutoff`` (the re-stitch window has passed them), no longer
    waiting, in time order, each with what the tokens known now say (``decide``). With no
    ``cutoff`` (the stream is idle): those some session's token accounts for, whatever
    their age; the others wait on."""
    due: list[tuple[Identity, Exchange, Inferred]] = []
    for identity in list(state.exchanges):
        kept: list[Exchange] = []
        for exchange in state.exchanges[identity]:
            if cutoff is not None and exchange.at >= cutoff:
                kept.append(exchange)
                continue
            inferred = decide(state, identity, exchange.at)
            if cutoff is None and inferred.rule == LINK_WEB_IDENTITY_UNHELD:
                kept.append(exchange)  # no session holds its token (yet): the window decides
                continue
            due.append((identity, exchange, inferred))
        if kept:
            state.exchanges[identity] = kept
        else:
            del state.exchanges[identity]
    due.sort(key=lambda item: (item[1].at, item[1].event_id))
    return due


def hold_token(
    state: StitchState, event: Event, session_id: str, out: StitchOutput, version: int
) -> None:
    """Keep the token ``event`` presents as live in ``session_id``."""
    attributes = event.attributes
    issuer, subject = attributes.get(ATTR_TOKEN_ISSUER), attributes.get(ATTR_TOKEN_SUBJECT)
    if not (issuer and subject):  # most events present no token: nothing to look for
        return
    audiences = attributes.get(ATTR_TOKEN_AUDIENCE, "").split()
    name = _token_name(event)
    if not (audiences and name):
        return
    identities = [(issuer, subject, audience) for audience in audiences]
    # Every request of a session presents its token again: known, it costs no parsing.
    if all(name in state.live_tokens.get(identity, {}) for identity in identities):
        return
    token = _token(event, session_id, name)
    if token is None or state.is_late(token.expires_at):  # expired before the window
        return
    for identity in identities:
        tokens = state.live_tokens.setdefault(identity, {})
        if name in tokens:
            continue
        tokens[name] = token
        out.web_identities.append(
            held_token_row(identity, name, session_id, token.issued_at, token.expires_at, version)
        )


def restore_web_identities(
    state: StitchState,
    rows: Iterable[Mapping[str, Any]],
    actions: Iterable[Mapping[str, Any]] = (),
) -> None:
    """The tokens sessions held and the exchanges still waiting, from ``web_identities``
    rows (read with FINAL): what ``hold_token`` and ``remember_exchange`` kept before a
    restart. Exchanges go back in time order, as they were seen (ties by event id), each
    with its action row when ``actions`` (the open ones) holds it."""
    waiting: list[tuple[tuple[str, str, str], Exchange]] = []
    for row in rows:
        identity = (str(row["issuer"]), str(row["subject"]), str(row["audience"]))
        name, session_id = str(row["name"]), str(row["session_id"])
        issued_at = parse_time(row["issued_at"], "issued_at")
        if row["role"] == TOKEN_ROLE:
            expires_at = parse_time(row["expires_at"], "expires_at")
            tokens = state.live_tokens.setdefault(identity, {})
            tokens[name] = LiveToken(session_id, issued_at, expires_at, name)
        elif row["waiting"]:
            waiting.append((identity, Exchange(session_id, issued_at, name)))
    waiting.sort(key=lambda item: (item[1].at, item[1].event_id))
    if waiting:
        wanted = {exchange.event_id for _, exchange in waiting}
        by_id = {
            str(a["action_id"]): {k: v for k, v in a.items() if k != "signature"}  # no column
            for a in actions
            if a["action_id"] in wanted
        }
        for _, exchange in waiting:
            exchange.row = by_id.get(exchange.event_id)
    for identity, exchange in waiting:
        state.exchanges.setdefault(identity, []).append(exchange)


def _token_name(event: Event) -> str:
    """The token's jti, else its keyed fingerprint: what says two events present one token."""
    jti: str | None = None  # the first of each, in one pass over the keys
    fingerprint: str | None = None
    for key, value in event.keys:
        if key == ev.KEY_JTI and jti is None:
            if value:
                return value
            jti = value
        elif key == ev.KEY_TOKEN_FP and fingerprint is None:
            fingerprint = value
    return fingerprint or ""


def _token(event: Event, session_id: str, name: str) -> LiveToken | None:
    attributes = event.attributes
    expires_text = attributes.get(ATTR_TOKEN_EXPIRES_AT)
    if not expires_text:
        return None
    try:
        expires = datetime.fromisoformat(expires_text)
        issued_text = attributes.get(ATTR_TOKEN_ISSUED_AT)
        issued = datetime.fromisoformat(issued_text) if issued_text else event.event_time
    except ValueError:
        return None
    # A token without an iat is known to be live from the first event that presents it.
    return LiveToken(session_id, min(issued, event.event_time), expires, name)
