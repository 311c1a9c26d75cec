"""Who is calling: API keys kept hashed, JWTs checked against a JWKS, roles on the HTTP API."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from agentledger.api import build_api
from agentledger.auth import ApiKeys, Authenticator, AuthError, JwtVerifier, local_cli_key
from ingest.pipeline import IngestReport
from kernel.declaration import SessionDeclaration
from kernel.errors import ConfigError
from kernel.keyfiles import read_or_create, read_private, secrets_dir

ISSUER = "https://idp.acme.example"
AUDIENCE = "agentledger"


@pytest.fixture
def signing_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "idp-1"}, private=True)


@pytest.fixture
def jwks_file(tmp_path: Path, signing_key: ECKey) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [signing_key.as_dict(private=False)]}))
    return path


def _token(key: Any, alg: str = "ES256", **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "orchestrator-7", "exp": time.time() + 300}
    body.update(claims)
    header = {"alg": alg, "kid": "idp-1"}
    return jwt.encode(header, {k: v for k, v in body.items() if v is not None}, key)


def test_an_api_key_is_kept_only_as_its_hash(tmp_path: Path) -> None:
    keys = ApiKeys(tmp_path)
    key, record = keys.create("orchestrator", ["declare"])
    stored = keys.path.read_text()
    assert key.startswith("alk_") and key not in stored and key.split("_", 2)[2] not in stored
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.path.parent.stat().st_mode) == 0o700
    caller = keys.verify(key)
    assert caller is not None and caller.name == "key:orchestrator"
    assert caller.may("declare") and not caller.may("analyst")
    assert keys.listing() == [
        {k: v for k, v in record.items() if k != "sha256"}
    ]  # the hash is not listed
    assert keys.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert keys.verify("alk_" + record["id"]) is None  # malformed: no secret part
    assert keys.revoke(record["id"]) and keys.verify(key) is None
    assert not keys.revoke(record["id"])


def test_a_key_made_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    serving = ApiKeys(tmp_path)
    assert serving.verify("alk_000000000000_x") is None
    key, _ = ApiKeys(tmp_path).create("late", ["admin"])
    caller = serving.verify(key)
    assert caller is not None and caller.may("declare") and caller.may("analyst")


def test_unknown_roles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="roles must be some of"):
        ApiKeys(tmp_path).create("x", ["root"])


def test_the_local_key_is_made_once_and_reused(tmp_path: Path) -> None:
    keys = ApiKeys(tmp_path)
    first = local_cli_key(tmp_path, keys)
    assert local_cli_key(tmp_path, keys) == first
    assert [r["name"] for r in keys.listing()] == ["local-cli"]
    caller = keys.verify(first)
    assert caller is not None and caller.may("admin")


def test_secret_files_are_owner_only_and_others_are_refused(tmp_path: Path) -> None:
    path = secrets_dir(tmp_path) / "x"
    value = read_or_create(path)
    assert read_or_create(path) == value and len(value) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_private(path)


def test_a_jwt_from_the_configured_provider_names_its_caller(
    jwks_file: Path, signing_key: ECKey
) -> None:
    verifier = JwtVerifier(str(jwks_file), issuer=ISSUER, audience=AUDIENCE)
    caller = verifier.verify(_token(signing_key, roles=["declare", "superuser"]))
    assert caller.name == f"jwt:orchestrator-7@{ISSUER}"
    assert caller.roles == frozenset({"declare"})  # unknown roles are dropped
    spaced = verifier.verify(_token(signing_key, roles="analyst declare"))
    assert spaced.roles == frozenset({"analyst", "declare"})


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": time.time() - 60}, "exp"),
        ({"exp": None}, "exp"),
        ({"iss": "https://evil.example"}, "iss"),
        ({"aud": "someone-else"}, "aud"),
    ],
)
def test_a_jwt_with_wrong_claims_is_refused(
    jwks_file: Path, signing_key: ECKey, claims: dict[str, Any], why: str
) -> None:
    verifier = JwtVerifier(str(jwks_file), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(AuthError, match=why):
        verifier.verify(_token(signing_key, roles=["declare"], **claims))


def test_a_jwt_signed_by_another_key_or_by_hmac_is_refused(jwks_file: Path) -> None:
    verifier = JwtVerifier(str(jwks_file), issuer=ISSUER, audience=AUDIENCE)
    stranger = ECKey.generate_key("P-256", parameters={"kid": "idp-1"}, private=True)
    with pytest.raises(AuthError):
        verifier.verify(_token(stranger, roles=["admin"]))
    # HS256 with a guessable secret: only asymmetric algorithms are accepted.
    shared = OctKey.import_key("public-knowledge-secret-of-32-bytes!")
    with pytest.raises(AuthError):
        verifier.verify(_token(shared, alg="HS256", roles=["admin"]))
    with pytest.raises(AuthError):
        verifier.verify("not.a.jwt")


def test_an_unreadable_jwks_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AGENTLEDGER_AUTH_JWKS"):
        JwtVerifier(str(tmp_path / "missing.json"))


def _client(tmp_path: Path, jwks: Path | None = None) -> tuple[TestClient, list[Any], ApiKeys]:
    """The API over a list: declarations and trace exports land in ``published``."""
    published: list[Any] = []

    async def publish(declaration: SessionDeclaration) -> None:
        published.append(declaration)

    async def receive_traces(document: dict[str, Any], origin: str) -> IngestReport:
        published.append((origin, document))
        return IngestReport(accepted=len(document["resourceSpans"]))

    keys = ApiKeys(tmp_path)
    verifier = JwtVerifier(str(jwks), issuer=ISSUER, audience=AUDIENCE) if jwks else None
    app = build_api(
        publish,
        lambda: {"running": True},
        Authenticator(keys, verifier),
        receive_traces=receive_traces,
        otlp_max_body=1 << 20,
    )
    return TestClient(app), published, keys


DECLARATION = {
    "agent": {"id": "support-agent"},
    "origin": {"type": "human", "principal": "alice@acme.example"},
    "intent": {"text": "Update the shipping address of customer globex"},
    "bindings": {"txn": "txn-42"},
}


def test_the_api_asks_who_is_calling(tmp_path: Path, jwks_file: Path, signing_key: ECKey) -> None:
    client, published, keys = _client(tmp_path, jwks_file)
    refused = client.post("/v1/sessions", json=DECLARATION)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "credential is required" in refused.json()["error"]
    assert client.post("/v1/sessions", json={"bad": 1}).status_code == 401
    basic = client.post("/v1/sessions", json=DECLARATION, headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    assert client.get("/v1/status").status_code == 401

    analyst, _ = keys.create("grafana", ["analyst"])
    as_analyst = {"Authorization": f"Bearer {analyst}"}
    wrong_role = client.post("/v1/sessions", json=DECLARATION, headers=as_analyst)
    assert wrong_role.status_code == 403 and "'declare'" in wrong_role.json()["error"]
    assert client.get("/v1/status", headers=as_analyst).json() == {"running": True}

    token = _token(signing_key, roles=["declare"])
    declared = client.post(
        "/v1/sessions",
        json={**DECLARATION, "declared_by": "forged"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert declared.status_code == 201
    assert declared.json()["declared_by"] == f"jwt:orchestrator-7@{ISSUER}"
    assert [d.declared_by for d in published] == [f"jwt:orchestrator-7@{ISSUER}"]
    bad = client.post(
        "/v1/sessions",
        json={**DECLARATION, "origin": {"type": "human"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "origin.principal"
    assert len(published) == 1
    assert client.get("/openapi.json").status_code == 200


def test_without_a_jwks_a_jwt_is_refused_saying_why(tmp_path: Path, signing_key: ECKey) -> None:
    client, published, _ = _client(tmp_path)
    token = _token(signing_key, roles=["admin"])
    answer = client.post(
        "/v1/sessions", json=DECLARATION, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401 and "no JWKS is configured" in answer.json()["error"]
    assert published == []


def test_trace_exports_need_the_ingest_role_as_exporters_send_it(
    tmp_path: Path, signing_key: ECKey, jwks_file: Path
) -> None:
    client, published, keys = _client(tmp_path, jwks_file)
    otlp_json = {"Content-Type": "application/json"}
    refused = client.post("/v1/traces", content=b"{}", headers=otlp_json)
    # The refusal is a google.rpc.Status, as OTLP/HTTP asks (UNAUTHENTICATED).
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["code"] == 16 and "credential is required" in refused.json()["message"]

    declarer, _ = keys.create("orchestrator", ["declare"])
    wrong_role = client.post(
        "/v1/traces", content=b"{}", headers={**otlp_json, "Authorization": f"Bearer {declarer}"}
    )
    assert wrong_role.status_code == 403 and "'ingest'" in wrong_role.json()["message"]

    collector, _ = keys.create("collector", ["ingest"])
    # OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<key> reaches us lowercased.
    taken = client.post(
        "/v1/traces", content=b"{}", headers={**otlp_json, "authorization": f"Bearer {collector}"}
    )
    assert (taken.status_code, taken.json()) == (200, {})
    assert published == [("/v1/traces key:collector", {"resourceSpans": []})]
    # An ingest key declares nothing and reads nothing.
    as_collector = {"Authorization": f"Bearer {collector}"}
    assert client.post("/v1/sessions", json=DECLARATION, headers=as_collector).status_code == 403
    assert client.get("/v1/status", headers=as_collector).status_code == 403

    token = _token(signing_key, roles=["ingest"])
    by_jwt = client.post(
        "/v1/traces", content=b"{}", headers={**otlp_json, "Authorization": f"Bearer {token}"}
    )
    assert by_jwt.status_code == 200
    assert published[-1] == (f"/v1/traces jwt:orchestrator-7@{ISSUER}", {"resourceSpans": []})
    admin, _ = keys.create("ops", ["admin"])
    assert (
        client.post(
            "/v1/traces", content=b"{}", headers={**otlp_json, "X-API-Key": admin}
        ).status_code
        == 200
    )
