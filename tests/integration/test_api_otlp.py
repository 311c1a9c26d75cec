"""OTLP/HTTP trace exports through the running stack: a real OpenTelemetry SDK exporter, the
API's ``/v1/traces``, the broker, the worker and the chDB ledger."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentledger.auth import ApiKeys
from ingest.framing import Framed, frame_lines
from ingest.otel import OtelTraceSource
from kernel.events import KEY_TRACE
from ledger.chdb_store import ChdbStore
from ledger.queries import Chain, session_chain, session_for_key, stored_count
from ledger.store import LedgerStore
from tests.integration.conftest import RunningStack, make_settings
from tests.integration.helpers import ingest, wait_processed, wait_stored
from tests.unit.test_otel import (
    MCP_CALL,
    MCP_LIST,
    ROOT,
    SESSION,
    START,
    TOOL,
    TRACE_ID,
    agent_run,
    export,
    span,
)

MESSAGES = '[{"role": "user", "content": "Weather in Paris?"}]'
JSON = {"Content-Type": "application/json"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}
MS = 1_000_000


class FixedIds(IdGenerator):
    """The ids of ``tests.unit.test_otel.agent_run``, in the order its spans start."""

    def __init__(self) -> None:
        self.span_ids = [int(s, 16) for s in (ROOT, TOOL, MCP_CALL, MCP_LIST)]

    def generate_span_id(self) -> int:
        return self.span_ids.pop(0)

    def generate_trace_id(self) -> int:
        return int(TRACE_ID, 16)


def _run_agent(provider: TracerProvider) -> None:
    """``agent_run(MESSAGES)`` as an instrumented agent makes it: invoke_agent, execute_tool,
    a failed MCP tools/call under it, and an MCP tools/list."""
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_agents")
    root = tracer.start_span(
        "invoke_agent weather-assistant",
        start_time=START,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": "openai",
            "gen_ai.agent.id": "asst_5j66UpCpwteGg4YSxUnt7lPY",
            "gen_ai.agent.name": "weather-assistant",
            "gen_ai.agent.version": "1.4.2",
            "gen_ai.conversation.id": "conv_5j66UpCpwteGg4YSxUnt7lPY",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": MESSAGES,
            "user.id": "alice@example.com",
        },
    )
    in_root = trace.set_span_in_context(root)
    tool = tracer.start_span(
        "execute_tool get_weather",
        context=in_root,
        start_time=START + 1200 * MS,
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_VSPygqKTWdrhaFErNvMV18Yl",
            "gen_ai.tool.call.arguments": '{"location":"Paris"}',
            "gen_ai.conversation.id": "conv_5j66UpCpwteGg4YSxUnt7lPY",
        },
    )
    call = tracer.start_span(
        "tools/call get_weather",
        context=trace.set_span_in_context(tool),
        kind=SpanKind.CLIENT,
        start_time=START + 1210 * MS,
        attributes={
            "mcp.method.name": "tools/call",
            "gen_ai.tool.name": "get_weather",
            "mcp.session.id": SESSION,
            "jsonrpc.request.id": "7",
            "error.type": "tool_error",
        },
    )
    call.set_status(Status(StatusCode.ERROR, "weather service unavailable"))
    listing = tracer.start_span(
        "tools/list",
        context=in_root,
        kind=SpanKind.CLIENT,
        start_time=START + 5 * MS,
        attributes={"mcp.method.name": "tools/list", "mcp.session.id": SESSION},
    )
    for ended, offset in ((call, 1210), (listing, 5), (tool, 1200)):
        ended.end(end_time=START + (offset + 250) * MS)
    root.set_status(Status(StatusCode.OK))
    root.end(end_time=START + 250 * MS)


def _provider() -> TracerProvider:
    resource = Resource({"service.name": "travel-agent", "telemetry.sdk.language": "python"})
    return TracerProvider(resource=resource, id_generator=FixedIds())


@pytest.fixture
def collector_key(stack: RunningStack) -> str:
    key, _ = ApiKeys(stack.stack.data_dir).create("collector", ["ingest"])
    return key


@pytest.fixture
def exporter_env(
    stack: RunningStack, collector_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The environment an instrumented service is given to export to the ledger."""
    endpoint = f"{stack.stack.http_url}/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer {collector_key}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    yield


