"""Replace bearer tokens and session credentials before a record leaves the ingest process."""

from __future__ import annotations

import re
from typing import Any

from agentledger.events import canonical_json
from agentledger.tokens import describe_secret

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
# Cheap pre-check on the raw text so that most records skip the tree walk entirely.
_MAYBE_SECRET = re.compile(
    r"authorization|sessiontoken|session_token|_token|security-token|client_secret"
    r"|secretaccesskey|password|cookie|api-key|api_key|apikey",
    re.IGNORECASE,
)
# Documentation placeholders such as "<encoded session token blob>" are not secrets.
_PLACEHOLDER = re.compile(r"^<[^<>]*>$")
_SCHEME = re.compile(r"^(Bearer|DPoP|Basic|SSWS|Token)\s+(\S+)$", re.IGNORECASE)


def might_hold_secrets(text: str) -> bool:
    return _MAYBE_SECRET.search(text) is not None


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
    """A copy of ``value`` with every secret replaced by its fingerprint (and JWT claims)."""
    if isinstance(value, dict):
        return {
            k: (_replace(v) if k.lower() in SECRET_KEYS else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
