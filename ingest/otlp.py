"""OTLP/HTTP trace exports: from the body an exporter sends to the OTLP/JSON document that
``ingest.otel`` reads, and back to the answer the exporter expects.

OpenTelemetry SDKs and collectors ``POST /v1/traces`` an ``ExportTraceServiceRequest`` as
protobuf (``application/x-protobuf``, their default) or OTLP/JSON (``application/json``),
either possibly gzip. A protobuf request becomes the document an OTLP/JSON exporter would
have sent for the same spans, so one span has one record, and one event id, whichever
encoding carried it. Everything after the document (framing, redaction, parsing, dead
letters) is the path ``agentledger ingest --source otel`` takes.

The OTLP/HTTP specification fixes the answers: 200 with an ``ExportTraceServiceResponse``
(``partial_success`` when spans were rejected), 400 for a body that is no request, 415 for a
content type or encoding not spoken, 413 for a body over the limit, each error a
``google.rpc.Status`` in the request's encoding.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, ClassVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import code_pb2
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ingest.pipeline import IngestReport
from kernel.errors import LedgerError

TRACES_PATH = "/v1/traces"
JSON_TYPES = frozenset({"application/json"})
PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
# The bytes fields OTLP/JSON writes as hex where the protobuf JSON mapping writes base64.
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
# google.rpc.Status codes for the HTTP answers (the spec lets clients ignore them; logs don't).
_STATUS_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.UNIMPLEMENTED,
    503: code_pb2.UNAVAILABLE,
}
_REASONS_SHOWN = 3


class OtlpRequestError(LedgerError):
    """A request the receiver refuses whole; ``http_status`` is the answer OTLP/HTTP gives."""

    http_status: ClassVar[int] = 400


class UndecodableRequest(OtlpRequestError):
    """The body is not an ``ExportTraceServiceRequest`` in the encoding it claims."""


class UnsupportedMedia(OtlpRequestError):
    """A ``Content-Type`` or ``Content-Encoding`` the receiver does not speak."""

    http_status = 415


class RequestTooLarge(OtlpRequestError):
    """The body, as sent or decompressed, is over the limit (a gzip bomb is stopped here)."""

    http_status = 413


def media_type(content_type: str | None) -> str:
    """The request's media type, lowercased and without parameters such as ``charset``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES | PROTOBUF_TYPES:
        raise UnsupportedMedia(
            f"Content-Type {content_type or '(none)'!r} is not supported: send "
            "application/x-protobuf or application/json"
        )
    return media


def is_protobuf(media: str) -> bool:
    return media in PROTOBUF_TYPES


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body as encoded before ``Content-Encoding`` (gzip, deflate or none), at most
    ``limit`` bytes: decompression stops there rather than fill memory."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding == "gzip":
        return _inflate(body, 16 + zlib.MAX_WBITS, coding, limit)
    if coding == "deflate":
        return _inflate(body, zlib.MAX_WBITS, coding, limit)
    raise UnsupportedMedia(
        f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or none"
    )


def _inflate(body: bytes, wbits: int, coding: str, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    pending = body
    while pending:  # gzip allows several members one after another
        inflater = zlib.decompressobj(wbits)
        try:
            part = inflater.decompress(pending, limit + 1 - size)
        except zlib.error as exc:
            raise UndecodableRequest(f"the body is not valid {coding}: {exc}") from exc
        size += len(part)
        if size > limit:
            raise RequestTooLarge(f"the body is over {limit} bytes once decompressed")
        if not inflater.eof:
            raise UndecodableRequest(f"the {coding} body is truncated")
        parts.append(part)
        pending = inflater.unused_data
    return b"".join(parts)


def decode_body(body: bytes, media: str, encoding: str | None, limit: int) -> dict[str, Any]:
    """The OTLP/JSON document of a request body as sent, ``Content-Encoding`` undone."""
    return decode_request(decompress(body, encoding, limit), media)


def decode_request(body: bytes, media: str) -> dict[str, Any]:
    """The OTLP/JSON document of a decompressed request body of type ``media``."""
    return from_protobuf(body) if is_protobuf(media) else from_json(body)


def from_json(body: bytes) -> dict[str, Any]:
    """An OTLP/JSON request as sent: ``ingest.otel`` reads it as it reads a file's."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UndecodableRequest(f"invalid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise UndecodableRequest(
            f"expected an ExportTraceServiceRequest object, got {type(document).__name__}"
        )
    # An empty request may leave the list out, as protobuf's JSON mapping does.
    if not isinstance(document.setdefault("resourceSpans", []), list):
        raise UndecodableRequest("resourceSpans: expected a list of resource spans")
    return document


def from_protobuf(body: bytes) -> dict[str, Any]:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise UndecodableRequest(f"not a protobuf ExportTraceServiceRequest: {exc}") from exc
    return document_of(request)


def document_of(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """The OTLP/JSON document an OTLP/JSON exporter writes for ``request``.

    Protobuf's JSON mapping gives what OTLP/JSON asks for (lowerCamelCase names, int64 as
    decimal strings, fields left at their default omitted) but for two things: enums
    (``kind``, ``status.code``) are asked for as integers, and trace and span ids come out
    base64 where OTLP/JSON writes hex. Both are turned here; other bytes (``bytesValue``)
    stay base64 in OTLP/JSON too.
    """
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document.setdefault("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                _hex_ids(span)
                for link in span.get("links", []):
                    _hex_ids(link)
    return document


def _hex_ids(entry: dict[str, Any]) -> None:
    for field in _ID_FIELDS:
        if field in entry:
            entry[field] = base64.b64decode(entry[field]).hex()


def rejection_message(report: IngestReport) -> str:
    """What ``partial_success.error_message`` tells the exporter: how many spans were
    refused, why, and where the first of each reason was (its dead letter says more)."""
    total = report.accepted + report.rejected
    reasons = [
        f"{reason} ({count}x, first at {report.examples[reason]})"
        for reason, count in report.reasons.most_common(_REASONS_SHOWN)
    ]
    more = len(report.reasons) - _REASONS_SHOWN
    if more > 0:
        reasons.append(f"{more} more reasons")
    return f"{report.rejected} of {total} spans rejected: " + "; ".join(reasons)


def export_response(report: IngestReport, media: str) -> bytes:
    """The ``ExportTraceServiceResponse``; empty when every span was taken."""
    response = ExportTraceServiceResponse()
    if report.rejected:
        response.partial_success.rejected_spans = report.rejected
        response.partial_success.error_message = rejection_message(report)
    return _encode(response, media)


def error_body(http_status: int, message: str, media: str) -> bytes:
    """A refusal as the ``google.rpc.Status`` OTLP/HTTP asks for."""
    status = Status(code=_STATUS_CODES.get(http_status, code_pb2.UNKNOWN), message=message)
    return _encode(status, media)


def _encode(message: Any, media: str) -> bytes:
    if is_protobuf(media):
        return bytes(message.SerializeToString())
    return orjson.dumps(json_format.MessageToDict(message))
