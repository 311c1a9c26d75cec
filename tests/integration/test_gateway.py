"""The MCP gateway between a real MCP client and a real MCP server (the SDK's own, both),
on the real broker: calls pass until a contraction arrives on ``ledger.contractions``; from
then the removed tool is hidden (the client is told ``tools/list_changed``) and refused
naming the contraction, and after ``halt`` every call is refused. Every message is recorded
into the MCP source, the bearer token never in it, and reaches the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import RequestParamsMeta
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from agentledger.broker import EmbeddedBroker
from enforce.gateway_state import CONTRACTION_REFUSAL, DRIFT_REFUSAL
from enforce.gateway_upstream import UpstreamSpec
from kernel.declaration import SessionDeclaration, parse_declaration
from kernel.events import KEY_JTI, KEY_TRACE
from kernel.kafka import producer
from kernel.procs import free_port, stop, wait_for_port
from kernel.tokens import fingerprint
from kernel.topics import Topics
from ledger.chdb_store import ChdbStore
from models import load_scorer
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.integration.conftest import RunningStack, make_settings
from tests.integration.gateway_harness import (
    REPO,
    Received,
    RunningGateway,
    contraction,
    mcp_client,
    produce_contraction,
    read_topic,
    upstream_command,
    upstream_requests,
)
from tests.integration.helpers import wait_stored
from tests.integration.rule_scorer import RuleScorer
from tests.jwt import unsigned_jwt
from tests.polling import wait_for, wait_for_async

JTI = "gw-token-7f3a"
TOKEN = unsigned_jwt({"sub": "ines.okafor", "jti": JTI, "client_id": "travel-desk", "txn": "t-88"})
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
LIST_CHANGED = "notifications/tools/list_changed"


@pytest.fixture
def quiet_stack(tmp_path: Path, chdb_ledger: ChdbStore) -> Iterator[RunningStack]:
    """A stack that records but does not score: the contractions are the test's own."""
    settings = make_settings(tmp_path, drift_scoring=False)
    running = RunningStack(settings, chdb_ledger.with_database(settings.database))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """A broker of the test's own: the gateway needs no ledger to enforce."""
    running = EmbeddedBroker(tmp_path / "broker.log")
    yield running.start()
    running.stop()


def _headers(trace: str = TRACE) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}


def test_contractions_narrow_then_halt_a_live_session(
    quiet_stack: RunningStack, tmp_path: Path
) -> None:
    stack = quiet_stack
    log = tmp_path / "upstream.jsonl"
    topics = Topics(stack.settings.topic_prefix)
    spec = UpstreamSpec.parse(None, upstream_command(log))
    gateway = RunningGateway(spec, stack.bootstrap, topics)
    gateway.start()
    narrow = contraction(
        "narrow", ((KEY_JTI, JTI),), cause="action-send-1", removed=("send_email",)
    )
    halt = contraction("halt", ((KEY_TRACE, TRACE),), cause="action-delete-2")
    received = Received()

    async def session() -> None:
        async with mcp_client(gateway.url, _headers(), received) as client:
            listed = await client.list_tools()
            assert {t.name for t in listed.tools} >= {"send_email", "search_bookings"}
            allowed = await client.call_tool(
                "send_email", {"to": "ines.okafor@harbourline-travel.example", "body": "Ferry ok"}
            )
            assert not allowed.is_error

            await produce_contraction(stack.bootstrap, topics, narrow)
            await wait_for_async(
                lambda: _count(received, LIST_CHANGED),
                until=lambda n: n == 1,
                timeout=20,
                what="tools/list_changed after the narrow contraction",
            )
            listed = await client.list_tools()
            assert "send_email" not in {t.name for t in listed.tools}
            assert "search_bookings" in {t.name for t in listed.tools}
            with pytest.raises(MCPError) as refused:
                await client.call_tool(
                    "send_email", {"to": "x@quietmirror.example", "body": "list"}
                )
            assert refused.value.error.code == CONTRACTION_REFUSAL
            assert narrow.contraction_id in refused.value.error.message
            data = refused.value.error.data
            assert data["contraction_id"] == narrow.contraction_id
            assert data["decision"] == "narrow"
            assert data["reasons"] == ["recipient first seen in a tool result"]

            # A replay of the same contraction changes nothing; other tools still run.
            await produce_contraction(stack.bootstrap, topics, narrow)
            still = await client.call_tool("search_bookings", {"query": "HL-2207"})
            assert not still.is_error

            await produce_contraction(stack.bootstrap, topics, halt)
            await wait_for_async(
                lambda: _count(received, LIST_CHANGED),
                until=lambda n: n >= 2,
                timeout=20,
                what="tools/list_changed after the halt",
            )
            assert _count_now(received, LIST_CHANGED) == 2, "the replay must not notify again"
            for name, arguments in (("search_bookings", {"query": "HL"}), ("read_inbox", {})):
                with pytest.raises(MCPError) as ended:
                    await client.call_tool(name, arguments)
                assert ended.value.error.data["decision"] == "halt"
                assert halt.contraction_id in ended.value.error.message
            assert (await client.list_tools()).tools == []

    try:
        asyncio.run(session())
    finally:
        gateway.stop()

    # The upstream server saw the calls allowed, and none refused.
    calls = [(c["name"], c.get("arguments")) for c in upstream_requests(log)]
    assert calls == [
        ("send_email", {"to": "ines.okafor@harbourline-travel.example", "body": "Ferry ok"}),
        ("search_bookings", {"query": "HL-2207"}),
    ]
    records = _recorded(stack.bootstrap, topics)
    _assert_redacted(records, stack.bootstrap, topics)
    methods = [(r["direction"], r["message"].get("method")) for r in records]
    assert ("client_to_server", "initialize") in methods
    assert ("server_to_client", LIST_CHANGED) in methods
    errors = [r["message"]["error"] for r in records if "error" in r["message"]]
    assert any(narrow.contraction_id in e["message"] for e in errors)
    assert any(e["data"]["decision"] == "halt" for e in errors)
    # The records went the ingest way: every one is in the ledger as an event.
    wait_stored(stack.store, gateway.gateway.ingest_batch, len(records))


