"""Okta System Log: one ``LogEvent`` (System Log API) per record.

Sign-ins and MFA become identity events, OAuth token grants become token-grant events
carrying the issued token's id (its ``jti``), and every other event type is an admin or
API action against Okta.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ingest.base import Source, parse_time, require, require_object
from ingest.fields import add_key, obj, put, require_text, text
from kernel.events import (
    API_CALL,
    FAILURE,
    IDENTITY,
    KEY_IDP_SESSION,
    KEY_IDP_TXN,
    KEY_JTI,
    SUCCESS,
    TOKEN_GRANT,
    UNKNOWN,
    Event,
)
from kernel.vocabulary import ATTR_EXPIRES_AT, ATTR_JTI

_GRANT_PREFIXES = ("app.oauth2.as.token.grant", "app.oauth2.token.grant")
_IDENTITY_PREFIXES = ("user.session.", "user.authentication.", "user.mfa.")
_IDENTITY_TYPES = frozenset({"policy.evaluate_sign_on"})
_TOKEN_TYPES = frozenset({"access_token", "id_token", "refresh_token"})
# Okta's target/actor types for an OAuth client (an application instance).
_APP_TYPES = frozenset({"AppInstance", "PublicClientApp", "ConfidentialClientApp", "ServiceApp"})
_OUTCOMES = {
    "SUCCESS": SUCCESS,
    "ALLOW": SUCCESS,
    "FAILURE": FAILURE,
    "DENY": FAILURE,
    "ERROR": FAILURE,
}
# Okta writes "unknown" where it has no value (session, transaction, alternateId): keying
# on it would join every unrelated event that lacks one.
_PLACEHOLDER = "unknown"


def _kind(event_type: str) -> str:
    if event_type.startswith(_GRANT_PREFIXES):
        return TOKEN_GRANT
    if event_type.startswith(_IDENTITY_PREFIXES) or event_type in _IDENTITY_TYPES:
        return IDENTITY
    return API_CALL


def _known(value: Any) -> str | None:
    """A non-empty string that is not Okta's "unknown" placeholder."""
    found = text(value)
    return None if found == _PLACEHOLDER else found


class OktaSource(Source):
    name: ClassVar[str] = "okta"

    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        log = require_object(record)
        # eventType first: it is what tells an Okta LogEvent from anything else.
        event_type = require_text(log, "eventType")
        event_time = parse_time(require(log, "published"), "published")

        actor = obj(log.get("actor"))
        target = log.get("target")
        targets = [t for t in target if isinstance(t, dict)] if isinstance(target, list) else []
        outcome = obj(log.get("outcome"))
        client = obj(log.get("client"))
        kind = _kind(event_type)

        keys: list[tuple[str, str]] = []
        add_key(
            keys,
            KEY_IDP_SESSION,
            _known(obj(log.get("authenticationContext")).get("externalSessionId")),
        )
        add_key(keys, KEY_IDP_TXN, _known(obj(log.get("transaction")).get("id")))

        attributes: dict[str, str] = {}
        put(attributes, "ip", text(client.get("ipAddress")))
        put(attributes, "user_agent", text(obj(client.get("userAgent")).get("rawUserAgent")))

        event = Event(
            event_id=self.event_id(raw),
            source=self.name,
            kind=kind,
            event_time=event_time,
            operation=event_type,
            position=position,
            raw=raw,
            principal=_known(actor.get("alternateId")) or text(actor.get("id")),
            principal_type=text(actor.get("type")),
            service="okta",
            outcome=_OUTCOMES.get(str(outcome.get("result")), UNKNOWN),
            outcome_detail=text(outcome.get("reason")),
            keys=keys,
            attributes=attributes,
            source_id=text(log.get("uuid")) or "",
        )
        if kind == TOKEN_GRANT:
            _add_grant(event, actor, targets, obj(obj(log.get("debugContext")).get("debugData")))
        elif targets:
            event.resource = _known(targets[0].get("alternateId")) or text(targets[0].get("id"))
        return [event]


def _add_grant(
    event: Event,
    actor: Mapping[str, Any],
    targets: list[dict[str, Any]],
    debug: Mapping[str, Any],
) -> None:
    """The issued token, the OAuth client and the scopes of a token-grant event."""
    app: Mapping[str, Any] | None = next(
        (t for t in targets if text(t.get("type")) in _APP_TYPES), None
    )
    if app is None and text(actor.get("type")) in _APP_TYPES:  # a type may be any JSON
        app = actor  # client_credentials (and jwt-bearer): the client is the actor itself
    if app is not None:
        event.client_id = text(app.get("id"))
        # The OAuth client is not necessarily an agent (a person's web app is a client
        # too): its name is kept, and agent evidence comes from what the agent itself sends.
        put(
            event.attributes,
            "client_name",
            text(app.get("alternateId")) or text(app.get("displayName")),
        )
    token = next((t for t in targets if text(t.get("type")) in _TOKEN_TYPES), None)
    if token is not None:
        jti = text(token.get("id"))
        add_key(event.keys, KEY_JTI, jti)
        put(event.attributes, ATTR_JTI, jti)
        put(event.attributes, "token_type", text(token.get("type")))
        detail = obj(token.get("detailEntry"))
        put(event.attributes, ATTR_EXPIRES_AT, text(detail.get("expires")))
        put(event.attributes, "subject", text(detail.get("subject")))
    # An empty grantedScopes means nothing was granted: fall back only when it is absent.
    scopes = debug.get("grantedScopes")
    if not isinstance(scopes, str):
        scopes = debug.get("requestedScopes")
    if isinstance(scopes, str):
        event.scopes = scopes.split()
    put(event.attributes, "grant_type", text(debug.get("grantType")))
    # The authorization server that issued the token is what the grant acted on.
    event.resource = text(debug.get("authorizationServer"))