def _post(stack: RunningStack, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        f"{stack.stack.http_url}/v1/traces", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def _trace_chain(store: LedgerStore) -> Chain:
    session_id = session_for_key(store, KEY_TRACE, TRACE_ID)
    assert session_id is not None, f"no session holds trace {TRACE_ID}"
    return session_chain(store, session_id)


def _comparable(store: LedgerStore) -> dict[str, Any]:
    """The trace's session as analysts read it, without the ids of its events (an event id
    hashes the raw record, and the SDK writes defaults the fixture leaves out)."""
    chain = _trace_chain(store)
    session = {k: v for k, v in chain.session.items() if k not in ("updated_at", "version")}
    actions = []
    for action in chain.actions:
        # The contraction's id is derived from the action's id too.
        kept = {k: v for k, v in action.items() if k not in ("action_id", "contraction_id")}
        kept["outcome"] = {k: v for k, v in action["outcome"].items() if k != "event_id"}
        kept["attribution"] = {k: v for k, v in action["attribution"].items() if k != "evidence"}
        actions.append(kept)
    return {"session": session, "actions": actions, "aliases": len(chain.aliases)}


def test_sdk_exported_spans_give_the_chain_ingest_gives_of_the_same_json(
    stack: RunningStack,
    exporter_env: None,
    collector_key: str,
    chdb_ledger: ChdbStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured = InMemorySpanExporter()
    provider = _provider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # protobuf, gzip
    provider.add_span_processor(SimpleSpanProcessor(captured))
    _run_agent(provider)
    assert provider.force_flush(30_000)
    provider.shutdown()
    spans: Sequence[ReadableSpan] = captured.get_finished_spans()
    assert len(spans) == 4
    wait_processed(stack)
    assert stack.store.count("raw_events") == 4
    assert stack.store.count("dead_letters", "source = 'otel'") == 0

    # The same spans again, in one batch and one by one, with the header as the
    # specification writes it (URL-encoded): the same event ids, so nothing is added.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{collector_key}")
    again = OTLPSpanExporter()
    assert again.export(spans) == SpanExportResult.SUCCESS
    assert all(again.export([one]) == SpanExportResult.SUCCESS for one in spans)
    again.shutdown()  # type: ignore[no-untyped-call]  # the exporter has no annotations here
    wait_processed(stack)
    # Every row counted, not only the last of each event id: a span written again would be
    # a row of the replay's own ingest batch.
    [row] = stack.store.query_rows(
        "SELECT count() AS n, uniqExact(event_id) AS ids, uniqExact(ingest_batch) AS batches "
        f"FROM {stack.store.database}.raw_events"
    )
    assert (row["n"], row["ids"], row["batches"]) == (4, 4, 1)

    # `agentledger ingest --source otel` of the same run as OTLP/JSON, in a ledger of its own,
    # its spans in the order the SDK exported them (as each ended): which event opened the
    # session, and so each action's link rule, follows the order events arrive in.
    run = agent_run(MESSAGES)
    [scope] = run["resourceSpans"][0]["scopeSpans"]
    ended = [format(s.context.span_id, "016x") for s in spans]
    scope["spans"].sort(key=lambda s: ended.index(s["spanId"].lower()))
    path = tmp_path / "traces.json"
    path.write_text(orjson.dumps(run).decode())
    settings = make_settings(tmp_path / "other")
    other = RunningStack(settings, chdb_ledger.with_database(settings.database))
    other.start()
    try:
        report = ingest(other, "otel", path, batch="json")
        assert (report.accepted, report.events, report.rejected) == (4, 4, 0)
        wait_stored(other.store, "json", 4)
        wait_processed(other)
        exported, ingested = _comparable(stack.store), _comparable(other.store)
        assert len(exported["actions"]) == 4
        assert exported == ingested
    finally:
        other.stop()
    chain = _trace_chain(stack.store)
    assert chain.session["intent"] == "Weather in Paris?"
    assert {a["operation"] for a in chain.actions} == {
        "invoke_agent",
        "execute_tool",
        "tools/call",
        "tools/list",
    }


def test_json_posts_take_the_ingest_path_and_answer_per_span(
    stack: RunningStack, collector_key: str, tmp_path: Path
) -> None:
    auth = {"Authorization": f"Bearer {collector_key}"}
    document = agent_run(MESSAGES)
    status, media, body = _post(
        stack, gzip.compress(orjson.dumps(document)), {**auth, **JSON, "Content-Encoding": "gzip"}
    )
    assert (status, media, orjson.loads(body)) == (200, "application/json", {})

    # A span with an all-zero trace id beside a good one: the good one is taken, the bad one
    # dead-lettered with its position, and the exporter told how many and why.
    good = span("aaaaaaaaaaaaaaa1", "GET /health", {"http.request.method": "GET"}, kind=2)
    bad = {**span("aaaaaaaaaaaaaaa2", "GET /ready", {}), "traceId": "0" * 32}
    status, _, body = _post(stack, orjson.dumps(export(good, bad, service="api")), {**auth, **JSON})
    assert status == 200
    partial = orjson.loads(body)["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    field = "resourceSpans[0].scopeSpans[0].spans[0].traceId"
    assert partial["errorMessage"] == (
        f"1 of 2 spans rejected: {field}: all-zero id is invalid "
        "(1x, first at otel /v1/traces key:collector[1])"
    )

    # Protobuf with a span whose trace id has 5 bytes: a protobuf partial success.
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(
        trace_id=b"short", span_id=bytes.fromhex("aaaaaaaaaaaaaaa3"), name="broken"
    )
    status, media, body = _post(stack, request.SerializeToString(), {**auth, **PROTOBUF})
    assert (status, media) == (200, "application/x-protobuf")
    response = ExportTraceServiceResponse.FromString(body)
    assert response.partial_success.rejected_spans == 1
    assert "traceId: not a hex or base64 id" in response.partial_success.error_message

    wait_processed(stack)
    db = stack.store.database
    dead = stack.store.query_rows(
        f"SELECT position, field, reason, record FROM {db}.dead_letters "
        "WHERE source = 'otel' ORDER BY position"
    )
    assert [(d["position"], d["field"], d["reason"]) for d in dead] == [
        ("/v1/traces key:collector[0]", field, "not a hex or base64 id: '73686f7274'"),
        ("/v1/traces key:collector[1]", field, "all-zero id is invalid"),
    ]
    assert orjson.loads(dead[1]["record"])["resourceSpans"][0]["scopeSpans"][0]["spans"] == [bad]
    assert stack.store.count("raw_events") == 5

    # The same JSON ingested as a file: each span already has its event, so nothing is added.
    source = OtelTraceSource()
    path = tmp_path / "traces.json"
    path.write_text(orjson.dumps(document).decode())
    expected = {
        event.event_id
        for item in frame_lines(source, path.read_text().splitlines(), "traces.json")
        if isinstance(item, Framed)
        for event in source.parse(item.record, position=item.position, raw=item.raw)
    }
    stored = {
        r["event_id"]
        for r in stack.store.query_rows(
            f"SELECT event_id FROM {db}.raw_events WHERE position LIKE '/v1/traces %'"
        )
    }
    assert len(expected) == 4 and expected <= stored
    report = ingest(stack, "otel", path, batch="file-replay")
    assert (report.accepted, report.rejected) == (4, 0)
    wait_processed(stack)
    assert stored_count(stack.store, "file-replay") == 0
    assert stack.store.count("raw_events") == 5


def test_requests_refused_whole_say_why_and_leave_nothing(
    stack: RunningStack, collector_key: str
) -> None:
    body = orjson.dumps(agent_run(MESSAGES))
    auth = {"Authorization": f"Bearer {collector_key}"}

    status, _, answer = _post(stack, body, JSON)
    assert status == 401 and "credential is required" in orjson.loads(answer)["message"]
    status, _, answer = _post(stack, body, {**JSON, "Authorization": "Bearer alk_000000000000_x"})
    assert status == 401 and "unknown or revoked" in orjson.loads(answer)["message"]
    reader, _ = ApiKeys(stack.stack.data_dir).create("grafana", ["analyst"])
    status, _, answer = _post(stack, body, {**PROTOBUF, "Authorization": f"Bearer {reader}"})
    assert status == 403 and "'ingest'" in RpcStatus.FromString(answer).message

    status, _, answer = _post(stack, body, {**auth, "Content-Type": "text/plain"})
    assert status == 415 and "application/x-protobuf or application/json" in str(answer)
    status, _, answer = _post(stack, body[:-1], {**auth, **JSON})
    assert status == 400 and orjson.loads(answer)["message"].startswith("invalid JSON")
    status, _, answer = _post(stack, b"\xff\xfe garbage", {**auth, **PROTOBUF})
    assert status == 400
    assert "not a protobuf ExportTraceServiceRequest" in RpcStatus.FromString(answer).message

    # An empty request is a success that adds nothing.
    assert _post(stack, b"", {**auth, **PROTOBUF})[:2] == (200, "application/x-protobuf")
    wait_processed(stack)
    assert stack.store.count("raw_events") == 0
    assert stack.store.count("dead_letters", "source = 'otel'") == 0
