"""No credential of any shape leaves framing: planted secrets, every source, every position
(the same shapes and positions the integration secret scan plants)."""

from __future__ import annotations

import random
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.framing import Framed, Unframed, frame_lines, mask_text
from ingest.github import token_fingerprint
from ingest.redact import redact
from ingest.registry import SOURCES, get_source
from kernel import tokens
from kernel.errors import ConfigError
from kernel.events import canonical_json
from kernel.tokens import (
    describe_secret,
    fingerprint,
    fingerprint_digest,
    secret_name,
    use_fingerprint_key,
    word_list,
)
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.jwt import b64
from tests.planted import (
    POSITIONS,
    SHAPES,
    VALID_FP,
    base_records,
    core_of,
    found_tells,
    jwt_secret,
    link_keys,
    plant,
)


@pytest.fixture(scope="module")
def bases(real_data: Path) -> dict[str, list[Any]]:
    use_fingerprint_key(TEST_FINGERPRINT_KEY)  # module fixtures run before the autouse one
    return base_records(real_data)


cores = st.binary(min_size=25, max_size=25).map(core_of)
plantings = st.tuples(st.sampled_from(sorted(SHAPES)), st.sampled_from(POSITIONS), cores)
# The key fixture only sets a constant: sharing it between examples is safe.
_FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=250, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    source_name=st.sampled_from(sorted(SOURCES)),
    index=st.integers(0, 11),
    plants=st.lists(plantings, min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
)
def test_planted_secrets_never_leave_framing(
    bases: dict[str, list[Any]], source_name: str, index: int, plants: list[Any], seed: int
) -> None:
    rng = random.Random(seed)
    source = get_source(source_name)
    base = bases[source_name][index % len(bases[source_name])]
    record = orjson.loads(orjson.dumps(base))
    planted = [SHAPES[shape](core) for shape, _, core in plants]
    for p, (_, position, _) in zip(planted, plants, strict=True):
        plant(record, p, position, rng)
    text = orjson.dumps(record).decode()
    # The record does carry every secret (a Basic credential shows only encoded): finding
    # none of them after framing then means something.
    assert all(any(tell in text for tell in p.tells) for p in planted)
    # One record, or one per span of an OTLP export request.
    items = list(frame_lines(source, [text], "planted.jsonl"))
    assert items and all(isinstance(item, Framed) for item in items)
    after: set[tuple[str, str]] = set()
    for item in items:
        assert isinstance(item, Framed)
        assert found_tells(item.raw, planted) == []
        # Idempotent: the ledger rebuilds from raw records already redacted.
        [again] = frame_lines(source, [item.raw], "again.jsonl")
        assert isinstance(again, Framed) and again.raw == item.raw
        keys = link_keys(source, item.record)
        assert keys is not None
        after |= keys
    # What links the record survives: every correlation key of the record as it was.
    before = link_keys(source, base)
    assert before is not None and before <= after
    # The same record broken: its dead-letter text is masked by the same rules (a marked
    # object hides a secret without name or shape: only the record's structure tells).
    if all(
        p.shaped or pos not in ("premarked", "json_string")
        for p, (_, pos, _) in zip(planted, plants, strict=True)
    ):
        [dead] = frame_lines(source, [text[:-1] + "\n"], "broken")
        assert isinstance(dead, Unframed)
        assert found_tells(dead.text, planted) == []


# -- each hole the security review found, as an example ---------------------------------------

JWT = jwt_secret("SIGNATUREpart0123456789").secret


def test_an_envoy_text_line_loses_its_query_token_and_keeps_its_route() -> None:
    line = (
        '[2026-01-02T03:04:05.678Z] "GET /v1/orders?access_token=s3cr3tQueryToken42&page=2 '
        'HTTP/1.1" 200 - 0 89 5 4 "-" "curl/8.0 Bearer abcDEF1234567890" "req-1" "api" "10.0.0.1"'
    )
    source = get_source("envoy")
    [item] = frame_lines(source, [line + "\n"], "access.log")
    assert isinstance(item, Framed)
    assert "s3cr3tQueryToken42" not in item.raw and "abcDEF1234567890" not in item.raw
    [event] = source.parse(item.record, position=item.position, raw=item.raw)
    assert event.operation == "GET /v1/orders" and event.source_id == "req-1"


def test_a_bearer_token_inside_a_longer_string_is_replaced_in_place() -> None:
    record = redact({"note": f"retry with Bearer {JWT} after 401", "text": "Bearer token gone"})
    assert record["note"] == f"retry with Bearer {fingerprint(JWT)} after 401"
    assert record["text"] == "Bearer token gone"  # words, not a token


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG"),
        ("app secret is Abc8Q~xY.9zZqW3-bNm_4rTuVwKlPoIuYtReWqAs ok", "xY.9zZqW3-bNm_4rTuVwK"),
        ("sts IQoJb3JpZ2luX2VjEOH//////////wEaCXVzLWVhc3QtMSJIMEYCIQDzpomGZAmkp4R", "ZAmkp4R"),
        ("vault hvs.CAESIJlWh3Zc0Abc1234567890xyzQW, grafana", "CAESIJlWh3Zc0Abc123"),
    ],
)
def test_cloud_keys_in_free_text(text: str, secret: str) -> None:
    assert secret not in canonical_json(redact({"message": text}))
    assert "AKIAIOSFODNN7EXAMPLE" in redact({"m": "AKIAIOSFODNN7EXAMPLE only"})["m"]  # links


