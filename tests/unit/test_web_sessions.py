"""Signed-in browsers of the chain page: a cookie session per sign-in, never the key, ended
by time, idleness, revocation, a JWT's own expiry or sign-out; the sign-in form's checks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from agentledger.auth import ApiKeys, Authenticator, Caller, JwtVerifier
from agentledger.chain_page import SIGN_IN, _jwt_expiry, _utc_text, add_chain_page
from agentledger.web_sessions import COOKIE, BrowserSessions
from ledger.store import LedgerStore

ANALYST = Caller("key:ana", frozenset({"analyst"}))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _sessions(clock: Clock, issued: set[str]) -> BrowserSessions:
    return BrowserSessions(issued.__contains__, lifetime_s=100, idle_s=30, most=3, clock=clock)


def test_a_session_ends_at_its_lifetime_when_idle_and_when_its_key_is_revoked() -> None:
    clock, issued = Clock(), {"k1", "k2"}
    browsers = _sessions(clock, issued)
    kept = browsers.open(ANALYST, key_id="k1")
    idle = browsers.open(ANALYST, key_id="k1")
    revoked = browsers.open(ANALYST, key_id="k2")
    assert len(kept) >= 40 and len({kept, idle, revoked}) == 3  # 256 random bits each
    issued.discard("k2")  # `agentledger keys revoke`
    assert browsers.caller(revoked) is None
    for _ in range(3):  # used every 25 s: never idle for 30 s
        clock.now += 25
        assert browsers.caller(kept) == ANALYST
    assert browsers.caller(idle) is None
    clock.now += 26  # 101 s after sign-in, 26 s after its last use
    assert browsers.caller(kept) is None
    assert browsers.caller("never-issued") is None
    assert len(browsers) == 0


def test_a_jwt_session_ends_with_the_token_and_sign_out_ends_one_at_once() -> None:
    clock = Clock()
    browsers = _sessions(clock, set())
    short = browsers.open(ANALYST, key_id=None, not_after=clock.now + 10)
    other = browsers.open(ANALYST, key_id=None)
    clock.now += 10
    assert browsers.caller(short) is None
    assert browsers.caller(other) == ANALYST
    browsers.close(other)
    assert browsers.caller(other) is None


def test_the_least_recently_used_session_gives_way_beyond_the_most() -> None:
    clock = Clock()
    browsers = _sessions(clock, set())
    first = browsers.open(ANALYST, key_id=None)
    clock.now += 1
    second = browsers.open(ANALYST, key_id=None)
    clock.now += 1
    assert browsers.caller(first) == ANALYST  # used now: the second is the oldest in use
    browsers.open(ANALYST, key_id=None)
    browsers.open(ANALYST, key_id=None)
    assert len(browsers) == 3
    assert browsers.caller(second) is None and browsers.caller(first) == ANALYST


def test_times_must_name_their_zone_and_are_read_in_utc() -> None:
    assert _utc_text("2026-12-01T10:00:00+02:00", "since") == "2026-12-01 08:00:00.000000"
    assert _utc_text("2026-12-01T10:00:00Z", "since") == "2026-12-01 10:00:00.000000"
    assert _utc_text(None, "since") is None
    for bad in ("2026-12-01T10:00:00", "yesterday"):
        with pytest.raises(Exception, match="since"):
            _utc_text(bad, "since")


@pytest.fixture
def signing_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "idp-1"}, private=True)


def _client(tmp_path: Path, signing_key: ECKey) -> tuple[TestClient, ApiKeys, BrowserSessions]:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [signing_key.as_dict(private=False)]}))
    keys = ApiKeys(tmp_path)
    authenticator = Authenticator(keys, JwtVerifier(str(jwks)))
    browsers = BrowserSessions(keys.holds)
    app = FastAPI()
    # Signing in and out never reads the ledger: these requests leave the store untouched.
    add_chain_page(app, cast(LedgerStore, object()), authenticator, browsers)
    return TestClient(app, base_url="http://127.0.0.1:8080"), keys, browsers


def test_sign_in_sets_an_http_only_strict_cookie_that_is_not_the_key(
    tmp_path: Path, signing_key: ECKey
) -> None:
    client, keys, browsers = _client(tmp_path, signing_key)
    key, record = keys.create("ana", ["analyst"])
    reply = client.post(SIGN_IN, data={"credential": key}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/ui/sessions"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and key not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert "Max-Age=28800" in cookie
    assert reply.headers["content-security-policy"].startswith("default-src 'none'")
    assert client.get("/ui/sessions", follow_redirects=False).status_code == 200
    keys.revoke(record["id"])  # revoking the key signs its browsers out
    assert client.get("/ui/sessions", follow_redirects=False).status_code == 303
    assert len(browsers) == 0


def test_sign_in_refuses_other_origins_other_roles_and_bad_keys_without_echoing_them(
    tmp_path: Path, signing_key: ECKey
) -> None:
    client, keys, browsers = _client(tmp_path, signing_key)
    analyst, _ = keys.create("ana", ["analyst"])
    declarer, _ = keys.create("dec", ["declare"])
    elsewhere = client.post(
        SIGN_IN, data={"credential": analyst}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    assert client.post(SIGN_IN, data={"credential": declarer}).status_code == 403
    forged = analyst[:-4] + "AAAA"
    refused = client.post(SIGN_IN, data={"credential": forged})
    assert refused.status_code == 401 and forged not in refused.text
    assert "unknown or revoked API key" in refused.text
    assert client.post(SIGN_IN, data={"credential": "x" * 20_000}).status_code == 413
    assert len(browsers) == 0 and COOKIE not in client.cookies


def test_a_jwt_signs_in_until_its_own_expiry(tmp_path: Path, signing_key: ECKey) -> None:
    client, _, browsers = _client(tmp_path, signing_key)
    exp = int(time.time()) + 120
    claims = {"sub": "ana", "iss": "https://idp.example", "exp": exp, "roles": ["analyst"]}
    token = jwt.encode({"alg": "ES256", "kid": "idp-1"}, claims, signing_key)
    assert _jwt_expiry(token) == exp
    reply = client.post(SIGN_IN, data={"credential": token}, follow_redirects=False)
    assert reply.status_code == 303
    browsers.clock = lambda: exp + 1.0
    assert client.get("/ui/sessions", follow_redirects=False).status_code == 303
