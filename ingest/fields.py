"""Lenient field access for third-party records, shared by the parsers.

Real logs put ``null``, numbers or strings where the documentation promises objects;
only the required fields are strict (``ingest.base.require``), every other field falls
back to "absent" instead of raising.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from kernel.errors import RecordError
from kernel.events import Event, canonical_json
from kernel.vocabulary import (
    ATTR_ACT_CHAIN,
    ATTR_INTENT_SOURCE,
    ATTR_TOKEN_AUDIENCE,
    ATTR_TOKEN_EXPIRES_AT,
    ATTR_TOKEN_ISSUED_AT,
    ATTR_TOKEN_ISSUER,
    ATTR_TOKEN_SUBJECT,
    INTENT_TXN_TOKEN,
)

# Shared and read-only, so that ``obj(None)`` costs no allocation on the hot path.
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def obj(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty mapping."""
    return value if isinstance(value, dict) else _EMPTY


def text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def add_key(keys: list[tuple[str, str]], key_type: str, value: str | None) -> None:
    """Append a correlation key once; absent values and repeats are skipped."""
    if value and (key_type, value) not in keys:
        keys.append((key_type, value))


def put(attributes: dict[str, str], name: str, value: str | None) -> None:
    """Set a string attribute only when there is a value (the map holds strings only)."""
    if value:
        attributes[name] = value


def require_text(record: Mapping[str, Any], field: str) -> str:
    """``record[field]`` as a non-empty string, or a ``RecordError`` naming the field."""
    value = record.get(field)
    if value is None or value == "":
        raise RecordError("required field is missing", field=field)
    if not isinstance(value, str):
        raise RecordError(f"expected a string, got {type(value).__name__}", field=field)
    return value


def act_chain(claims: Mapping[str, Any]) -> list[str]:
    """The RFC 8693 ``act`` chain of a token, outermost (the party acting now) first."""
    chain: list[str] = []
    act = obj(claims.get("act"))
    while act and len(chain) < 16:  # nesting is the token issuer's; bound it all the same
        actor = text(act.get("sub")) or text(act.get("client_id"))
        if actor:
            chain.append(actor)
        act = obj(act.get("act"))
    return chain


def apply_token_claims(event: Event, claims: Mapping[str, Any]) -> None:
    """What a bearer token's claims say about delegation and purpose.

    The ``act`` chain names the agent acting now and the ones before it; a transaction
    token (``txn`` with ``req_wl``, ``tctx`` or ``purp``) states the transaction's purpose in
    ``scope``, which is the intent its issuer asserted for every call that carries it.
    """
    put_token_identity(event, claims)
    chain = act_chain(claims)
    if chain:
        event.attributes[ATTR_ACT_CHAIN] = canonical_json(chain)
        event.agent_instance = event.agent_instance or chain[0]
    if claims.get("txn") and any(k in claims for k in ("req_wl", "tctx", "purp")):
        purpose = text(claims.get("scope")) or text(claims.get("purp"))
        context = claims.get("tctx")
        words = [purpose] if purpose else []
        if isinstance(context, dict) and context:
            words.append("context " + canonical_json(context))
        if words:
            event.intent = "; ".join(words)[:4096]
            event.attributes[ATTR_INTENT_SOURCE] = INTENT_TXN_TOKEN
        put(event.attributes, "requesting_workload", text(claims.get("req_wl")))


@lru_cache(maxsize=1_024)
def issuer_name(value: str | None) -> str | None:
    """An OIDC issuer as token exchanges name it: ``https://idp.example/oauth2/x`` (a token's
    ``iss``), ``idp.example/oauth2/x`` (CloudTrail's ``provider``) and the IAM provider's
    ARN all become ``idp.example/oauth2/x`` (a deployment has a few issuers, named on every
    call: the names are kept)."""
    if not value:
        return None
    name = value.split(":oidc-provider/", 1)[1] if ":oidc-provider/" in value else value
    for scheme in ("https://", "http://"):
        if name.startswith(scheme):
            name = name[len(scheme) :]
    return name.rstrip("/") or None


def _epoch(value: Any) -> str | None:
    """A JWT NumericDate as ISO 8601 UTC; anything else is absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return _epoch_text(value)


@lru_cache(maxsize=8_192, typed=True)
def _epoch_text(value: float) -> str | None:
    # A token's iat and exp come back on every call made with it.
    try:
        return datetime.fromtimestamp(value, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def put_token_identity(event: Event, claims: Mapping[str, Any]) -> None:
    """Whose token the event presents and while when it is live: what a later exchange of
    the same token (``processors.federation``) is matched with."""
    attributes = event.attributes
    put(attributes, ATTR_TOKEN_ISSUER, issuer_name(text(claims.get("iss"))))
    put(attributes, ATTR_TOKEN_SUBJECT, text(claims.get("sub")))
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if isinstance(audiences, list):
        put(attributes, ATTR_TOKEN_AUDIENCE, " ".join(a for a in audiences if text(a)))
    put(attributes, ATTR_TOKEN_ISSUED_AT, _epoch(claims.get("iat")))
    put(attributes, ATTR_TOKEN_EXPIRES_AT, _epoch(claims.get("exp")))
