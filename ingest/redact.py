"""Replace bearer tokens and session credentials before a record leaves the ingest process."""

from __future__ import annotations

import re
from typing import Any

from agentledger.events import canonical_json
from agentledger.tokens import describe_secret, fingerprint

# Keys whose values are secrets, compared lower-cased.
SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "sessiontoken",
        "session_token",
        "access_token",
        "id_token",
        "refresh_token",
        "subject_token",
        "actor_token",
        "client_secret",
        "secretaccesskey",
        "password",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api_key",
        "apikey",
        "x-amz-security-token",
    }
)
# Cheap pre-check on the lower-cased raw text, so that most records skip the tree walk.
_NEEDLES = (
    "authorization",
    "token",
    "secret",
    "password",
    "cookie",
    "api-key",
    "api_key",
    "apikey",
    "key=",  # query-string credentials (?key=, ?sig=, ?code=)
    "sig=",
    "signature=",
    "code=",
)
# Documentation placeholders such as "<encoded session token blob>" are not secrets.
_PLACEHOLDER = re.compile(r"^<[^<>]*>$")
_SCHEME = re.compile(r"^(Bearer|DPoP|Basic|SSWS|Token)\s+(\S+)$", re.IGNORECASE)


# Credentials in URL query strings (?access_token=…), as gateways log request paths.
_QUERY_SECRET = re.compile(
    r"([?&](?:access_token|id_token|refresh_token|token|api_key|apikey|key|sig|signature|"
    r"client_secret|password|code)=)([^&#\s\"]+)",
    re.IGNORECASE,
)


def _fingerprint_match(match: re.Match[str]) -> str:
    return match.group(1) + fingerprint(match.group(2))


def might_hold_secrets(text: str) -> bool:
    lowered = text.lower()
    return any(needle in lowered for needle in _NEEDLES)


def _replace(value: Any) -> Any:
    if isinstance(value, dict) and value.get("redacted") is True:
        return value  # already redacted upstream: replaying must not re-hash the hash
    if isinstance(value, list):
        return [_replace(v) for v in value]
    if value is None or value == "" or isinstance(value, bool):
        return value
    if not isinstance(value, str):  # a structured or numeric secret: fingerprint its JSON
        return describe_secret(canonical_json(value))
    if _PLACEHOLDER.match(value):
        return value
    match = _SCHEME.match(value)
    if match:
        described = describe_secret(match.group(2))
        described["scheme"] = match.group(1)
        return described
    return describe_secret(value)


def redact(value: Any) -> Any:
    """``value`` with every secret replaced by its fingerprint (and JWT claims).

    Works in place on freshly decoded JSON (the caller owns it) and returns it.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if key.lower() in SECRET_KEYS:
                value[key] = _replace(item)  # same key: safe while iterating
            elif isinstance(item, dict | list):
                redact(item)
            elif isinstance(item, str) and "=" in item and _QUERY_SECRET.search(item):
                value[key] = _QUERY_SECRET.sub(_fingerprint_match, item)
        # OTLP attributes name the field in "key" and carry it in "value" ({"stringValue"}):
        # "http.request.header.authorization" is as secret as an "authorization" key.
        name = value.get("key")
        if isinstance(name, str) and name.rsplit(".", 1)[-1].lower() in SECRET_KEYS:
            inner = value.get("value")
            if isinstance(inner, dict) and "stringValue" in inner:
                inner["stringValue"] = _replace(inner["stringValue"])
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                redact(item)
    return value
