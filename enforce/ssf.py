"""Contractions as CAEP Security Event Tokens (RFC 8417), signed ES256 with the deployment's
own key, and what a receiver needs to find and check them: the JWKS and the Shared Signals
discovery document.

One SET per contraction and receiver. Its subject is a ``complex`` subject (Shared Signals
Framework 1.0, section 3.3) in ``sub_id`` (RFC 9493; never ``sub``):

- ``session``: the ledger session, ``{"format": "opaque", "id": <session id>}``: the
  contraction's own subject, by which a receiver asks the ledger why;
- ``application``: the agent that drifted, ``opaque`` too;
- ``token``: the ``jti`` of the session's bearer token, ``opaque``, where the contraction's
  keys hold one. An identity provider or token broker knows its tokens by ``jti``, not the
  ledger's session ids, so this is the member it acts on (revoke that token, or reissue it
  with the narrowed scope). The framework lets a complex subject carry members beyond the
  ones it names; the keyed fingerprint (``token_fp``) is never sent, being meaningless
  outside this deployment.

``txn`` is the contraction id, so every receiver's SET about one cause shares it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from kernel.contraction import NARROW, Contraction
from kernel.errors import ConfigError
from kernel.keyfiles import SSF_SIGNING_KEY_FILE, read_or_make, secrets_dir

CAEP_EVENT: Final = "https://schemas.openid.net/secevent/caep/event-type/"
TOKEN_CLAIMS_CHANGE: Final = CAEP_EVENT + "token-claims-change"
SESSION_REVOKED: Final = CAEP_EVENT + "session-revoked"
EVENTS_SUPPORTED: Final = (TOKEN_CLAIMS_CHANGE, SESSION_REVOKED)
PUSH_DELIVERY: Final = "urn:ietf:rfc:8935"
POLL_DELIVERY: Final = "urn:ietf:rfc:8936"
SET_TYPE: Final = "secevent+jwt"
SET_MEDIA_TYPE: Final = "application/secevent+jwt"
SIGNING_ALG: Final = "ES256"
JWKS_PATH: Final = "/.well-known/jwks.json"
DISCOVERY_PATH: Final = "/.well-known/ssf-configuration"
POLL_PATH: Final = "/ssf/poll"
SPEC_VERSION: Final = "1_0"


def set_jti(contraction_id: str, stream: str) -> str:
    """The SET's ``jti``: one per contraction and stream, the same however often it is built,
    so a SET re-sent after a restart is one a receiver already knows by its ``jti``."""
    return hashlib.sha256(f"{contraction_id}\x00{stream}".encode()).hexdigest()[:32]


def subject_of(c: Contraction) -> dict[str, Any]:
    subject: dict[str, Any] = {
        "format": "complex",
        "session": {"format": "opaque", "id": c.session_id},
    }
    if c.agent:
        subject["application"] = {"format": "opaque", "id": c.agent}
    jti = next((value for kind, value in c.keys if kind == "jti" and value), None)
    if jti is not None:
        subject["token"] = {"format": "opaque", "id": jti}
    return subject


def reason_text(c: Contraction) -> str:
    """Why, for an administrator: the decision, the rule, the cause and the model's reasons."""
    rule = f" by policy rule {c.policy_rule!r}" if c.policy_rule else " by policy"
    cause = f"{c.cause_tool} (action {c.cause_action_id})" if c.cause_tool else c.cause_action_id
    parts = [
        f"Agent Ledger decided {c.decision}{rule}: drift {c.score:.2f} on {cause}, "
        f"model {c.model_version}"
    ]
    if c.removed_tools:
        parts.append(f"tools removed: {', '.join(c.removed_tools)}")
    if c.reasons:
        parts.append("reasons: " + "; ".join(c.reasons))
    return ". ".join(parts)