def test_a_contraction_decided_before_the_connection_applies_when_it_binds(
    broker: str, tmp_path: Path
) -> None:
    """Over an HTTP upstream: the session was contracted (by its trace) before this
    connection opened; its first tools/list already lacks the tool."""
    log = tmp_path / "upstream.jsonl"
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentledger.demo_mcp",
            "--log",
            str(log),
            "--http",
            str(port),
        ],
        cwd=REPO,
    )
    topics = Topics("gwearly")
    trace = "0af7651916cd43dd8448eb211c80319c"
    early = contraction(
        "narrow", ((KEY_TRACE, trace),), cause="action-early", removed=("delete_booking",)
    )
    try:
        assert wait_for_port("127.0.0.1", port, 20, server)
        gateway = RunningGateway(
            UpstreamSpec.parse(f"http://127.0.0.1:{port}/mcp", None), broker, topics
        )
        asyncio.run(produce_contraction(broker, topics, early))
        gateway.start()
        # Ready means caught up: what the topic held at the start is already read.
        assert len(gateway.gateway.contractions) == 1

        async def session() -> None:
            async with mcp_client(gateway.url, _headers(trace), Received()) as client:
                listed = await client.list_tools()
                names = {t.name for t in listed.tools}
                assert "delete_booking" not in names and "read_inbox" in names
                with pytest.raises(MCPError) as refused:
                    await client.call_tool("delete_booking", {"reference": "HL-2207"})
                assert refused.value.error.data["contraction_id"] == early.contraction_id
                inbox = await client.call_tool("read_inbox", {})
                assert "quietmirror" in inbox.content[0].text  # type: ignore[union-attr]

        try:
            asyncio.run(session())
        finally:
            gateway.stop()
    finally:
        stop(server)
    assert [c["name"] for c in upstream_requests(log)] == ["read_inbox"]
    _assert_redacted(_recorded(broker, topics), broker, topics)


async def _count(received: Received, method: str) -> int:
    return received.count(method)


def _count_now(received: Received, method: str) -> int:
    return received.count(method)


def _recorded(bootstrap: str, topics: Topics) -> list[dict[str, Any]]:
    values = asyncio.run(read_topic(bootstrap, topics.raw("mcp")))
    assert values, f"nothing recorded on {topics.raw('mcp')}"
    return [orjson.loads(v) for v in values]


def _assert_redacted(records: list[dict[str, Any]], bootstrap: str, topics: Topics) -> None:
    """The token is nowhere (raw records, events, dead letters); its fingerprint and claims
    stand in its place in every record's headers, as ingest writes them."""
    secret_parts = [TOKEN.encode(), TOKEN.split(".")[2].encode()]
    for topic in (topics.raw("mcp"), topics.events, topics.dlq):
        for value in asyncio.run(read_topic(bootstrap, topic)):
            assert not any(part in value for part in secret_parts), f"token bytes on {topic}"
    for record in records:
        headers = record["headers"]
        assert isinstance(headers, dict)
        authorization = headers["authorization"]
        assert authorization["redacted"] is True
        assert authorization["fingerprint"] == fingerprint(TOKEN)
        assert authorization["claims"]["jti"] == JTI


