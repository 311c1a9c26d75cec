"""OTLP/JSON trace parser, on a hand-built agent run and the GenAI semconv message examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.framing import Framed, frame_lines
from ingest.otel import OtelTraceSource, first_user_text
from kernel.errors import RecordError
from kernel.events import (
    API_CALL,
    FAILURE,
    KEY_MCP_RPC,
    KEY_MCP_SESSION,
    KEY_TRACE,
    KEY_TYPES,
    KINDS,
    MCP_MESSAGE,
    OUTCOMES,
    SUCCESS,
    TOOL_CALL,
    UNKNOWN,
    Event,
    canonical_json,
    event_id_for,
)
from tests.jwt import b64

SEMCONV = "otel_genai/semconv-examples"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
ROOT, TOOL, MCP_CALL, MCP_LIST = (
    "eee19b7ec3c1b174",
    "eee19b7ec3c1b175",
    "eee19b7ec3c1b176",
    "eee19b7ec3c1b177",
)
SESSION = "mcp-session-7f3a"
START = 1_767_225_600_123_456_789  # 2026-01-01T00:00:00.123456789Z
HEX = frozenset("0123456789abcdef")


def any_value(value: Any) -> dict[str, Any]:
    """An OTLP/JSON ``AnyValue``, as an exporter writes it (int64 as a decimal string)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": attributes(value)}}
    return {"stringValue": value}


def attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value(value)} for key, value in values.items()]


def span(
    span_id: str,
    name: str,
    attrs: dict[str, Any],
    *,
    parent: str = "",
    kind: int = 1,
    offset_ms: int = 0,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    start = START + offset_ms * 1_000_000
    return {
        "traceId": TRACE_ID,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 250_000_000),
        "attributes": attributes(attrs),
        "status": status or {},
    }


def export(*spans: dict[str, Any], service: str = "travel-agent") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": attributes(
                        {"service.name": service, "telemetry.sdk.language": "python"}
                    )
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "opentelemetry.instrumentation.openai_agents"},
                        "spans": list(spans),
                    }
                ],
            }
        ]
    }