@pytest.mark.parametrize(
    "headers",
    [
        [["Authorization", f"Bearer {JWT}"], ["Accept", "*/*"]],
        [[["Authorization", f"Bearer {JWT}"]]],
        [{"name": "Authorization", "value": f"Bearer {JWT}"}],
        [{"Key": "authorization", "Value": f"Bearer {JWT}"}],
        [{"header": "Authorization", "values": [f"Bearer {JWT}"]}],
    ],
)
def test_header_pairs_and_name_value_objects_are_redacted(headers: Any) -> None:
    text = canonical_json(redact({"headers": headers}))
    assert "SIGNATUREpart0123456789" not in text and fingerprint(JWT) in text
    assert '"jti":"jti-SIGNAT"' in text  # the claims stay: they are what links the token


@pytest.mark.parametrize(
    "name",
    word_list(
        "token secret client_assertion x-auth-token api-key passwd private_key clientsecret "
        "CLIENT_SECRET accessToken SESSIONTOKEN secretaccesskey X-Amz-Security-Token AccountKey "
        "http.request.header.authorization Ocp-Apim-Subscription-Key set-cookie pin otp password2 "
        "webhookSecret tokenValue connectionString SAMLResponse auth_code"
    ),
)
def test_secret_names_in_any_spelling(name: str) -> None:
    assert secret_name(name)
    assert redact({name: "v4lue-0f-7he-s3cret"}) == {
        name: {"redacted": True, "fingerprint": fingerprint("v4lue-0f-7he-s3cret")}
    }


@pytest.mark.parametrize(
    "name",
    word_list(
        "max_tokens input_tokens output_tokens token_type tokenType hashed_token tokenIssuerType "
        "uniqueTokenIdentifier incomingTokenType subjectFromWebIdentityToken clientToken nextToken "
        "clientRequestToken progressToken accessKeyId keyId kmsKeyId key code statusCode "
        "credentialType passwordResetRequired authenticationContext mfaAuthenticated spin oauth "
        "bypass dkim_pass publicKey sessionId session_id jti X-Amz-Credential"
    ),
)
def test_names_that_only_mention_a_credential_are_not_secret(name: str) -> None:
    assert not secret_name(name)
    assert redact({name: "value-1234"}) == {name: "value-1234"}


def test_linking_values_survive() -> None:
    record = {
        "accessKeyId": "ASIAQNZGKIQY7EXAMPLE",
        "note": "called with AKIAIOSFODNN7EXAMPLE",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "Mcp-Session-Id": "1868a90c-8f5e-4a3b-9c1d-2e3f4a5b6c7d",
        "jti": "AT.Zx7Hq1cJbYw",
        "hashed_token": b64(sha256(b"gho_x").digest()),
        "image": "registry/app@sha256:" + "ab" * 32,
    }
    assert redact(orjson.loads(orjson.dumps(record))) == record


def test_cloudtrail_credentials_are_recursed_into() -> None:
    credentials = {"accessKeyId": "ASIAEXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG+bPx"}
    credentials |= {"sessionToken": "IQoJb3JpZ2luX2Vj", "expiration": "Mar 14, 2025"}
    redacted = redact({"responseElements": {"credentials": credentials}})
    kept = redacted["responseElements"]["credentials"]
    assert kept["accessKeyId"] == "ASIAEXAMPLE" and kept["expiration"] == "Mar 14, 2025"
    assert kept["secretAccessKey"]["fingerprint"] == fingerprint("wJalrXUtnFEMI/K7MDENG+bPx")
    assert kept["sessionToken"]["fingerprint"] == fingerprint("IQoJb3JpZ2luX2Vj")


def test_a_marked_object_is_kept_only_in_the_exact_replacement_shape() -> None:
    good = {"redacted": True, "fingerprint": VALID_FP, "scheme": "Bearer"}
    legacy = {"redacted": True, "sha256": "sha256:" + "ab" * 32}
    claims = {"redacted": True, "fingerprint": VALID_FP, "claims": {"jti": "j1", "pin": "4321"}}
    hidden = [
        {"redacted": True, "sha256": "hunter2-hidden"},
        {"redacted": True, "fingerprint": VALID_FP, "extra": "hunter2-hidden"},
        {"redacted": True, "fingerprint": "hmac-sha256:hunter2-hidden"},
        {"redacted": True, "fingerprint": VALID_FP, "scheme": "hunter2-hidden"},
    ]
    assert redact({"a": dict(good), "b": dict(legacy)}) == {"a": good, "b": legacy}
    assert redact(claims)["claims"] == {"jti": "j1", "pin": describe_secret("4321")}
    for marked in hidden:  # as it came, and as JSON inside a string (a tool's arguments)
        for record in ({"x": dict(marked)}, {"x": canonical_json({"y": marked})}):
            assert "hunter2-hidden" not in canonical_json(redact(record))


