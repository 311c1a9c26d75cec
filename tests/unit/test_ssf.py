"""SETs as the transmitter builds them: header, claims, CAEP events, subject, signature."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey

from enforce.ssf import (
    POLL_DELIVERY,
    PUSH_DELIVERY,
    SESSION_REVOKED,
    TOKEN_CLAIMS_CHANGE,
    SetSigner,
    discovery_document,
    set_jti,
    signing_key,
    verify_set,
)
from kernel.contraction import Contraction
from kernel.errors import ConfigError

ISSUER = "https://ledger.example"
DECIDED = datetime(2026, 5, 4, 12, 30, 15, tzinfo=UTC)


def contraction(decision: str = "narrow", **changes: Any) -> Contraction:
    values: dict[str, Any] = {
        "session_id": "sess-42",
        "agent": "billing-agent/1.3",
        "cause_action_id": "act-7",
        "cause_tool": "send_payment",
        "decision": decision,
        "score": 0.91,
        "model_version": "drift-2026.05",
        "event_time": DECIDED,
        "decided_at": DECIDED,
        "removed_tools": ("send_payment",),
        "removed_scopes": ("payments:write",),
        "remaining_tools": ("read_invoice",),
        "remaining_scopes": ("invoices:read", "profile"),
        "reasons": ("recipient never named in the intent", "value taken from a tool result"),
        "policy_rule": "payments-strict",
        "keys": (("token_fp", "fp-abc"), ("jti", "tok-123"), ("trace", "tr-1")),
    }
    values.update(changes)
    return Contraction(**values)


@pytest.fixture
def signer(tmp_path: Path) -> SetSigner:
    return SetSigner(signing_key(tmp_path))


def built(signer: SetSigner, c: Contraction, audience: str = "https://idp.example") -> Any:
    token = signer.build(c, issuer=ISSUER, stream="idp", audience=audience, now=1_780_000_000)
    return verify_set(token, signer.jwks())


def test_header_names_the_set_type_algorithm_and_key(signer: SetSigner) -> None:
    decoded = built(signer, contraction())
    assert decoded.header == {"typ": "secevent+jwt", "alg": "ES256", "kid": signer.kid}
    assert signer.kid == signer.key.thumbprint()


def test_claims_of_a_narrow_carry_the_narrowed_scope(signer: SetSigner) -> None:
    c = contraction()
    claims = built(signer, c).claims
    assert set(claims) == {"iss", "iat", "jti", "aud", "txn", "sub_id", "events"}
    assert "sub" not in claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "https://idp.example"
    assert claims["iat"] == 1_780_000_000
    assert claims["txn"] == c.contraction_id
    assert claims["jti"] == set_jti(c.contraction_id, "idp")
    assert list(claims["events"]) == [TOKEN_CLAIMS_CHANGE]
    event = claims["events"][TOKEN_CLAIMS_CHANGE]
    assert event["claims"] == {
        "scope": "invoices:read profile",
        "removed_tools": ["send_payment"],
        "removed_scopes": ["payments:write"],
    }
    assert event["event_timestamp"] == int(DECIDED.timestamp())
    assert event["initiating_entity"] == "policy"
    reason = event["reason_admin"]["en"]
    for part in ("narrow", "payments-strict", "0.91", "send_payment", "recipient never named"):
        assert part in reason


@pytest.mark.parametrize("decision", ["halt", "revoke"])
def test_halt_and_revoke_revoke_the_session(signer: SetSigner, decision: str) -> None:
    c = contraction(decision, remaining_tools=(), remaining_scopes=())
    events = built(signer, c).claims["events"]
    assert list(events) == [SESSION_REVOKED]
    assert "claims" not in events[SESSION_REVOKED]
    assert events[SESSION_REVOKED]["initiating_entity"] == "policy"
    assert decision in events[SESSION_REVOKED]["reason_admin"]["en"]


def test_subject_is_a_complex_sub_id_with_session_agent_and_token(signer: SetSigner) -> None:
    sub_id = built(signer, contraction()).claims["sub_id"]
    assert sub_id == {
        "format": "complex",
        "session": {"format": "opaque", "id": "sess-42"},
        "application": {"format": "opaque", "id": "billing-agent/1.3"},
        "token": {"format": "opaque", "id": "tok-123"},
    }


def test_subject_without_a_token_jti_never_sends_the_fingerprint(signer: SetSigner) -> None:
    c = contraction(keys=(("token_fp", "fp-abc"), ("mcp_session", "m-1")))
    sub_id = built(signer, c).claims["sub_id"]
    assert "token" not in sub_id
    assert "fp-abc" not in str(sub_id)


def test_an_empty_remaining_scope_is_said_as_such(signer: SetSigner) -> None:
    c = contraction(remaining_scopes=(), removed_scopes=())
    event = built(signer, c).claims["events"][TOKEN_CLAIMS_CHANGE]
    assert event["claims"] == {"scope": "", "removed_tools": ["send_payment"]}


def test_jti_is_unique_per_stream_and_contraction_and_stable() -> None:
    a, b = contraction(), contraction(cause_action_id="act-8")
    jtis = {set_jti(c.contraction_id, s) for c in (a, b) for s in ("idp", "broker")}
    assert len(jtis) == 4
    assert set_jti(a.contraction_id, "idp") == set_jti(contraction().contraction_id, "idp")


def test_a_set_signed_by_another_key_fails_against_the_published_jwks(
    signer: SetSigner,
) -> None:
    other = SetSigner(ECKey.generate_key("P-256", private=True))
    forged = other.build(contraction(), issuer=ISSUER, stream="idp", audience="a", now=1)
    genuine = signer.build(contraction(), issuer=ISSUER, stream="idp", audience="a", now=1)
    # The genuine header (our kid), another key's payload and signature.
    spliced = ".".join([genuine.split(".")[0], *forged.split(".")[1:]])
    with pytest.raises(BadSignatureError):
        verify_set(spliced, signer.jwks())


def test_jwks_publishes_the_public_key_only(signer: SetSigner) -> None:
    (key,) = signer.jwks()["keys"]
    assert key["kid"] == signer.kid and key["alg"] == "ES256" and key["use"] == "sig"
    assert key["kty"] == "EC" and key["crv"] == "P-256"
    assert "d" not in key


def test_signing_key_is_made_once_and_kept_owner_only(tmp_path: Path) -> None:
    first, again = signing_key(tmp_path), signing_key(tmp_path)
    assert first.thumbprint() == again.thumbprint()
    path = tmp_path / "secrets" / "ssf_signing_key.jwk"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_signing_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    signing_key(tmp_path)
    path = tmp_path / "secrets" / "ssf_signing_key.jwk"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        signing_key(tmp_path)


def test_a_signing_key_file_that_is_not_an_ec_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "ssf_signing_key.jwk"
    path.parent.mkdir(mode=0o700)
    path.write_text('{"kty": "oct", "k": "c2VjcmV0"}')
    path.chmod(0o600)
    with pytest.raises(ConfigError):
        signing_key(tmp_path)


def test_discovery_names_issuer_keys_methods_and_events() -> None:
    document = discovery_document(ISSUER, ["poller"])
    assert document["issuer"] == ISSUER
    assert document["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    assert document["delivery_methods_supported"] == [PUSH_DELIVERY, POLL_DELIVERY]
    assert document["events_supported"] == [TOKEN_CLAIMS_CHANGE, SESSION_REVOKED]
    assert document["spec_version"] == "1_0"
    assert document["poll_endpoints"] == {"poller": ISSUER + "/ssf/poll/poller"}