def event_of(c: Contraction) -> tuple[str, dict[str, Any]]:
    """The CAEP event type and body: ``narrow`` changes the token's claims (its scope goes
    down to what remains); ``halt`` and ``revoke`` end the session at the receiver."""
    body: dict[str, Any] = {
        "event_timestamp": int(c.decided_at.timestamp()),
        "initiating_entity": "policy",
        "reason_admin": {"en": reason_text(c)},
    }
    if c.decision != NARROW:
        return SESSION_REVOKED, body
    claims: dict[str, Any] = {
        "scope": " ".join(c.remaining_scopes),
        "removed_tools": list(c.removed_tools),
    }
    if c.removed_scopes:
        claims["removed_scopes"] = list(c.removed_scopes)
    body["claims"] = claims
    return TOKEN_CLAIMS_CHANGE, body


def set_claims(
    c: Contraction, *, issuer: str, audience: str, jti: str, issued_at: int
) -> dict[str, Any]:
    event_type, event = event_of(c)
    return {
        "iss": issuer,
        "iat": issued_at,
        "jti": jti,
        "aud": audience,
        "txn": c.contraction_id,
        "sub_id": subject_of(c),
        "events": {event_type: event},
    }


def _new_private_jwk() -> str:
    key = ECKey.generate_key("P-256", private=True)
    return json.dumps(key.as_dict(private=True))


def signing_key(data_dir: Path) -> ECKey:
    """The deployment's P-256 signing key: made once, kept in ``DATA_DIR/secrets`` (0600)."""
    path = secrets_dir(data_dir) / SSF_SIGNING_KEY_FILE
    text = read_or_make(path, _new_private_jwk)
    try:
        key = ECKey.import_key(json.loads(text))
    except (ValueError, TypeError, JoseError) as exc:
        raise ConfigError(
            f"{path} is not a P-256 private JWK ({type(exc).__name__}); move it away and a new "
            "key is made at the next start (receivers then fetch the new JWKS)"
        ) from exc
    if not isinstance(key, ECKey) or not key.is_private or key.curve_name != "P-256":
        raise ConfigError(f"{path} must hold a private P-256 EC key")
    return key


class SetSigner:
    """Signs SETs with one key; ``kid`` is its JWK thumbprint (RFC 7638)."""

    def __init__(self, key: ECKey) -> None:
        self.key = key
        self.kid = key.thumbprint()

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": SET_TYPE, "alg": SIGNING_ALG, "kid": self.kid}
        return jwt.encode(header, claims, self.key, algorithms=[SIGNING_ALG])

    def jwks(self) -> dict[str, Any]:
        """The public key set receivers verify with: public members only."""
        public = self.key.as_dict(private=False)
        public.update(kid=self.kid, use="sig", alg=SIGNING_ALG)
        return {"keys": [public]}

    def build(self, c: Contraction, *, issuer: str, stream: str, audience: str, now: int) -> str:
        claims = set_claims(
            c,
            issuer=issuer,
            audience=audience,
            jti=set_jti(c.contraction_id, stream),
            issued_at=now,
        )
        return self.sign(claims)


def verify_set(token: str, jwks: dict[str, Any]) -> jwt.Token:
    """Decode and check a SET's signature against a published JWKS (tests and tools)."""
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[SIGNING_ALG])  # type: ignore[arg-type]


def discovery_document(issuer: str, poll_streams: Iterable[str]) -> dict[str, Any]:
    """Transmitter configuration metadata (SSF 1.0, section 7.1), at ``DISCOVERY_PATH``.

    Streams are set by the deployment's settings, not created by receivers, so there is no
    configuration endpoint; a poll receiver's endpoint is ``POLL_PATH/NAME``.
    """
    return {
        "spec_version": SPEC_VERSION,
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        "delivery_methods_supported": [PUSH_DELIVERY, POLL_DELIVERY],
        "events_supported": list(EVENTS_SUPPORTED),
        "critical_subject_members": ["session"],
        "default_subjects": "ALL",
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6750"}],
        "poll_endpoints": {name: f"{issuer}{POLL_PATH}/{name}" for name in poll_streams},
    }
