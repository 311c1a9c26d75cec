"""OTLP/HTTP bodies: protobuf to the OTLP/JSON document ``ingest.otel`` reads, content types
and encodings, and the answers the exporter gets."""

from __future__ import annotations

import base64
import gzip
import zlib
from collections import Counter
from dataclasses import asdict
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.proto.trace.v1.trace_pb2 import Status as SpanStatus

from ingest.framing import Framed, frame_value
from ingest.otel import OtelTraceSource
from ingest.otlp import (
    RequestTooLarge,
    UndecodableRequest,
    UnsupportedMedia,
    decode_request,
    decompress,
    document_of,
    error_body,
    export_response,
    from_json,
    media_type,
)
from ingest.pipeline import IngestReport
from kernel.events import Event, canonical_json
from tests.unit.test_otel import MCP_CALL, ROOT, START, TOOL, TRACE_ID, agent_run

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
LIMIT = 1 << 20


def _as_protobuf(document: dict[str, Any]) -> ExportTraceServiceRequest:
    """An OTLP/JSON document as the protobuf message an SDK sends: protobuf's JSON mapping
    with the ids turned from OTLP/JSON's hex to the mapping's base64."""
    copy = orjson.loads(orjson.dumps(document))
    for resource_spans in copy["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for field in ("traceId", "spanId", "parentSpanId"):
                    span[field] = base64.b64encode(bytes.fromhex(span.get(field, ""))).decode()
    return json_format.ParseDict(copy, ExportTraceServiceRequest())


def _events(document: dict[str, Any], name: str) -> list[Event]:
    source = OtelTraceSource()
    events = []
    for item in frame_value(source, document, name):
        assert isinstance(item, Framed)
        events += source.parse(item.record, position=item.position, raw=item.raw)
    return events


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def test_a_protobuf_request_becomes_the_document_otlp_json_writes() -> None:
    trace = bytes.fromhex(TRACE_ID)
    span = Span(
        trace_id=trace,
        span_id=bytes.fromhex(TOOL),
        parent_span_id=bytes.fromhex(ROOT),
        name="execute_tool get_weather",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=START,
        end_time_unix_nano=START + 5,
        attributes=[
            _kv("gen_ai.tool.name", AnyValue(string_value="get_weather")),
            _kv("retries", AnyValue(int_value=3)),
            _kv("blob", AnyValue(bytes_value=b"\x00\x01")),
        ],
        status=SpanStatus(code=SpanStatus.STATUS_CODE_ERROR, message="boom"),
        links=[Span.Link(trace_id=trace, span_id=bytes.fromhex(MCP_CALL))],
        flags=0x100,
    )
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    scope_spans.scope.name = "agent"
    scope_spans.spans.append(span)
    root = scope_spans.spans.add(trace_id=trace, span_id=bytes.fromhex(ROOT), name="root")
    root.start_time_unix_nano = START

    assert document_of(request) == {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "scope": {"name": "agent"},
                        "spans": [
                            {
                                "traceId": TRACE_ID,  # hex, not protobuf JSON's base64
                                "spanId": TOOL,
                                "parentSpanId": ROOT,
                                "name": "execute_tool get_weather",
                                "kind": 3,  # enums as integers
                                "startTimeUnixNano": str(START),  # int64 as a string
                                "endTimeUnixNano": str(START + 5),
                                "attributes": [
                                    {
                                        "key": "gen_ai.tool.name",
                                        "value": {"stringValue": "get_weather"},
                                    },
                                    {"key": "retries", "value": {"intValue": "3"}},
                                    # bytes values stay base64 in OTLP/JSON too
                                    {"key": "blob", "value": {"bytesValue": "AAE="}},
                                ],
                                "status": {"code": 2, "message": "boom"},
                                "links": [{"traceId": TRACE_ID, "spanId": MCP_CALL}],
                                "flags": 256,
                            },
                            # a root span: no parent id, not an empty one
                            {
                                "traceId": TRACE_ID,
                                "spanId": ROOT,
                                "name": "root",
                                "startTimeUnixNano": str(START),
                            },
                        ],
                    }
                ]
            }
        ]
    }


def test_protobuf_and_json_of_one_request_give_the_same_events() -> None:
    document = agent_run('[{"role": "user", "content": "Weather in Paris?"}]')
    body = _as_protobuf(document).SerializeToString()
    from_json_events = _events(from_json(orjson.dumps(document)), "json")
    from_protobuf_events = _events(decode_request(body, PROTOBUF), "protobuf")
    assert len(from_json_events) == 4

    def meaning(event: Event) -> dict[str, Any]:
        # The JSON fixture writes the defaults protobuf leaves out ("parentSpanId": ""), so
        # raw text and event ids differ; what the events say does not.
        fields = asdict(event)
        return {k: v for k, v in fields.items() if k not in ("event_id", "raw", "position")}

    assert [meaning(e) for e in from_protobuf_events] == [meaning(e) for e in from_json_events]
    assert from_protobuf_events[0].intent == "Weather in Paris?"


