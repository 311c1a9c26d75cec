"""GitHub audit log: one event from the REST API (``GET /orgs/{org}/audit-log``, an array the
framing splits) or from audit log streaming (one JSON object per line).

Actions that issue or grant a token (OAuth access tokens, fine-grained personal access
tokens) are token grants; SAML SSO responses are identity events; every other action is a
call against GitHub. The token an event was made with is keyed by its fingerprint
(``hashed_token``) and its id (``token_id``), so that the calls made with one token join
the session of its grant, here and at a gateway that saw the same bearer token.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from ingest.base import Source, parse_time, require_object
from ingest.fields import add_key, obj, put, require_text, text
from kernel.errors import RecordError
from kernel.events import (
    API_CALL,
    FAILURE,
    IDENTITY,
    KEY_IDP_TXN,
    KEY_JTI,
    KEY_TOKEN_FP,
    SUCCESS,
    TOKEN_GRANT,
    Event,
)
from kernel.tokens import fingerprint_digest

# From GitHub's audit log event reference (docs: src/audit-logs/data/*/user.json).
_GRANTS = frozenset(
    {
        "oauth_access.create",  # "An OAuth access token was generated."
        "oauth_access.regenerate",
        "oauth_authorization.create",  # a user authorized an OAuth app
        "personal_access_token.create",  # fine-grained PAT created
        "personal_access_token.credential_regenerated",
        "personal_access_token.access_granted",  # fine-grained PAT granted org access
    }
)
_IDENTITY_SUFFIX = ".sso_response"  # business.sso_response: a SAML SSO response
# Action names that themselves say the action was refused or failed.
_FAILURE_SUFFIXES = ("_failure", "_denied", "failed_login")
# Event time, best first. "@timestamp" and "created_at" are GitHub's (epoch ms);
# "at_sign_timestamp" is "@timestamp" as renamed by Panther's exports, value unchanged.
_TIME_FIELDS = ("@timestamp", "at_sign_timestamp", "created_at")


def _ident(value: Any) -> str | None:
    """An id GitHub writes as a number or a string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def _event_time(log: Mapping[str, Any]) -> datetime:
    for field in _TIME_FIELDS:
        value = log.get(field)
        if value is not None and value != "":
            return parse_time(value, field)
    raise RecordError("required field is missing", field="@timestamp")


def token_fingerprint(hashed_token: str) -> str:
    """The ``token_fp`` key for GitHub's ``hashed_token``, base64(SHA-256(token)).

    Keyed fingerprints are defined over that same digest, so the fingerprint made from it
    is the one ``kernel.tokens.fingerprint`` gives the token seen in clear at a gateway,
    and the calls join. A value that is not a base64 SHA-256 digest is kept as written
    under ``sha256b64:``.
    """
    try:
        digest = base64.b64decode(hashed_token, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) == 32:
        return fingerprint_digest(digest)
    return "sha256b64:" + hashed_token


def _scopes(value: Any) -> list[str]:
    """``token_scopes``: comma-separated in the audit log; a list in some exports."""
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, list):
        return []
    return [p.strip() for p in parts if isinstance(p, str) and p.strip()]


def _kind(action: str) -> str:
    if action in _GRANTS:
        return TOKEN_GRANT
    if action.endswith(_IDENTITY_SUFFIX):
        return IDENTITY
    return API_CALL


class GitHubAuditSource(Source):
    name: ClassVar[str] = "github"

    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        log = require_object(record)
        action = require_text(log, "action")
        event_time = _event_time(log)

        actor = text(log.get("actor")) or _ident(log.get("actor_id"))
        is_agent = log.get("actor_is_agent") is True
        if is_agent:
            principal_type: str | None = "Agent"
        elif log.get("actor_is_bot") is True or (actor or "").endswith("[bot]"):
            principal_type = "Bot"
        else:
            principal_type = "User" if actor else None
        # "user" is the account an action affected; for an agent's action it is the person
        # who started the agent (GitHub's agentic audit log events).
        user = text(log.get("user"))

        keys: list[tuple[str, str]] = []
        hashed = text(log.get("hashed_token"))
        add_key(keys, KEY_TOKEN_FP, token_fingerprint(hashed) if hashed else None)
        token_id = _ident(log.get("token_id"))
        add_key(keys, KEY_JTI, f"github-token:{token_id}" if token_id else None)
        add_key(keys, KEY_IDP_TXN, text(log.get("request_id")))

        attributes: dict[str, str] = {}
        put(attributes, "actor_id", _ident(log.get("actor_id")))
        put(attributes, "ip", text(log.get("actor_ip")))
        put(attributes, "user_agent", text(log.get("user_agent")))
        put(attributes, "country", text(obj(log.get("actor_location")).get("country_code")))
        put(attributes, "org", text(log.get("org")))
        put(attributes, "business", text(log.get("business")))
        put(attributes, "user", user)
        put(attributes, "operation_type", text(log.get("operation_type")))
        put(attributes, "access_type", text(log.get("programmatic_access_type")))
        put(attributes, "token_id", token_id)
        put(attributes, "hashed_token", hashed)
        external = text(log.get("external_identity_nameid"))
        put(
            attributes, "external_identity", external or text(log.get("external_identity_username"))
        )

        event = Event(
            event_id=self.event_id(raw),
            source=self.name,
            kind=_kind(action),
            event_time=event_time,
            operation=action,
            position=position,
            raw=raw,
            principal=actor,
            principal_type=principal_type,
            client_id=_ident(log.get("oauth_application_id")) or text(log.get("integration")),
            service="github",
            resource=(
                text(log.get("repo"))
                or text(log.get("repository"))
                or user
                or text(log.get("org"))
                or text(log.get("business"))
            ),
            # GitHub logs an action once it happened; only some names say it did not.
            outcome=FAILURE if action.endswith(_FAILURE_SUFFIXES) else SUCCESS,
            scopes=_scopes(log.get("token_scopes")),
            keys=keys,
            attributes=attributes,
            source_id=text(log.get("_document_id")) or "",
        )
        if is_agent:
            # No key type exists for an agent session: it names the instance that acted.
            event.agent_name = actor
            event.agent_instance = text(log.get("agent_session_id"))
        return [event]
