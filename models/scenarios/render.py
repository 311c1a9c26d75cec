"""A scenario as the ledger would receive it: MCP capture records (the envelope
``ingest.mcp`` parses), the bearer token they carry, an optional declaration, and for each
call the source id its ingested event will carry, so labels join to ledger actions.

The bearer JWT is built as the sample data builds its agents' tokens: an RS256-shaped header,
the claims, and a random third segment (the ledger reads claims, it never verifies them).
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from models.scenarios.types import Scenario, Tool

MCP_PROTOCOL: Final = "2025-11-25"
ISSUER: Final = "https://idp.scenarios.example/oauth2/default"
ORG_DOMAIN: Final = "scenarios.example"
_AI_INVOCATION: Final = "io.modelcontextprotocol/aiInvocation"


def _b64url_json(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_JWT_HEADER: Final = _b64url_json({"alg": "RS256", "kid": "k1", "typ": "JWT"})


@dataclass(frozen=True, slots=True)
class CallRef:
    """Where one call step of the scenario landed: ``source_id`` is what ``ingest.mcp``
    gives its ``tool_call`` event (``<server>#<JSON-RPC id>``); within the session (its
    ``jti``) it names the call uniquely."""

    step_index: int
    server: str
    rpc_id: int
    source_id: str
    tool: str
    drift: bool
    threat: str


@dataclass(frozen=True, slots=True)
class RenderedSession:
    session_id: str
    jti: str
    trace_id: str
    declaration: dict[str, Any] | None  # what ``kernel.declaration.SessionDeclaration`` accepts
    records: list[dict[str, Any]]  # MCP capture envelopes, in time order
    calls: list[CallRef]  # one per call step, in order


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _urlsafe(rng: random.Random, nbytes: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(nbytes)).decode()


class _Wire:
    """The records of one session, server by server."""

    def __init__(self, rng: random.Random, start: datetime, bearer: str, trace: str) -> None:
        self.rng, self.start, self.bearer, self.trace = rng, start, bearer, trace
        self.records: list[dict[str, Any]] = []
        self.sessions: dict[str, str] = {}  # server -> Mcp-Session-Id
        self.next_id: dict[str, int] = {}

    def _at(self, ms: int) -> str:
        return _iso(self.start + timedelta(milliseconds=ms))

    def traceparent(self) -> str:
        return f"00-{self.trace}-{self.rng.getrandbits(64):016x}-01"

    def request(self, ms: int, server: str, message: dict[str, Any], parent: str = "") -> None:
        headers = {"Authorization": self.bearer, "traceparent": parent or self.traceparent()}
        if server in self.sessions:
            headers["Mcp-Session-Id"] = self.sessions[server]
        self.records.append({"ts": self._at(ms), "direction": "client_to_server",
                             "server": server, "headers": headers, "message": message})  # fmt: skip

    def reply(self, ms: int, server: str, message: dict[str, Any]) -> None:
        self.records.append({"ts": self._at(ms), "direction": "server_to_client",
                             "server": server, "headers": {"Mcp-Session-Id": self.sessions[server]},
                             "message": message})  # fmt: skip

    def rpc_id(self, server: str) -> int:
        self.next_id[server] = self.next_id.get(server, 0) + 1
        return self.next_id[server]

    def connect(self, ms: int, server: str, agent: str) -> int:
        """initialize, initialized; returns the time after."""
        self.sessions[server] = f"{self.rng.getrandbits(128):032x}"
        rid = self.rpc_id(server)
        self.request(ms, server, {"jsonrpc": "2.0", "id": rid, "method": "initialize", "params": {
            "protocolVersion": MCP_PROTOCOL, "capabilities": {},
            "clientInfo": {"name": agent, "version": "1.0.0"}}})  # fmt: skip
        self.reply(ms + 20, server, {"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": MCP_PROTOCOL,
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": server, "version": "1.0.0"}}})  # fmt: skip
        self.request(ms + 30, server, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        return ms + 40

    def list_tools(self, ms: int, server: str, tools: list[Tool]) -> None:
        rid = self.rpc_id(server)
        listed = [t.mcp() for t in tools]
        self.request(ms, server, {"jsonrpc": "2.0", "id": rid, "method": "tools/list"})
        self.reply(ms + 15, server, {"jsonrpc": "2.0", "id": rid, "result": {"tools": listed}})


def render(
    scenario: Scenario,
    start: datetime,
    *,
    server_prefix: str = "",
    declare: bool | None = None,
    model: str = "assistant-model-1",
) -> RenderedSession:
    """The session's capture records from ``start`` (timezone-aware). ``server_prefix`` goes
    before every server name (keeps runs apart in one ledger). ``declare``: emit a
    declaration (``None``: when the scenario has declared structure); when not declared, the
    intent travels as the client's ``aiInvocation.userIntent`` in each call's ``_meta``."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    # Not for secrets: a rendering must be reproducible from the scenario and its start.
    rng = random.Random(f"render:{scenario.scenario_id}:{start.isoformat()}:{server_prefix}")  # noqa: S311
    if declare is None:
        declare = bool(
            scenario.declared_tools or scenario.declared_resources or scenario.declared_actions
        )
    jti = "AT." + _urlsafe(rng, 24)
    trace = f"{rng.getrandbits(128):032x}"
    user = f"user-{rng.getrandbits(32):08x}"
    client_id = f"0oa{rng.getrandbits(64):016x}"
    spiffe = f"spiffe://{ORG_DOMAIN}/agents/{scenario.agent}"
    iat = int(start.timestamp()) - 5
    claims: dict[str, Any] = {
        "ver": 1, "jti": jti, "iss": ISSUER, "aud": "api://mcp", "iat": iat, "exp": iat + 3600,
        "cid": client_id, "client_id": client_id, "uid": user, "sub": f"{user}@{ORG_DOMAIN}",
        "scp": list(scenario.scopes), "scope": " ".join(scenario.scopes),
        "auth_time": iat - 30, "act": {"sub": spiffe},
    }  # fmt: skip
    upstream = f"s-up-{rng.getrandbits(64):016x}"
    if scenario.delegated:
        claims["act"] = {"sub": spiffe, "act": {"sub": f"spiffe://{ORG_DOMAIN}/agents/planner"}}
    bearer = f"Bearer {_JWT_HEADER}.{_b64url_json(claims)}.{_urlsafe(rng, 255)}Ag"
    wire = _Wire(rng, start, bearer, trace)

    by_server: dict[str, list[Tool]] = {}
    for tool in scenario.tools:
        by_server.setdefault(server_prefix + tool.server, []).append(tool)
    ms = 0
    for server, tools in by_server.items():
        ms = wire.connect(ms, server, scenario.agent)
        wire.list_tools(ms, server, tools)
        ms += 30

    calls: list[CallRef] = []
    last: tuple[str, int] | None = None
    for index, step in enumerate(scenario.steps):
        if step.kind == "tools":
            server = server_prefix + step.server
            if server in wire.sessions:
                wire.reply(
                    step.at_ms,
                    server,
                    {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"},
                )
            else:
                wire.connect(step.at_ms, server, scenario.agent)
            wire.list_tools(step.at_ms + 45, server, list(step.tools))
        elif step.kind == "call":
            server = server_prefix + step.server
            rid = wire.rpc_id(server)
            parent = wire.traceparent()
            meta: dict[str, Any] = {"traceparent": parent}
            if not declare:
                meta[_AI_INVOCATION] = {"userIntent": {"text": scenario.intent_text},
                                        "model": {"name": model}}  # fmt: skip
            params = {"name": step.tool, "arguments": dict(step.arguments), "_meta": meta}
            wire.request(
                step.at_ms,
                server,
                {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params},
                parent,
            )
            calls.append(CallRef(index, server, rid, f"{server}#{rid}", step.tool, step.drift,
                                 step.threat))  # fmt: skip
            last = (server, rid)
        elif step.kind == "result" and last is not None:
            server, rid = last
            wire.reply(
                step.at_ms,
                server,
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "result": {
                        "content": [{"type": "text", "text": step.text}],
                        "isError": step.is_error,
                    },
                },
            )
    wire.records.sort(key=lambda record: record["ts"])

    session_id = f"s-{scenario.scenario_id}-{jti[3:15]}"
    declaration = None
    if declare:
        origin: dict[str, Any] = {"type": "human", "principal": claims["sub"],
                                  "prompt": scenario.intent_text}  # fmt: skip
        if scenario.delegated:
            origin = {"type": "agent", "upstream_session_id": upstream,
                      "prompt": scenario.intent_text}  # fmt: skip
        declaration = {
            "session_id": session_id,
            "agent": {"id": scenario.agent, "version": "1.0.0", "spiffe_id": spiffe},
            "origin": origin,
            "intent": {
                "text": scenario.intent_text[:4096],
                "tools": list(scenario.declared_tools),
                "resources": list(scenario.declared_resources),
                "actions": list(scenario.declared_actions),
            },
            "scopes": list(scenario.scopes),
            "bindings": {"token_jti": jti, "trace_id": trace, "client_id": client_id},
            "declared_at": _iso(start - timedelta(milliseconds=500)),
        }
    return RenderedSession(session_id, jti, trace, declaration, wire.records, calls)