def test_one_span_keeps_its_event_id_whichever_encoding_and_batch_carried_it() -> None:
    # An OTLP/JSON exporter leaves defaults out as protobuf does: then both are one record.
    document = document_of(_as_protobuf(agent_run("[]")))
    body = _as_protobuf(document).SerializeToString()
    by_json = _events(from_json(orjson.dumps(document)), "a")
    by_protobuf = _events(decode_request(gzip.decompress(gzip.compress(body)), PROTOBUF), "b")
    assert [e.event_id for e in by_protobuf] == [e.event_id for e in by_json]
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    document["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans[2:3]
    [alone] = _events(decode_request(_as_protobuf(document).SerializeToString(), PROTOBUF), "c")
    assert alone.event_id == by_json[2].event_id


@pytest.mark.parametrize(
    ("content_type", "media"),
    [
        ("application/x-protobuf", PROTOBUF),
        ("application/protobuf", "application/protobuf"),
        ("Application/JSON; charset=utf-8", JSON),
    ],
)
def test_the_content_types_spoken(content_type: str, media: str) -> None:
    assert media_type(content_type) == media


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/grpc"])
def test_other_content_types_are_refused_with_415(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMedia) as caught:
        media_type(content_type)
    assert caught.value.http_status == 415
    assert "application/x-protobuf or application/json" in str(caught.value)


def test_gzip_deflate_and_none() -> None:
    body = b'{"resourceSpans": []}'
    assert decompress(body, None, LIMIT) == body
    assert decompress(body, "identity", LIMIT) == body
    assert decompress(gzip.compress(body), "gzip", LIMIT) == body
    assert decompress(gzip.compress(body) + gzip.compress(b" "), "GZIP", LIMIT) == body + b" "
    assert decompress(zlib.compress(body), "deflate", LIMIT) == body
    with pytest.raises(UnsupportedMedia, match="Content-Encoding 'br'"):
        decompress(body, "br", LIMIT)


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\x00" * (LIMIT * 8))
    assert len(bomb) < LIMIT // 100
    with pytest.raises(RequestTooLarge) as caught:
        decompress(bomb, "gzip", LIMIT)
    assert caught.value.http_status == 413
    assert decompress(gzip.compress(b"\x00" * LIMIT), "gzip", LIMIT) == b"\x00" * LIMIT


def test_a_broken_compressed_body_is_a_400_saying_why() -> None:
    whole = gzip.compress(b'{"resourceSpans": []}')
    with pytest.raises(UndecodableRequest, match="truncated") as caught:
        decompress(whole[:-12], "gzip", LIMIT)
    assert caught.value.http_status == 400
    with pytest.raises(UndecodableRequest, match="not valid gzip"):
        decompress(b"plain text", "gzip", LIMIT)


@pytest.mark.parametrize(
    ("body", "media", "reason"),
    [
        (b"{not json", JSON, "invalid JSON"),
        (b"[]", JSON, "expected an ExportTraceServiceRequest object, got list"),
        (b'{"resourceSpans": {}}', JSON, "resourceSpans: expected a list"),
        (b"\xff\xff\xff\xff", PROTOBUF, "not a protobuf ExportTraceServiceRequest"),
        (b'{"resourceSpans": []}', PROTOBUF, "not a protobuf ExportTraceServiceRequest"),
    ],
)
def test_a_body_that_is_no_request_is_a_400_naming_why(
    body: bytes, media: str, reason: str
) -> None:
    with pytest.raises(UndecodableRequest, match=reason):
        decode_request(body, media)


def test_an_empty_request_is_a_request_without_spans() -> None:
    assert decode_request(b"", PROTOBUF) == {"resourceSpans": []}
    assert decode_request(b"{}", JSON) == {"resourceSpans": []}
    assert list(frame_value(OtelTraceSource(), {"resourceSpans": []}, "empty")) == []


def _report(accepted: int, rejected: list[tuple[str, str]]) -> IngestReport:
    report = IngestReport(accepted=accepted, rejected=len(rejected))
    report.reasons = Counter(reason for reason, _ in rejected)
    for reason, position in rejected:
        report.examples.setdefault(reason, position)
    return report


def test_a_full_success_is_an_empty_response_in_the_request_encoding() -> None:
    assert export_response(_report(3, []), JSON) == b"{}"
    assert export_response(_report(3, []), PROTOBUF) == b""


def test_a_partial_success_says_how_many_spans_and_why() -> None:
    report = _report(
        2,
        [
            ("traceId: all-zero id is invalid", "otel otlp-http key:c[1]"),
            ("traceId: all-zero id is invalid", "otel otlp-http key:c[3]"),
            ("startTimeUnixNano: required field is missing", "otel otlp-http key:c[4]"),
        ],
    )
    message = (
        "3 of 5 spans rejected: traceId: all-zero id is invalid (2x, first at otel "
        "otlp-http key:c[1]); startTimeUnixNano: required field is missing (1x, first at "
        "otel otlp-http key:c[4])"
    )
    assert orjson.loads(export_response(report, JSON)) == {
        "partialSuccess": {"rejectedSpans": "3", "errorMessage": message}
    }
    response = ExportTraceServiceResponse.FromString(export_response(report, PROTOBUF))
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message == message


def test_errors_are_a_google_rpc_status() -> None:
    status = Status.FromString(error_body(400, "invalid JSON", PROTOBUF))
    assert (status.code, status.message) == (3, "invalid JSON")  # INVALID_ARGUMENT
    assert orjson.loads(error_body(401, "a credential is required", JSON)) == {
        "code": 16,  # UNAUTHENTICATED
        "message": "a credential is required",
    }


def test_canonical_json_of_the_converted_document_is_stable() -> None:
    request = _as_protobuf(agent_run("[]"))
    once = canonical_json(document_of(request))
    decoded = ExportTraceServiceRequest.FromString(request.SerializeToString())
    assert canonical_json(document_of(decoded)) == once