def semconv_json(path: Path) -> Any:
    """A semconv example value; the ``.jsonc`` ones carry ``//`` comment lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return orjson.loads("\n".join(line for line in lines if not line.strip().startswith("//")))


def agent_run(input_messages: str) -> dict[str, Any]:
    """invoke_agent → execute_tool → MCP tools/call (client), plus an MCP tools/list."""
    return export(
        span(
            ROOT,
            "invoke_agent weather-assistant",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.provider.name": "openai",
                "gen_ai.agent.id": "asst_5j66UpCpwteGg4YSxUnt7lPY",
                "gen_ai.agent.name": "weather-assistant",
                "gen_ai.agent.version": "1.4.2",
                "gen_ai.conversation.id": "conv_5j66UpCpwteGg4YSxUnt7lPY",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.input.messages": input_messages,
                "user.id": "alice@example.com",
            },
            status={"code": 1},
        ),
        span(
            TOOL,
            "execute_tool get_weather",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call_VSPygqKTWdrhaFErNvMV18Yl",
                "gen_ai.tool.call.arguments": '{"location":"Paris"}',
                "gen_ai.conversation.id": "conv_5j66UpCpwteGg4YSxUnt7lPY",
            },
            parent=ROOT,
            offset_ms=1200,
        ),
        span(
            MCP_CALL,
            "tools/call get_weather",
            {
                "mcp.method.name": "tools/call",
                "gen_ai.tool.name": "get_weather",
                "mcp.session.id": SESSION,
                "jsonrpc.request.id": "7",
                "error.type": "tool_error",
            },
            parent=TOOL,
            kind=3,
            offset_ms=1210,
            status={"code": 2, "message": "weather service unavailable"},
        ),
        span(
            MCP_LIST,
            "tools/list",
            {"mcp.method.name": "tools/list", "mcp.session.id": SESSION},
            parent=ROOT,
            kind=3,
            offset_ms=5,
        ),
    )


def frame_spans(record: Any, name: str = "traces.jsonl") -> list[Framed]:
    """The records framing makes of one export request: one per span."""
    items = list(frame_lines(OtelTraceSource(), [orjson.dumps(record).decode()], name))
    assert all(isinstance(item, Framed) for item in items)
    return [item for item in items if isinstance(item, Framed)]


def parse(record: Any) -> list[Event]:
    return OtelTraceSource().parse(record, position="test:1", raw=canonical_json(record))


def test_agent_run_one_event_per_span(real_data: Path) -> None:
    messages = (
        real_data / SEMCONV / "examples-llm-calls__08__gen-ai-input-messages-tool-call-span-1.json"
    )
    request = agent_run(messages.read_text(encoding="utf-8"))
    pieces = frame_spans(request)
    source = OtelTraceSource()
    events = []
    for framed in pieces:
        [event] = source.parse(framed.record, position=framed.position, raw=framed.raw)
        events.append(event)
    by_span = {e.attributes["span_id"]: e for e in events}
    assert list(by_span) == [ROOT, TOOL, MCP_CALL, MCP_LIST]
    start = datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    for index, (event, framed) in enumerate(zip(events, pieces, strict=True)):
        assert event.source == "otel" and event.position == f"traces.jsonl:1[{index}]"
        assert event.raw == framed.raw  # its own one-span request, not its neighbours'
        [resource_spans] = framed.record["resourceSpans"]
        assert resource_spans["resource"] == request["resourceSpans"][0]["resource"]
        [scope_spans] = resource_spans["scopeSpans"]
        assert scope_spans["scope"] == {"name": "opentelemetry.instrumentation.openai_agents"}
        assert [s["spanId"] for s in scope_spans["spans"]] == [event.attributes["span_id"]]
        assert event.event_id == event_id_for("otel", framed.raw, event.attributes["span_id"])
        assert event.kind in KINDS and event.outcome in OUTCOMES
        assert all(k in KEY_TYPES and v for k, v in event.keys)
        assert all(isinstance(v, str) and v for v in event.attributes.values())
        assert event.service == "travel-agent"
    assert len({e.event_id for e in events}) == 4
    # Each span's source id is its span id, as a trace backend shows it.
    assert [e.source_id for e in events] == [ROOT, TOOL, MCP_CALL, MCP_LIST]

    agent = by_span[ROOT]
    assert (agent.kind, agent.operation, agent.outcome) == (API_CALL, "invoke_agent", SUCCESS)
    assert agent.event_time == start
    assert (agent.agent_instance, agent.agent_name, agent.agent_version) == (
        "asst_5j66UpCpwteGg4YSxUnt7lPY",
        "weather-assistant",
        "1.4.2",
    )
    assert agent.intent == "Weather in Paris?"
    assert agent.principal == "alice@example.com"
    assert agent.keys == [(KEY_TRACE, TRACE_ID)]
    assert agent.attributes == {
        "intent_source": "otel_invoke_agent",
        "span_id": ROOT,
        "span_name": "invoke_agent weather-assistant",
        "span_kind": "internal",
        "conversation_id": "conv_5j66UpCpwteGg4YSxUnt7lPY",
        "model": "gpt-4o",
        "end_time_unix_nano": str(START + 250_000_000),
    }

    tool = by_span[TOOL]
    assert (tool.kind, tool.operation, tool.resource) == (TOOL_CALL, "execute_tool", "get_weather")
    assert (tool.outcome, tool.outcome_detail) == (SUCCESS, None)  # unset status, ended
    assert tool.event_time == start + timedelta(milliseconds=1200)
    assert tool.intent is None  # intent is declared where the agent's work starts
    assert tool.attributes["parent_span_id"] == ROOT
    assert tool.attributes["tool"] == "get_weather"
    assert tool.attributes["arguments"] == '{"location":"Paris"}'
    assert tool.attributes["tool_call_id"] == "call_VSPygqKTWdrhaFErNvMV18Yl"
    assert tool.keys == [(KEY_TRACE, TRACE_ID)]

    call = by_span[MCP_CALL]
    assert (call.kind, call.operation, call.resource) == (TOOL_CALL, "tools/call", "get_weather")
    assert (call.outcome, call.outcome_detail) == (FAILURE, "weather service unavailable")
    assert call.attributes["span_kind"] == "client"
    assert call.attributes["rpc_id"] == "7"
    assert call.keys == [
        (KEY_TRACE, TRACE_ID),
        (KEY_MCP_SESSION, SESSION),
        (KEY_MCP_RPC, f"{SESSION}:7"),
    ]

    listing = by_span[MCP_LIST]
    assert (listing.kind, listing.operation, listing.resource) == (MCP_MESSAGE, "tools/list", None)
    assert listing.keys == [(KEY_TRACE, TRACE_ID), (KEY_MCP_SESSION, SESSION)]  # no rpc id

    # The whole request still parses (raw records written before spans were split do), and a
    # span keeps its event id whichever request carried it.
    assert [e.attributes["span_id"] for e in parse(request)] == list(by_span)
    alone = frame_spans(export(request["resourceSpans"][0]["scopeSpans"][0]["spans"][2]))
    assert [f.raw for f in alone] == [pieces[2].raw]
    for framed, event in zip(pieces, events, strict=True):
        [again] = source.parse(orjson.loads(framed.raw), position="elsewhere", raw=framed.raw)
        assert again.event_id == event.event_id


# The first user message of every semconv example; None where the example holds no user
# message (outputs, tool definitions, system instructions).
SEMCONV_INTENTS = {
    "01__gen-ai-input-messages-simple.json": "Tell me a joke about OpenTelemetry",
    "03__gen-ai-input-messages-event.json": "Tell me a joke about OpenTelemetry",
    "05__multimodal-inputs-example.jsonc": "What is in the attached data?",
    "08__gen-ai-input-messages-tool-call-span-1.json": "Weather in Paris?",
    "11__gen-ai-input-messages-tool-call-span-2.json": "Weather in Paris?",
    "14__gen-ai-input-messages-instructions.json": "Tell me a joke about OpenTelemetry",
    "16__gen-ai-input-messages-reasoning.json": "Tell me a joke about OpenTelemetry",
    "18__gen-ai-input-messages-built-in-tools.json": (
        "Write Python code that generates a random number, executes it, and returns the result."
    ),
    "20__gen-ai-input-messages-choices.json": "Tell me a joke about OpenTelemetry",
}


def test_semconv_messages_as_attribute_values(real_data: Path) -> None:
    files = sorted((real_data / SEMCONV).iterdir())
    assert len(files) == 21
    for path in files:
        value = semconv_json(path)
        expected = SEMCONV_INTENTS.get(path.name.removeprefix("examples-llm-calls__"))
        # As instrumentations write it (a JSON string) and as a structured AnyValue.
        for attribute in (canonical_json(value), value):
            [event] = parse(
                export(
                    span(
                        ROOT,
                        "invoke_agent",
                        {
                            "gen_ai.operation.name": "invoke_agent",
                            "gen_ai.input.messages": attribute,
                        },
                    )
                )
            )
            assert event.intent == expected, path.name
    assert sum(1 for p in files if "input-messages" in p.name or "inputs" in p.name) == 9


def test_intent_is_truncated_and_joins_text_parts() -> None:
    long_text = "x" * 600
    messages = [{"role": "user", "parts": [{"type": "text", "content": long_text}]}]
    assert first_user_text(canonical_json(messages)) == "x" * 500
    parts = [
        {"type": "text", "content": "book a flight"},
        {"type": "uri", "uri": "https://example.com/itinerary.pdf"},
        {"type": "text", "content": "to Paris"},
    ]
    assert first_user_text([{"role": "user", "parts": parts}]) == "book a flight\nto Paris"
    assert first_user_text([{"role": "user", "content": "legacy shape"}]) == "legacy shape"
    turns = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first ask"},
        {"role": "user", "content": "second ask"},
    ]
    assert first_user_text(turns) == "first ask"
    assert first_user_text("not json") is None
    assert first_user_text({"role": "user"}) is None


def test_base64_ids_become_hex() -> None:
    record = agent_run("[]")
    first = record["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    first["traceId"] = b64(bytes.fromhex(TRACE_ID))
    first["spanId"] = b64(bytes.fromhex(ROOT))
    events = parse(record)
    assert events[0].keys == [(KEY_TRACE, TRACE_ID)]
    assert events[0].attributes["span_id"] == events[0].source_id == ROOT
    assert {e.keys[0] for e in events} == {(KEY_TRACE, TRACE_ID)}  # joins the hex spans
    upper = agent_run("[]")
    upper["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = TRACE_ID.upper()
    assert parse(upper)[0].keys == [(KEY_TRACE, TRACE_ID)]


@pytest.mark.parametrize(
    ("status", "attrs", "end", "outcome", "detail"),
    [
        ({"code": "STATUS_CODE_ERROR", "message": "boom"}, {}, True, FAILURE, "boom"),
        ({}, {"error.type": "timeout"}, True, FAILURE, "timeout"),
        ({"code": 1}, {}, False, SUCCESS, None),
        ({"code": 0}, {}, True, SUCCESS, None),
        ({}, {}, False, UNKNOWN, None),
    ],
)
def test_outcome_from_status(
    status: dict[str, Any], attrs: dict[str, Any], end: bool, outcome: str, detail: str | None
) -> None:
    one = span(TOOL, "execute_tool", {"gen_ai.operation.name": "execute_tool", **attrs})
    one["status"] = status
    if not end:
        del one["endTimeUnixNano"]
    [event] = parse(export(one))
    assert (event.outcome, event.outcome_detail) == (outcome, detail)


def test_other_spans_and_several_requests_per_file() -> None:
    chat = span(ROOT, "chat gpt-4o", {"gen_ai.operation.name": "chat"}, kind=3)
    http = span(TOOL, "GET /health", {"http.request.method": "GET"}, kind=2)
    http["startTimeUnixNano"] = START  # some exporters write int64 as a JSON number
    lines = [
        orjson.dumps(export(chat)).decode(),
        orjson.dumps(export(http, service="api")).decode(),
    ]
    framed = [f for f in frame_lines(OtelTraceSource(), lines, "t.jsonl") if isinstance(f, Framed)]
    assert [f.position for f in framed] == ["t.jsonl:1[0]", "t.jsonl:2[0]"]
    [first] = OtelTraceSource().parse(framed[0].record, position="t.jsonl:1", raw=framed[0].raw)
    [second] = OtelTraceSource().parse(framed[1].record, position="t.jsonl:2", raw=framed[1].raw)
    assert (first.kind, first.operation, first.agent_name) == (API_CALL, "chat", None)
    assert (second.kind, second.operation, second.service) == (API_CALL, "GET /health", "api")
    assert second.attributes["span_kind"] == "server"
    assert "parent_span_id" not in second.attributes
    assert parse({"resourceSpans": []}) == []


def test_one_pretty_printed_request_per_file() -> None:
    text = orjson.dumps(agent_run("[]"), option=orjson.OPT_INDENT_2).decode()
    items = frame_lines(OtelTraceSource(), text.splitlines(keepends=True), "trace.json")
    framed = [f for f in items if isinstance(f, Framed)]
    assert [f.position for f in framed] == [f"trace.json:1[{i}]" for i in range(4)]
    events = [
        event
        for f in framed
        for event in OtelTraceSource().parse(f.record, position=f.position, raw=f.raw)
    ]
    assert [e.kind for e in events] == [API_CALL, TOOL_CALL, TOOL_CALL, MCP_MESSAGE]


def test_rpc_key_needs_session_and_request_id() -> None:
    only_id = span(
        MCP_CALL, "tools/call", {"mcp.method.name": "tools/call", "jsonrpc.request.id": 3}
    )
    [event] = parse(export(only_id))
    assert event.attributes["rpc_id"] == "3"  # an intValue where semconv says string
    assert event.keys == [(KEY_TRACE, TRACE_ID)]


def bad(**changes: Any) -> dict[str, Any]:
    one = span(ROOT, "invoke_agent", {"gen_ai.operation.name": "invoke_agent"})
    for key, value in changes.items():
        if value is None:
            del one[key]
        else:
            one[key] = value
    return export(span(TOOL, "ok", {}), one)


SPAN_1 = "resourceSpans[0].scopeSpans[0].spans[1]"


@pytest.mark.parametrize(
    ("record", "field_name"),
    [
        ({"resourceSpans": {"spans": []}}, "resourceSpans"),
        ({"traceId": TRACE_ID}, "resourceSpans"),  # a bare span is not an export request
        (bad(traceId=None), f"{SPAN_1}.traceId"),
        (bad(traceId="0" * 32), f"{SPAN_1}.traceId"),
        (bad(traceId=TRACE_ID[:-2]), f"{SPAN_1}.traceId"),
        (bad(spanId=TRACE_ID), f"{SPAN_1}.spanId"),
        (bad(parentSpanId="zz"), f"{SPAN_1}.parentSpanId"),
        (bad(startTimeUnixNano=None), f"{SPAN_1}.startTimeUnixNano"),
        (bad(startTimeUnixNano="yesterday"), f"{SPAN_1}.startTimeUnixNano"),
        (bad(startTimeUnixNano=str(10**20)), f"{SPAN_1}.startTimeUnixNano"),
        (bad(endTimeUnixNano=True), f"{SPAN_1}.endTimeUnixNano"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [span(TOOL, "ok", {}), "x"]}]}]}, SPAN_1),
    ],
)
def test_bad_record_names_the_field(record: dict[str, Any], field_name: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse(record)
    assert caught.value.field == field_name


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(RecordError):
        OtelTraceSource().parse([], position="test:1", raw="[]")


def test_each_span_is_a_record_and_a_bad_one_goes_alone() -> None:
    good, broken = bad(traceId="zz")["resourceSpans"][0]["scopeSpans"][0]["spans"]
    resource = {"attributes": attributes({"service.name": "api"})}
    request = {
        "note": "kept",
        "resourceSpans": [
            {
                "resource": resource,
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                "scopeSpans": [
                    {"scope": {"name": "a"}, "spans": [good, broken]},
                    {"scope": {"name": "b"}, "spans": [], "schemaUrl": "empty"},
                    {"scope": {"name": "c"}, "spans": ["not a span"]},
                ],
            },
            "not a resource",
        ],
    }
    items = list(frame_lines(OtelTraceSource(), [orjson.dumps(request).decode()], "t.jsonl"))
    assert [i.position for i in items if isinstance(i, Framed)] == [
        "t.jsonl:1[0]",
        "t.jsonl:1[1]",
        "t.jsonl:1[2]",
    ]
    first, second, third = (i for i in items if isinstance(i, Framed))
    assert first.record == {
        "note": "kept",
        "resourceSpans": [
            {
                "resource": resource,
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                "scopeSpans": [{"scope": {"name": "a"}, "spans": [good]}],
            }
        ],
    }
    source = OtelTraceSource()
    assert len(source.parse(first.record, position=first.position, raw=first.raw)) == 1
    for item, field_name in ((second, f"{SPAN_0}.traceId"), (third, SPAN_0)):
        with pytest.raises(RecordError) as caught:
            source.parse(item.record, position=item.position, raw=item.raw)
        assert caught.value.field == field_name
    # What is no export request stays one record, for the parser to name what is wrong.
    documents: list[Any] = [{"resourceSpans": {"spans": []}}, {"traceId": TRACE_ID}, []]
    for document in documents:
        assert source.unwrap(document) is None
    assert source.unwrap({"resourceSpans": []}) == []


SPAN_0 = "resourceSpans[0].scopeSpans[0].spans[0]"
