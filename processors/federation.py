"""Token exchanges: which session held the web identity token a federation took in.

An agent's token exchanged for cloud credentials (AWS ``AssumeRoleWithWebIdentity``) is
logged by the cloud with the token's identity, its issuer, subject and audience, but not
its ``jti``, and the caller chooses the session name. So the exchange shares no key with
the session that held the token. It joins the one session holding a live token of the same
issuer, subject and audience (issued at or before the exchange, not yet expired) under
``LINK_WEB_IDENTITY``, whose evidence names the token and its lifetime: an inference from
identity and time, weaker than any shared key, used only when no key links the exchange.
When two sessions hold such a token, the exchange joins neither and starts its own session
under ``LINK_WEB_IDENTITY_AMBIGUOUS``, whose evidence names them.

Tokens are known from the events that present them (``ingest.fields.put_token_identity``).
An exchange seen before any event of its token joins the token's session as soon as that
token is known, if it is then the only one.

Both are written to the ledger as they become known (``web_identities``: each token a
session presented, each exchange while it waits), so that a stitcher restarted mid-stream
matches exchanges against what the one before it knew (``restore_web_identities``).
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


def remember_exchange(
    state: StitchState, event: Event, session_id: str, out: StitchOutput, version: int
) -> None:
    """An exchange no session's token accounted for yet: kept for tokens seen later."""
    identity = exchanged(event)
    # One older than the re-stitch window already is not kept, as a sweep would not.
    if identity is not None and not state.is_late(event.event_time):
        state.exchanges.setdefault(identity, []).append(
            Exchange(session_id, event.event_time, event.event_id)
        )
        out.web_identities.append(
            exchange_row(identity, event.event_id, session_id, event.event_time, True, version)
        )


def hold_token(
    state: StitchState, event: Event, session_id: str, out: StitchOutput, version: int
) -> list[tuple[Exchange, Inferred]]:
    """Keep the token ``event`` presents as live in ``session_id``; the exchanges waiting
    for a token that are now accounted for by exactly one session (to join it)."""
    attributes = event.attributes
    issuer, subject = attributes.get(ATTR_TOKEN_ISSUER), attributes.get(ATTR_TOKEN_SUBJECT)
    if not (issuer and subject):  # most events present no token: nothing to look for
        return []
    audiences = attributes.get(ATTR_TOKEN_AUDIENCE, "").split()
    name = _token_name(event)
    if not (audiences and name):
        return []
    identities = [(issuer, subject, audience) for audience in audiences]
    # Every request of a session presents its token again: known, it costs no parsing.
    if all(name in state.live_tokens.get(identity, {}) for identity in identities):
        return []
    token = _token(event, session_id, name)
    if token is None or state.is_late(token.expires_at):  # expired before the window
        return []
    found: list[tuple[Exchange, Inferred]] = []
    for identity in identities:
        tokens = state.live_tokens.setdefault(identity, {})
        if name in tokens:
            continue
        tokens[name] = token
        out.web_identities.append(
            held_token_row(identity, name, session_id, token.issued_at, token.expires_at, version)
        )
        waiting = state.exchanges.get(identity)
        if not waiting:
            continue
        for exchange in list(waiting):
            if not token.issued_at <= exchange.at <= token.expires_at:
                continue
            inferred = infer(state, identity, exchange.at)
            if inferred is not None and inferred.root is not None:
                waiting.remove(exchange)
                found.append((exchange, inferred))
                # version + 1: replaces its waiting row, even one written in this batch.
                out.web_identities.append(
                    exchange_row(
                        identity, exchange.event_id, exchange.session_id, exchange.at, False,
                        version + 1,
                    )
                )  # fmt: skip
    return found


def restore_web_identities(state: StitchState, rows: Iterable[Mapping[str, Any]]) -> None:
    """The tokens sessions held and the exchanges still waiting, from ``web_identities``
    rows (read with FINAL): what ``hold_token`` and ``remember_exchange`` kept before a
    restart. Exchanges go back in time order, as they were seen (ties by event id)."""
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
