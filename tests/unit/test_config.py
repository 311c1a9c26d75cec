"""Settings (defaults, environment, clear errors) and the bearer-token helpers."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from kernel.config import load_settings
from kernel.errors import ConfigError, LedgerError
from kernel.tokens import KEPT_CLAIMS, decode_jwt_claims, fingerprint, scopes_of
from tests.jwt import b64url, unsigned_jwt

FIX = "; set them as options or AGENTLEDGER_* variables"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: start every test without AGENTLEDGER_* variables."""
    for name in list(os.environ):
        if name.startswith("AGENTLEDGER_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.model_dump() == {
        "data_dir": Path(".agentledger"),
        "kafka": None,
        "clickhouse_url": None,
        "database": "agentledger",
        "topic_prefix": "ledger",
        "partitions": 4,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "writer_password": None,
        "sql_user": "analyst",
        "sql_password": None,
        "fingerprint_key": None,
        "api_key": None,
        "auth_jwks": None,
        "auth_issuer": None,
        "auth_audience": None,
        "auth_roles_claim": "roles",
        "otlp_max_body_bytes": 8 << 20,
        "kafka_security_protocol": "PLAINTEXT",
        "kafka_sasl_mechanism": None,
        "kafka_sasl_username": None,
        "kafka_sasl_password": None,
        "kafka_ssl_cafile": None,
        "kafka_ssl_certfile": None,
        "kafka_ssl_keyfile": None,
        "kafka_compression": "zstd",
        "batch_max": 2_500,
        "batch_wait_ms": 200,
        "stitch_slice": 250,
        "session_window_s": 1800,
        "digest_interval_s": 60.0,
        "evidence_dir": None,
        "restitch_window_s": 900,
        "exchange_idle_s": 10.0,
        "workers": 1,
        "ledger_merge_nice": 10,
        "ingest_nice": 5,
        "drain_timeout_s": 60.0,
        "drift_scoring": True,
        "fetch_wait_ms": 20,
        "drift_model": None,
        "policy_file": None,
        "raw_topics": [],
        "ssf_issuer": None,
        "ssf_receivers": [],
        "ssf_push_timeout_s": 10.0,
        "ssf_retry_base_s": 1.0,
        "ssf_retry_cap_s": 300.0,
        "ssf_retry_attempts": 10,
        "ssf_poll_wait_s": 20.0,
    }


def test_the_environment_overrides_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLEDGER_KAFKA", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("AGENTLEDGER_PARTITIONS", "12")
    settings = load_settings()
    assert (settings.kafka, settings.partitions) == ("kafka-1:9092,kafka-2:9092", 12)


def test_an_explicit_option_wins_over_the_environment_and_none_means_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTLEDGER_KAFKA", "kafka-1:9092")
    assert load_settings(kafka="broker:19092").kafka == "broker:19092"
    assert load_settings(kafka=None).kafka == "kafka-1:9092"


def test_passwords_are_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLEDGER_WRITER_PASSWORD", "s3cret-writer")
    settings = load_settings()
    assert settings.writer_password is not None
    assert settings.writer_password.get_secret_value() == "s3cret-writer"
    assert "s3cret-writer" not in repr(settings)
    for name in ("SQL_PASSWORD", "FINGERPRINT_KEY", "API_KEY", "KAFKA_SASL_PASSWORD"):
        monkeypatch.setenv(f"AGENTLEDGER_{name}", f"s3cret-{name}")
    settings = load_settings()
    for name in ("sql_password", "fingerprint_key", "api_key", "kafka_sasl_password"):
        value = getattr(settings, name)
        assert isinstance(value, SecretStr)
        assert value.get_secret_value() == f"s3cret-{name.upper()}"
        assert value.get_secret_value() not in repr(settings)


