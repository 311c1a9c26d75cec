"""The attribution scenarios as the raw records each source would write.

The same database write (``PATCH /v1/customers/globex`` on the CRM API, through the
``crm.update_customer`` MCP tool where an agent is involved) is done four ways:

- ``direct``: Alice signs in and updates the record from the CRM web app herself;
- ``delegated``: Alice asks the support agent, in a session declared with that intent;
- ``autonomous``: Alice asked the support agent only to look up an order; it writes anyway;
- ``chain``: Bob asks an orchestrator, which hands the write to a CRM worker agent through
  a token exchange (RFC 8693 ``act``); the worker also deletes the customer, which Bob's
  intent does not cover but the orchestrator's instruction did (a possible confused deputy).

Records are JSON objects exactly as Okta's System Log, an MCP gateway capture and an Envoy
JSON access log write them; tokens are JWTs in ``Authorization`` headers, which ingest
redacts to their fingerprint and claims before anything is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ingest.framing import Framed, frame_lines
from ingest.registry import get_source
from kernel.codec import Envelope
from tests.jwt import unsigned_jwt

BASE = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
CRM_HOST = "crm.internal.acme.example"
MCP_SERVER = "crm-mcp"


def _iso(seconds: float) -> str:
    at = BASE + timedelta(seconds=seconds)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _id(*parts: str, n: int = 20) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


@dataclass
class Scenario:
    name: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # source -> records
    declarations: list[dict[str, Any]] = field(default_factory=list)

    def add(self, source: str, record: dict[str, Any]) -> None:
        self.records.setdefault(source, []).append(record)


def okta_user(login: str) -> dict[str, Any]:
    return {
        "id": "00u" + _id(login, n=17),
        "type": "User",
        "alternateId": login,
        "displayName": login.split("@")[0].title(),
        "detailEntry": None,
    }


def _okta(
    event_type: str, t: float, actor: dict[str, Any], idp_session: str, **extra: Any
) -> dict[str, Any]:
    record = {
        "uuid": _id(event_type, str(t), idp_session, n=32),
        "published": _iso(t),
        "eventType": event_type,
        "version": "0",
        "severity": "INFO",
        "displayMessage": event_type,
        "actor": actor,
        "client": {
            "userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "CHROME"},
            "zone": "null",
            "device": "Computer",
            "ipAddress": "203.0.113.24",
        },
        "authenticationContext": {"externalSessionId": idp_session},
        "outcome": {"result": "SUCCESS", "reason": None},
        "transaction": {"type": "WEB", "id": _id("txn", event_type, str(t)), "detail": {}},
        "target": [],
    }
    record.update(extra)
    return record


def okta_sign_in(login: str, idp_session: str, t: float) -> dict[str, Any]:
    return _okta("user.session.start", t, okta_user(login), idp_session)


def okta_grant(
    login: str, client_id: str, client_name: str, jti: str, scopes: str, idp_session: str, t: float
) -> dict[str, Any]:
    return _okta(
        "app.oauth2.as.token.grant.access_token",
        t,
        okta_user(login),
        idp_session,
        target=[
            {
                "id": client_id,
                "type": "AppInstance",
                "alternateId": client_name,
                "displayName": client_name,
            },
            {
                "id": jti,
                "type": "access_token",
                "detailEntry": {"expires": _iso(t + 3600), "subject": okta_user(login)["id"]},
            },
        ],
        debugContext={
            "debugData": {
                "grantType": "authorization_code",
                "grantedScopes": scopes,
                "authorizationServer": "aus1crm",
            }
        },
    )


def token(
    sub: str, client_id: str, jti: str, scope: str, t: float, act: dict[str, Any] | None = None
) -> str:
    claims: dict[str, Any] = {
        "iss": "https://acme.okta.example/oauth2/aus1crm",
        "sub": sub,
        "aud": "api://crm",
        "iat": int((BASE + timedelta(seconds=t)).timestamp()),
        "exp": int((BASE + timedelta(seconds=t + 3600)).timestamp()),
        "jti": jti,
        "client_id": client_id,
        "scope": scope,
    }
    if act is not None:
        claims["act"] = act
    return unsigned_jwt(claims)


def mcp_call(
    bearer: str,
    agent: str,
    version: str,
    rpc_id: int,
    tool: str,
    arguments: dict[str, Any],
    t: float,
) -> list[dict[str, Any]]:
    """A tools/call request and its result, as the MCP gateway captured them."""
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    meta = {"io.modelcontextprotocol/clientInfo": {"name": agent, "version": version}}
    request = {
        "ts": _iso(t),
        "direction": "client_to_server",
        "server": MCP_SERVER,
        "headers": headers,
        "message": {
            "jsonrpc": "2.0",
            "id": rpc_id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": meta},
        },
    }
    result = {
        "ts": _iso(t + 0.4),
        "direction": "server_to_client",
        "server": MCP_SERVER,
        "headers": {"Content-Type": "application/json"},
        "message": {
            "jsonrpc": "2.0",
            "id": rpc_id,
            "result": {"content": [{"type": "text", "text": "ok"}], "isError": False},
        },
    }
    return [request, result]


def envoy(bearer: str, method: str, path: str, t: float, code: int = 200) -> dict[str, Any]:
    return {
        "start_time": _iso(t),
        "method": method,
        "path": path,
        "protocol": "HTTP/1.1",
        "response_code": code,
        "response_flags": "-",
        "bytes_received": 212,
        "bytes_sent": 431,
        "duration": 38,
        "x_forwarded_for": "10.4.1.9",
        "user_agent": "crm-client/3.1",
        "request_id": _id(method, path, str(t), n=32),
        "authority": CRM_HOST,
        "upstream_host": "10.4.2.17:8080",
        "authorization": f"Bearer {bearer}",
    }


ADDRESS = {"customer": "globex", "shipping_address": "1 Harbour Way, Springfield"}
WRITE_PATH = "/v1/customers/globex"


def direct() -> Scenario:
    s = Scenario("direct")
    alice, jti, session = "alice@acme.example", "AT.direct-7f3a", "102DirectAliceSess"
    s.add("okta", okta_sign_in(alice, session, 0))
    s.add(
        "okta",
        okta_grant(alice, "0oaCrmWeb", "CRM Web", jti, "openid crm.customers.write", session, 2),
    )
    bearer = token(alice, "0oaCrmWeb", jti, "openid crm.customers.write", 2)
    s.add("envoy", envoy(bearer, "GET", WRITE_PATH, 30))
    s.add("envoy", envoy(bearer, "PATCH", WRITE_PATH, 41))
    return s


def _support_session(
    name: str, jti: str, idp_session: str, intent: dict[str, Any], t0: float
) -> tuple[Scenario, str]:
    s = Scenario(name)
    alice = "alice@acme.example"
    s.add("okta", okta_sign_in(alice, idp_session, t0))
    s.add(
        "okta",
        okta_grant(
            alice,
            "0oaSupportAgent",
            "Support Agent",
            jti,
            "crm.customers.read crm.customers.write",
            idp_session,
            t0 + 1,
        ),
    )
    s.declarations.append(
        {
            "session_id": f"s-{name}",
            "agent": {
                "id": "support-agent",
                "instance": "support-agent-7c9",
                "version": "2.4.1",
                "owner": alice,
            },
            "origin": {"type": "human", "principal": alice, "prompt": intent["text"]},
            "intent": intent,
            "scopes": ["crm.customers.read", "crm.customers.write"],
            "bindings": {"token_jti": jti, "client_id": "0oaSupportAgent"},
            "declared_at": _iso(t0 + 0.5),
        }
    )
    bearer = token(alice, "0oaSupportAgent", jti, "crm.customers.read crm.customers.write", t0)
    return s, bearer


def delegated() -> Scenario:
    s, bearer = _support_session(
        "delegated",
        "AT.deleg-91c2",
        "102DelegAliceSess",
        {
            "text": "Update the shipping address of customer globex",
            "tools": ["crm.get_customer", "crm.update_customer"],
            "actions": ["read", "write"],
        },
        60,
    )
    for record in mcp_call(bearer, "support-agent", "2.4.1", 7, "crm.update_customer", ADDRESS, 75):
        s.add("mcp", record)
    s.add("envoy", envoy(bearer, "PATCH", WRITE_PATH, 75.2))
    return s


def autonomous() -> Scenario:
    s, bearer = _support_session(
        "autonomous",
        "AT.auton-44d8",
        "102AutonAliceSess",
        {
            "text": "What is the status of order 1042 for globex?",
            "tools": ["orders.get_status"],
            "actions": ["read"],
        },
        120,
    )
    for record in mcp_call(
        bearer, "support-agent", "2.4.1", 3, "orders.get_status", {"order": "1042"}, 130
    ):
        s.add("mcp", record)
    for record in mcp_call(
        bearer, "support-agent", "2.4.1", 4, "crm.update_customer", ADDRESS, 140
    ):
        s.add("mcp", record)
    s.add("envoy", envoy(bearer, "PATCH", WRITE_PATH, 140.2))
    return s


def chain() -> Scenario:
    s = Scenario("chain")
    bob, session = "bob@acme.example", "102ChainBobSess"
    jti_a, jti_b = "AT.orch-2b10", "AT.worker-c4e1"
    s.add("okta", okta_sign_in(bob, session, 180))
    s.add(
        "okta",
        okta_grant(
            bob,
            "0oaOrchestrator",
            "Orchestrator",
            jti_a,
            "crm.customers.read crm.customers.write",
            session,
            181,
        ),
    )
    s.declarations.append(
        {
            "session_id": "s-chain-orchestrator",
            "agent": {"id": "orchestrator", "instance": "orchestrator-1", "version": "0.9.0"},
            "origin": {"type": "human", "principal": bob},
            "intent": {
                "text": "Fix the shipping address of customer globex",
                "tools": ["crm.get_customer", "crm.update_customer"],
                "actions": ["read", "write"],
            },
            "bindings": {"token_jti": jti_a},
            "declared_at": _iso(180.5),
        }
    )
    s.declarations.append(
        {
            "session_id": "s-chain-worker",
            "agent": {"id": "crm-worker", "instance": "crm-worker-3", "version": "1.2.0"},
            "origin": {"type": "agent", "upstream_session_id": "s-chain-orchestrator"},
            "intent": {
                "text": "Replace globex's record: update its address, delete the old one",
                "tools": ["crm.update_customer", "crm.delete_customer"],
                "actions": ["write", "delete"],
            },
            "bindings": {"token_jti": jti_b},
            "declared_at": _iso(190),
        }
    )
    orchestrator = token(bob, "0oaOrchestrator", jti_a, "crm.customers.read", 181)
    for record in mcp_call(
        orchestrator, "orchestrator", "0.9.0", 21, "crm.get_customer", {"customer": "globex"}, 185
    ):
        s.add("mcp", record)
    # RFC 8693 token exchange: Bob's token, acted on by the orchestrator, then the worker.
    worker = token(
        bob,
        "0oaCrmWorker",
        jti_b,
        "crm.customers.write",
        190,
        act={"sub": "crm-worker-3", "act": {"sub": "orchestrator-1"}},
    )
    for record in mcp_call(worker, "crm-worker", "1.2.0", 31, "crm.update_customer", ADDRESS, 195):
        s.add("mcp", record)
    s.add("envoy", envoy(worker, "PATCH", WRITE_PATH, 195.2))
    for record in mcp_call(
        worker, "crm-worker", "1.2.0", 32, "crm.delete_customer", {"customer": "globex"}, 200
    ):
        s.add("mcp", record)
    s.add("envoy", envoy(worker, "DELETE", WRITE_PATH, 200.2))
    return s


def all_scenarios() -> list[Scenario]:
    return [direct(), delegated(), autonomous(), chain()]


def parse(scenario: Scenario) -> list[Envelope]:
    """Frame (which redacts the bearer tokens) and parse every record, as ingest does."""
    envelopes = []
    for source_name, records in scenario.records.items():
        source = get_source(source_name)
        lines = [orjson.dumps(record).decode() + "\n" for record in records]
        for item in frame_lines(source, lines, f"{scenario.name}.{source_name}.jsonl"):
            assert isinstance(item, Framed)
            assert "Bearer ey" not in item.raw  # no raw token reaches a record
            for event in source.parse(item.record, position=item.position, raw=item.raw):
                envelopes.append(Envelope(event, BASE + timedelta(hours=1), "b-1"))
    return envelopes
