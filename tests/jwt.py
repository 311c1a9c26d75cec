"""JWTs and the base64 they are made of, as tests build them by hand.

The ledger decodes a bearer JWT's claims and never verifies its signature (that is the
identity provider's job), so an unsigned JWT with any third segment is what a test needs.
Signed JWTs, where a test needs a verifier to accept one, come from ``joserfc``.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

# What an identity provider's access token header looks like.
HEADER: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": "k1"}


def b64(data: bytes) -> str:
    """Standard, padded base64 (Basic credentials, OTLP ids, GitHub's hashed tokens)."""
    return base64.b64encode(data).decode()


def b64url(value: Any) -> str:
    """Unpadded base64url of ``value``: bytes as they are, anything else as its JSON."""
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(segment: str) -> bytes:
    """The bytes of an unpadded base64url segment."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def unsigned_jwt(
    claims: Any,
    *,
    header: Any = None,
    signature: str | None = None,
) -> str:
    """``header.claims.signature``: ``header`` and ``claims`` as base64url JSON (any JSON
    value: a test may want a payload that is not an object); ``signature`` is the third
    segment exactly as given (default: base64url of ``not-a-real-signature``)."""
    head = b64url(HEADER if header is None else header)
    tail = b64url(b"not-a-real-signature") if signature is None else signature
    return f"{head}.{b64url(claims)}.{tail}"


def decode_jwt(token: str) -> tuple[Any, Any, str]:
    """A JWT's header and claims as decoded JSON, and its signature segment as it is."""
    header, claims, signature = token.split(".")
    return orjson.loads(b64url_decode(header)), orjson.loads(b64url_decode(claims)), signature


def basic_credentials(user: str, password: str) -> str:
    """The value of an ``Authorization: Basic`` header's credentials (without the scheme)."""
    return b64(f"{user}:{password}".encode())