def test_placeholders_and_fingerprints_are_never_fingerprinted_again() -> None:
    record = {
        "sessionToken": "<encoded session token blob>",
        "password": fingerprint("x"),
        "msg": f"password={fingerprint('x')} Bearer {fingerprint('y')} https://u:{fingerprint('z')}@h",
    }
    assert redact(orjson.loads(orjson.dumps(record))) == record


def test_redacting_twice_changes_nothing() -> None:
    record = {
        "headers": {"Authorization": f"Bearer {JWT}", "Cookie": "sid=abc123"},
        "args": '{"password": "hunter2", "nested": {"redacted": true, "sha256": "x1"}}',
        "url": "https://u:pw12345@h/x?access_token=abc&sig=def",
        "pem": "-----BEGIN PRIVATE KEY-----\nMIIEabc\n-----END PRIVATE KEY-----",
        "count": {"api_key": 123456},
    }
    once = redact(orjson.loads(orjson.dumps(record)))
    assert redact(orjson.loads(orjson.dumps(once))) == once


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('{"note": "Bearer abcDEF1234567890"', "abcDEF1234567890"),
        ('{"password": "hunter2", "user": "bob"', "hunter2"),
        ('{"headers": [["X-Api-Key", "k-9a8b7c6d"]], "x": ', "k-9a8b7c6d"),
        ('{"headers": [{"name": "X-Api-Key", "value": "k-9a8b7c6d"}]', "k-9a8b7c6d"),
        ('{"args": "{\\"client_secret\\": \\"cs-5e4d3c\\"}"', "cs-5e4d3c"),
        ('{"url": "https://a.b/c?access_token=tok-77x&p=1"', "tok-77x"),
        ('{"dsn": "postgres://app:pg-pass-9@db/x"', "pg-pass-9"),
        ('{"key": "-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEIB9x\\n-----END EC', "MHcCAQEEIB9x"),
        ('{"k": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"', "abcdefghijklmnopqrstuvwxyz0123"),
        ('{"pin": 4321, "otp": "998877"', "998877"),
        ('{"note": "Bearer \\u0061bcDEF1234567890"', "bcDEF1234567890"),
        ("AccountName=a;AccountKey=azK3y+/9==;EndpointSuffix=x", "azK3y+/9=="),
    ],
)
def test_dead_letter_text_is_masked(line: str, secret: str) -> None:
    [item] = frame_lines(get_source("mcp"), [line + "\n"], "broken.jsonl")
    assert isinstance(item, Unframed)
    assert secret not in item.text and secret not in mask_text(line)


def test_fingerprints_need_a_key_and_never_outlive_it(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "gho_16C7e42F292c6912E7710c838347Ae178B4a"
    with_test_key = describe_secret(token)["fingerprint"]
    use_fingerprint_key(b"another deployment's key")
    try:
        assert describe_secret(token)["fingerprint"] != with_test_key  # no stale cache
        assert redact({"token": token})["token"]["fingerprint"] == fingerprint(token)
    finally:
        use_fingerprint_key(TEST_FINGERPRINT_KEY)
    assert describe_secret(token)["fingerprint"] == with_test_key
    monkeypatch.setattr(tokens._Key, "value", None)  # a process that never set one
    with pytest.raises(ConfigError, match="use_fingerprint_key"):
        fingerprint_digest(b"\0" * 32)


def test_what_redaction_keeps_between_records_never_holds_a_token_s_text() -> None:
    from ingest import redact as redaction

    token = jwt_secret("Zq8xWv3Ty6Rk1Lp0Mn4Bc7Hd2Gf9Js5Ka").secret
    record = {"headers": {"Authorization": f"Bearer {token}"}, "params": {"api_key": token}}
    first, again = redact(dict(record)), redact(orjson.loads(orjson.dumps(record)))
    assert first == again and first["headers"]["Authorization"]["fingerprint"] == fingerprint(token)
    kept = [*redaction._SECRET_TEXTS.items(), *redaction._REPLACEMENTS.items()]
    assert kept and token not in repr(kept) and token[-24:] not in repr(kept)
    assert sha256(token.encode()).digest() in {key[0] for key in redaction._REPLACEMENTS}


def test_github_hashed_token_links_to_the_same_token_seen_in_clear() -> None:
    token = "gho_16C7e42F292c6912E7710c838347Ae178B4a"
    hashed = b64(sha256(token.encode()).digest())
    assert token_fingerprint(hashed) == fingerprint(token)
    assert redact({"headers": {"Authorization": f"token {token}"}})["headers"]["Authorization"] == {
        "redacted": True,
        "fingerprint": fingerprint(token),
        "scheme": "token",
    }
