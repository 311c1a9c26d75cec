"""``POST /v1/traces`` over a receiver that records what it is given: the OTLP/HTTP answers
for each kind of request, before anything reaches a broker."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agentledger.api import build_api
from agentledger.auth import ApiKeys, Authenticator
from ingest.pipeline import IngestReport
from kernel.declaration import SessionDeclaration
from kernel.errors import StackError
from tests.unit.test_otel import ROOT, TRACE_ID, export, span

LIMIT = 64 * 1024
PROTOBUF = "application/x-protobuf"


class Receiver:
    """Takes documents as the stack would, answering with ``report`` (or failing)."""

    def __init__(self) -> None:
        self.documents: list[tuple[str, dict[str, Any]]] = []
        self.report = IngestReport()
        self.broker_down = False

    async def __call__(self, document: dict[str, Any], origin: str) -> IngestReport:
        if self.broker_down:
            raise StackError("the broker did not take the spans: KafkaConnectionError")
        self.documents.append((origin, document))
        return self.report


@pytest.fixture
def api(tmp_path: Path) -> tuple[TestClient, Receiver, dict[str, str]]:
    async def publish(_: SessionDeclaration) -> None:
        raise AssertionError("nothing is declared here")

    receiver = Receiver()
    keys = ApiKeys(tmp_path)
    key, _ = keys.create("collector", ["ingest"])
    app = build_api(
        publish,
        lambda: {},
        Authenticator(keys),
        receive_traces=receiver,
        otlp_max_body=LIMIT,
    )
    return TestClient(app), receiver, {"Authorization": f"Bearer {key}"}


def test_protobuf_in_protobuf_out(api: tuple[TestClient, Receiver, dict[str, str]]) -> None:
    client, receiver, auth = api
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(
        trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex(ROOT), name="root"
    )
    body = gzip.compress(request.SerializeToString())
    headers = {**auth, "Content-Type": PROTOBUF, "Content-Encoding": "gzip"}
    answer = client.post("/v1/traces", content=body, headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == PROTOBUF
    assert ExportTraceServiceResponse.FromString(answer.content) == ExportTraceServiceResponse()
    [(origin, document)] = receiver.documents
    assert origin == "/v1/traces key:collector"
    assert document["resourceSpans"][0]["scopeSpans"][0]["spans"] == [
        {"traceId": TRACE_ID, "spanId": ROOT, "name": "root"}
    ]


def test_rejected_spans_are_a_partial_success(
    api: tuple[TestClient, Receiver, dict[str, str]],
) -> None:
    client, receiver, auth = api
    receiver.report = IngestReport(accepted=1, rejected=1)
    reason = "resourceSpans[0].scopeSpans[0].spans[0].traceId: all-zero id is invalid"
    receiver.report.reasons = Counter({reason: 1})
    receiver.report.examples = {reason: "otel /v1/traces key:collector[1]"}
    body = orjson.dumps(export(span(ROOT, "a", {}), span(ROOT, "b", {})))
    answer = client.post(
        "/v1/traces", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert partial["errorMessage"] == (
        f"1 of 2 spans rejected: {reason} (1x, first at otel /v1/traces key:collector[1])"
    )


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({"Content-Type": "text/plain"}, b"{}", 415, "Content-Type 'text/plain'"),
        ({}, b"{}", 415, "Content-Type '(none)'"),
        (
            {"Content-Type": "application/json", "Content-Encoding": "br"},
            b"{}",
            415,
            "Content-Encoding 'br'",
        ),
        ({"Content-Type": "application/json"}, b"{oops", 400, "invalid JSON"),
        ({"Content-Type": PROTOBUF}, b"\xff\xff", 400, "not a protobuf"),
        (
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            gzip.compress(b"{}", mtime=0)[:-4],
            400,
            "truncated",
        ),
        ({"Content-Type": "application/json"}, b" " * (LIMIT + 1), 413, f"over {LIMIT} bytes"),
        (
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            gzip.compress(b" " * (LIMIT * 50), mtime=0),
            413,
            "once decompressed",
        ),
    ],
)
def test_a_request_refused_whole_says_why(
    api: tuple[TestClient, Receiver, dict[str, str]],
    headers: dict[str, str],
    body: bytes,
    status: int,
    message: str,
) -> None:
    client, receiver, auth = api
    answer = client.post("/v1/traces", content=body, headers={**auth, **headers})
    assert answer.status_code == status
    if headers.get("Content-Type") == PROTOBUF:
        assert message in Status.FromString(answer.content).message
    else:
        assert message in answer.json()["message"]
    assert receiver.documents == []


def test_a_broker_that_is_down_is_a_503_to_retry(
    api: tuple[TestClient, Receiver, dict[str, str]],
) -> None:
    client, receiver, auth = api
    receiver.broker_down = True
    answer = client.post(
        "/v1/traces", content=b"{}", headers={**auth, "Content-Type": "application/json"}
    )
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json() == {
        "code": 14,  # UNAVAILABLE
        "message": "the broker did not take the spans: KafkaConnectionError",
    }


def test_the_route_is_in_the_openapi_document(
    api: tuple[TestClient, Receiver, dict[str, str]],
) -> None:
    client, _, _ = api
    operation = client.get("/openapi.json").json()["paths"]["/v1/traces"]["post"]
    assert set(operation["requestBody"]["content"]) == {PROTOBUF, "application/json"}