def test_the_gateway_command_serves_records_and_stops_on_sigterm(
    broker: str, tmp_path: Path
) -> None:
    """``agentledger gateway`` as a user runs it: up on loopback, a call through it, SIGTERM,
    and everything it passed is on the raw topic when it has exited."""
    log = tmp_path / "upstream.jsonl"
    port = free_port()
    topics = Topics("gwcli")
    env = {
        **os.environ,
        "AGENTLEDGER_TOPIC_PREFIX": topics.prefix,
        "AGENTLEDGER_FINGERPRINT_KEY": TEST_FINGERPRINT_KEY.decode(),
        "AGENTLEDGER_DATA_DIR": str(tmp_path / "data"),
    }
    command = [
        sys.executable,
        "-m",
        "agentledger",
        "gateway",
        "--listen",
        f"127.0.0.1:{port}",
        "--upstream-cmd",
        upstream_command(log),
        "--kafka",
        broker,
    ]
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert wait_for_port("127.0.0.1", port, 60, proc), "the gateway did not listen"

        async def session() -> None:
            url = f"http://127.0.0.1:{port}/mcp"
            async with mcp_client(url, _headers(), Received()) as client:
                found = await client.call_tool("search_bookings", {"query": "HL-2207"})
                assert not found.is_error

        asyncio.run(session())
        proc.send_signal(signal.SIGTERM)
        out_bytes, err_bytes = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    out, err = out_bytes.decode(), err_bytes.decode()
    assert proc.returncode == 0, err
    assert f"gateway up at http://127.0.0.1:{port}/mcp" in out
    assert TOKEN not in out + err
    records = _recorded(broker, topics)
    calls = [r for r in records if r["message"].get("method") == "tools/call"]
    assert len(calls) == 1 and calls[0]["server"] == Path(sys.executable).name
    _assert_redacted(records, broker, topics)


INTENT = "Email ines.okafor@harbourline-travel.example to confirm the ferry of booking HL-2207"
EXFIL_TO = "archive-desk@quietmirror.example"


def _declaration() -> SessionDeclaration:
    return parse_declaration(
        {
            "session_id": "s-travel-inline",
            "agent": {"id": "travel-desk-agent", "version": "2.4.1"},
            "origin": {"type": "human", "principal": "ines.okafor", "prompt": INTENT},
            "intent": {
                "text": INTENT,
                "tools": ["read_inbox", "search_bookings", "send_email"],
                "actions": ["read", "write"],
            },
            "bindings": {"token_jti": JTI},
        }
    )


@pytest.mark.parametrize(
    ("scorer_name", "declared"), [("model", True), ("model", False), ("rules", True)]
)
def test_inline_refuses_a_drifting_call_before_the_server_sees_it(
    broker: str, tmp_path: Path, scorer_name: str, declared: bool
) -> None:
    """The agent reads an inbox holding text addressed to it, then is asked by that text to
    send elsewhere: the send, and a delete nobody asked for, are refused before the upstream
    runs them. The intent is the session's declaration (bound to the client by its token's
    jti), or only what the client asserts in each call's ``_meta``."""
    log = tmp_path / "upstream.jsonl"
    topics = Topics("gwinline")
    # The shipped drift model, as `--inline` loads it; the two-rule scorer checks the
    # plumbing apart from the model's judgement.
    scorer = load_scorer() if scorer_name == "model" else RuleScorer()
    gateway = RunningGateway(
        UpstreamSpec.parse(None, upstream_command(log)), broker, topics, scorer=scorer
    )

    async def declare() -> None:
        sender = producer(broker)
        await sender.start()
        try:
            body = _declaration().model_dump_json().encode()
            await sender.send_and_wait(topics.declared, body)
        finally:
            await sender.stop()

    if declared:
        asyncio.run(declare())  # before the gateway starts: it reads the topic from its start
    gateway.start()
    # cast: mypy does not read the TypedDict's extra_items (any reserved _meta key).
    meta = cast(
        RequestParamsMeta,
        {"io.modelcontextprotocol/aiInvocation": {"userIntent": {"text": INTENT}}},
    )

    async def session() -> None:
        async with mcp_client(gateway.url, _headers(), Received()) as client:
            await client.list_tools()
            inbox = await client.call_tool("read_inbox", {}, meta=meta)
            assert EXFIL_TO in inbox.content[0].text  # type: ignore[union-attr]
            confirmed = await client.call_tool(
                "send_email",
                {"to": "ines.okafor@harbourline-travel.example", "body": "Ferry confirmed"},
                meta=meta,
            )
            assert not confirmed.is_error
            with pytest.raises(MCPError) as exfil:
                await client.call_tool(
                    "send_email", {"to": EXFIL_TO, "body": "customer list"}, meta=meta
                )
            error = exfil.value.error
            assert error.code == DRIFT_REFUSAL
            assert f"score {error.data['score']:.2f}" in error.message
            assert error.data["reasons"] and error.data["tool"] == "send_email"
            assert error.data["model_version"] == scorer.version
            with pytest.raises(MCPError) as outside:
                await client.call_tool("delete_booking", {"reference": "HL-2207"}, meta=meta)
            assert outside.value.error.code == DRIFT_REFUSAL
            # Outside the declared tools is out of bounds whatever the score.
            assert outside.value.error.data["out_of_bounds"] is declared

    try:
        asyncio.run(session())
    finally:
        gateway.stop()
    calls = [(c["name"], (c.get("arguments") or {}).get("to")) for c in upstream_requests(log)]
    assert calls == [
        ("read_inbox", None),
        ("send_email", "ines.okafor@harbourline-travel.example"),
    ]
    records = _recorded(broker, topics)
    refused_calls = [
        r["message"]["error"]["data"]
        for r in records
        if r["message"].get("error", {}).get("code") == DRIFT_REFUSAL
    ]
    assert [d["tool"] for d in refused_calls] == ["send_email", "delete_booking"]