@pytest.mark.parametrize("value", ["kafka-1", "kafka-1:", ":9092", "kafka-1:9092,kafka-2"])
def test_a_bad_kafka_address_names_the_field_and_the_fix(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(kafka=value)
    bad = value.split(",")[-1]
    assert str(caught.value) == (
        f"invalid settings (kafka: Value error, {bad!r} is not HOST:PORT "
        f"(example: kafka-1:9092)){FIX}"
    )
    assert isinstance(caught.value, LedgerError)


def test_a_bad_kafka_address_from_the_environment_fails_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTLEDGER_KAFKA", "localhost")
    with pytest.raises(ConfigError, match=r"^invalid settings \(kafka: .*'localhost' is not"):
        load_settings()


def test_a_clickhouse_url_without_a_scheme_names_the_field_and_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(clickhouse_url="clickhouse:8123")
    assert str(caught.value) == (
        "invalid settings (clickhouse_url: Value error, must start with http:// or https:// "
        f"(ClickHouse HTTP interface)){FIX}"
    )


def test_an_http_clickhouse_url_is_accepted() -> None:
    url = "https://writer:pw@ch.example.com:8443"
    assert load_settings(clickhouse_url=url).clickhouse_url == url


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(partitions=0, database="bad-name")
    message = str(caught.value)
    assert "partitions: Input should be greater than or equal to 1" in message
    assert "database: String should match pattern" in message


# -- tokens ----------------------------------------------------------------------------------


def jwt(payload: Any) -> str:
    return unsigned_jwt(
        payload, header={"alg": "RS256", "typ": "JWT"}, signature=b64url(b"signature")
    )


def test_fingerprint_is_the_keyed_hmac_of_the_tokens_sha256() -> None:
    from tests.conftest import TEST_FINGERPRINT_KEY

    digest = hashlib.sha256(b"abc").digest()
    expected = hmac.new(TEST_FINGERPRINT_KEY, digest, hashlib.sha256).hexdigest()
    assert fingerprint("abc") == "hmac-sha256:" + expected
    assert fingerprint("abc ") != fingerprint("abc")  # the token exactly as presented
    # Unkeyed, a short secret could be guessed back from it by hashing candidates.
    assert hashlib.sha256(b"abc").hexdigest() not in fingerprint("abc")


def test_decode_jwt_claims_keeps_only_the_attribution_claims() -> None:
    kept: dict[str, Any] = {name: f"v-{name}" for name in KEPT_CLAIMS}
    kept["act"] = {"sub": "agent-7", "act": {"sub": "orchestrator"}}
    token = jwt({**kept, "email": "alice@example.com", "groups": ["admins"], "nonce": "n"})
    assert decode_jwt_claims(token) == kept


def test_decode_jwt_claims_of_a_token_with_no_kept_claims_is_empty() -> None:
    assert decode_jwt_claims(jwt({"email": "alice@example.com"})) == {}


@pytest.mark.parametrize(
    "token",
    [
        "2YotnFZFEjr1zCsicMWpAA",  # opaque OAuth token
        "a.b",  # two parts
        "h.p.s.e.t",  # JWE: five parts
        f"h.{b64url(['not', 'an', 'object'])}.s",
        f"h.{b64url(b'not json')}.s",
        f"h.{b64url(bytes([0xFF, 0xFE]))}.s",
        "h.!!!.s",
    ],
)
def test_decode_jwt_claims_of_a_non_jwt_is_none(token: str) -> None:
    assert decode_jwt_claims(token) is None


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "openid mcp:tools  repo:read"}, ["openid", "mcp:tools", "repo:read"]),
        ({"scp": ["mcp:tools", "offline_access"]}, ["mcp:tools", "offline_access"]),
        ({"scope": "a b", "scp": ["c"]}, ["a", "b"]),
        ({"scope": 5, "scp": ["c", 7]}, ["c", "7"]),
        ({"scp": "mcp:tools"}, []),
        ({}, []),
    ],
)
def test_scopes_of(claims: dict[str, Any], scopes: list[str]) -> None:
    assert scopes_of(claims) == scopes


def test_shared_signals_receivers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AGENTLEDGER_SSF_RECEIVERS",
        '[{"name": "idp", "audience": "https://idp.example", "url": "https://idp.example/ssf",'
        ' "authorization": "Bearer s3cret-value"},'
        ' {"name": "broker", "audience": "b", "delivery": "poll", "pollers": ["key:broker"]}]',
    )
    push, poll = load_settings().ssf_receivers
    assert (push.name, push.delivery, push.url) == ("idp", "push", "https://idp.example/ssf")
    assert push.authorization is not None
    assert push.authorization.get_secret_value() == "Bearer s3cret-value"
    assert "s3cret" not in repr(push) and "s3cret" not in str(load_settings())
    assert (poll.delivery, poll.pollers, poll.url) == ("poll", ["key:broker"], None)


@pytest.mark.parametrize(
    ("receivers", "problem"),
    [
        ('[{"name": "idp", "audience": "a"}]', "push needs an http"),
        ('[{"name": "p", "audience": "a", "delivery": "poll", "url": "https://x"}]', "for push"),
        ('[{"name": "idp", "audience": "a", "url": "https://x", "pollers": ["k"]}]', "poll"),
        (
            '[{"name": "a", "audience": "x", "url": "https://x"},'
            ' {"name": "a", "audience": "y", "url": "https://y"}]',
            "unique",
        ),
        ('[{"name": "a b", "audience": "x", "url": "https://x"}]', "ssf_receivers"),
    ],
)
def test_a_wrong_receiver_fails_at_start(
    monkeypatch: pytest.MonkeyPatch, receivers: str, problem: str
) -> None:
    monkeypatch.setenv("AGENTLEDGER_SSF_RECEIVERS", receivers)
    with pytest.raises(ConfigError, match=problem):
        load_settings()
