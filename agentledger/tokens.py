"""Bearer tokens are never stored: only their SHA-256 fingerprint, ``jti`` and claims."""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import lru_cache
from typing import Any

import orjson

# Claims worth keeping for attribution (RFC 7519, RFC 8693, transaction tokens).
KEPT_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "cid",
    "uid",
    "scp",
    "scope",
    "act",
    "may_act",
    "txn",
    "tctx",
    "rctx",
    "req_wl",
    "azp",
    "sid",
)


def fingerprint(token: str) -> str:
    """``sha256:<hex>`` of the token exactly as presented."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return orjson.loads(base64.urlsafe_b64decode(padded))


def decode_jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT (signature not verified: this is evidence, not authorization).

    Returns ``None`` for anything that is not a three-part JWS with a JSON payload.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = _b64url_json(parts[1])
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    return {k: claims[k] for k in KEPT_CLAIMS if k in claims}


def scopes_of(claims: dict[str, Any]) -> list[str]:
    """Scopes from ``scope`` (space-separated, RFC 8693) or Okta's ``scp`` list."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    scp = claims.get("scp")
    if isinstance(scp, list):
        return [str(s) for s in scp]
    return []


def describe_secret(token: str) -> dict[str, Any]:
    """What replaces a secret in a stored record: fingerprint, and claims where it is a JWT.

    A fresh dict each call (callers add to it); the hashing and decoding behind it are
    cached, since an agent presents the same token on every request of a session.
    """
    fp, claims = _described(token)
    described: dict[str, Any] = {"redacted": True, "sha256": fp}
    if claims is not None:
        described["claims"] = claims
    return described


@lru_cache(maxsize=16_384)
def _described(token: str) -> tuple[str, dict[str, Any] | None]:
    # The cache holds token text in memory only, as the request itself did; nothing of it
    # is written anywhere but its fingerprint and claims.
    return fingerprint(token), decode_jwt_claims(token)