def test_a_client_probing_the_single_exchange_protocol_falls_back_to_the_handshake(
    broker: str, tmp_path: Path
) -> None:
    """The SDK's own ``Client`` probes ``server/discover`` (2026-07-28) first; the gateway
    answers that it speaks the handshake, and the client goes on with ``initialize``."""
    log = tmp_path / "upstream.jsonl"
    gateway = RunningGateway(
        UpstreamSpec.parse(None, upstream_command(log)), broker, Topics("gwprobe")
    )
    gateway.start()

    async def session() -> str:
        async with Client(gateway.url) as client:
            found = await client.call_tool("search_bookings", {"query": "HL-2207"})
            assert not found.is_error
            return str(client.session.protocol_version)

    try:
        version = asyncio.run(session())
    finally:
        gateway.stop()
    assert version in HANDSHAKE_PROTOCOL_VERSIONS
    assert [c["name"] for c in upstream_requests(log)] == ["search_bookings"]


def test_the_loop_a_recorded_session_is_scored_and_its_next_call_refused(
    stack: RunningStack, tmp_path: Path
) -> None:
    """The whole control loop on real parts, with no contraction of the test's own: the
    gateway records a declared session's traffic (an inbox with text addressed to the agent,
    a send to the address that text named), the stack's worker scores it with the drift
    model, its policy publishes a contraction, and the gateway refuses the agent's next call
    naming that contraction; the refused call never reaches the server. Which action the
    model contracts on is the model's judgement; that the loop closes is the gateway's."""
    log = tmp_path / "upstream.jsonl"
    topics = Topics(stack.settings.topic_prefix)
    declaration = _declaration()

    async def declare() -> None:
        sender = producer(stack.bootstrap)
        await sender.start()
        try:
            await sender.send_and_wait(topics.declared, declaration.model_dump_json().encode())
        finally:
            await sender.stop()

    asyncio.run(declare())
    wait_for(
        lambda: stack.store.count(
            "declarations", "session_id = {s:String}", {"s": declaration.session_id}
        ),
        timeout=60,
        what="the declaration in the ledger",
    )
    spec = UpstreamSpec.parse(None, upstream_command(log))
    gateway = RunningGateway(spec, stack.bootstrap, topics)
    gateway.start()
    received = Received()

    async def session() -> MCPError:
        async with mcp_client(gateway.url, _headers(), received) as client:
            await client.list_tools()
            # The contraction may arrive while these run: a refusal here is the loop too.
            for name, arguments in (
                ("read_inbox", {}),
                ("send_email", {"to": EXFIL_TO, "body": "customers"}),
            ):
                with contextlib.suppress(MCPError):
                    await client.call_tool(name, arguments)
            await wait_for_async(
                lambda: _count(received, LIST_CHANGED),
                timeout=90,
                what="the stream's contraction to reach the gateway",
            )
            with pytest.raises(MCPError) as refused:
                await client.call_tool("send_email", {"to": EXFIL_TO, "body": "once more"})
            return refused.value

    try:
        refusal = asyncio.run(session())
    finally:
        gateway.stop()
    data = refusal.error.data
    assert refusal.error.code == CONTRACTION_REFUSAL
    assert data["contraction_id"] in refusal.error.message
    assert data["session_id"] == declaration.session_id
    assert data["model_version"] == load_scorer().version
    assert data["decision"] in ("narrow", "halt", "revoke") and data["reasons"]
    bodies = [(c.get("arguments") or {}).get("body") for c in upstream_requests(log)]
    assert "once more" not in bodies
