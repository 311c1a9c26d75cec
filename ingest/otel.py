"""OpenTelemetry traces: OTLP/JSON ``ExportTraceServiceRequest`` documents, one per line or file.

Each span of an export request is a record of its own: a one-span request that keeps the
span's resource and scope, at ``file:line[i]`` for the request's i-th span. An exporter
batches spans as it likes (the SDK up to 512 a request), so a span keyed by its whole request
would carry every other span along in its raw record (n spans, n² bytes), change its event id
with the batch it came in, and be dead-lettered with its neighbours' mistakes.

One event per span. The GenAI and MCP semantic conventions say what a span did:
``invoke_agent`` starts an agent's work, ``execute_tool`` and MCP ``tools/call`` are tool
calls, other ``mcp.method.name`` spans are MCP traffic; any other span is kept as an API call
under its operation or span name. Every span carries its trace id, so the spans of one agent
run share a key with each other and with MCP and gateway traffic that propagated the same
``traceparent``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import orjson

from ingest.base import MAX_TIME, MIN_TIME, Source, require_object
from ingest.fields import add_key, obj, put, text
from kernel.errors import RecordError
from kernel.events import (
    API_CALL,
    FAILURE,
    KEY_MCP_RPC,
    KEY_MCP_SESSION,
    KEY_TRACE,
    MCP_MESSAGE,
    SUCCESS,
    TOOL_CALL,
    UNKNOWN,
    Event,
    canonical_json,
)
from kernel.vocabulary import ATTR_ARGUMENTS, ATTR_INTENT_SOURCE, INTENT_OTEL_AGENT

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEX = frozenset("0123456789abcdef")
_INTENT_LIMIT = 500
_DETAIL_LIMIT = 500
# OTLP/JSON writes enums as integers; some exporters write the proto names instead.
_SPAN_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_SPAN_KIND_NAMES = {f"SPAN_KIND_{name.upper()}": code for code, name in _SPAN_KINDS.items()}


def _value(any_value: Any) -> Any:
    """The Python value of an OTLP ``AnyValue`` (``{"stringValue": ...}`` and friends)."""
    value = obj(any_value)
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:  # int64: a decimal string in OTLP/JSON, a number from some
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return None
    if "boolValue" in value:
        return value["boolValue"]
    if "doubleValue" in value:
        return value["doubleValue"]
    if "arrayValue" in value:
        return [_value(v) for v in _list(obj(value["arrayValue"]).get("values"))]
    if "kvlistValue" in value:
        return _attributes(obj(value["kvlistValue"]).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]  # base64 text: kept as written
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _attributes(items: Any) -> dict[str, Any]:
    """An OTLP ``KeyValue`` list as a dict; entries without a string key are skipped."""
    found: dict[str, Any] = {}
    for item in _list(items):
        entry = obj(item)
        key = text(entry.get("key"))
        if key is not None:
            found[key] = _value(entry.get("value"))
    return found


def _id(value: Any, size: int, field: str) -> str:
    """A trace (16 bytes) or span (8 bytes) id as lowercase hex.

    OTLP/JSON writes ids as hex; the generic protobuf JSON mapping, which some exporters
    use, writes base64. The two never collide: base64 of 16 bytes is 24 characters.
    """
    found = text(value)
    if found is None:
        raise RecordError("required field is missing", field=field)
    lowered = found.lower()
    if len(lowered) == 2 * size and _HEX.issuperset(lowered):
        hex_id = lowered
    else:
        try:
            decoded = base64.b64decode(found, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RecordError(f"not a hex or base64 id: {found!r}", field=field) from exc
        if len(decoded) != size:
            raise RecordError(f"expected a {size}-byte id, got {found!r}", field=field)
        hex_id = decoded.hex()
    # All zeros is the spec's "invalid" id: keying on it would join every broken span.
    if hex_id == "0" * (2 * size):
        raise RecordError("all-zero id is invalid", field=field)
    return hex_id


def _nanos(value: Any, field: str) -> int | None:
    if value is None or value in ("", "0", 0):
        return None  # 0 is OTLP's "unset"
    if isinstance(value, bool):
        raise RecordError(f"expected nanoseconds, got {value!r}", field=field)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"expected nanoseconds, got {value!r}", field=field) from exc


def _time(value: Any, field: str) -> datetime:
    nanos = _nanos(value, field)
    if nanos is None:
        raise RecordError("required field is missing", field=field)
    try:
        when = _EPOCH + timedelta(microseconds=nanos // 1000)
    except OverflowError as exc:
        raise RecordError(f"timestamp {value!r} is out of range", field=field) from exc
    if not MIN_TIME <= when <= MAX_TIME:
        raise RecordError(f"timestamp {value!r} is outside 1900–2299", field=field)
    return when


def _enum(value: Any, names: Mapping[str, int]) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return names.get(value, 0) if isinstance(value, str) else 0


def _spans(request: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], Mapping[str, Any]]]:
    """(path, resource attributes, span) for every span of an export request."""
    resource_spans = request.get("resourceSpans")
    if not isinstance(resource_spans, list):
        raise RecordError("expected a list of resource spans", field="resourceSpans")
    for r, item in enumerate(resource_spans):
        resource_span = obj(item)
        resource = _attributes(obj(resource_span.get("resource")).get("attributes"))
        for s, scope_item in enumerate(_list(resource_span.get("scopeSpans"))):
            for n, span in enumerate(_list(obj(scope_item).get("spans"))):
                path = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                if not isinstance(span, dict):
                    raise RecordError("expected a span object", field=path)
                yield path, resource, span


def _text_value(value: Any) -> str | None:
    """A string attribute as is; a structured one as canonical JSON."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else canonical_json(value)


def first_user_text(messages: Any) -> str | None:
    """The text of the first user message of ``gen_ai.input.messages``, at most 500 chars.

    Semconv writes the messages as a JSON string on spans (structured where the SDK can):
    ``[{"role", "parts": [{"type": "text", "content"}, ...]}]``; older instrumentations
    wrote ``{"role", "content"}``. Anything else is no intent, not a bad record.
    """
    if isinstance(messages, str):
        try:
            messages = orjson.loads(messages)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(messages, list):
        return None
    for message in messages:
        entry = obj(message)
        if entry.get("role") != "user":
            continue
        content = text(entry.get("content"))
        parts = entry.get("parts")
        if content is None and isinstance(parts, list):
            texts = [text(obj(p).get("content")) for p in parts if obj(p).get("type") == "text"]
            content = "\n".join(t for t in texts if t) or None
        return content[:_INTENT_LIMIT] if content else None
    return None


def _without(value: Mapping[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != field}


def one_span_requests(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A one-span export request for every span of ``request``, each with every other field
    of the levels above it (resource, scope, schema URLs, anything unknown) kept as written.

    The spans are those ``_spans`` reads, in its order; a span that is not an object still
    gets its request, for the parser to refuse alone.
    """
    outer = _without(request, "resourceSpans")
    found = []
    for item in _list(request.get("resourceSpans")):
        resource_span = obj(item)
        resource_level = _without(resource_span, "scopeSpans")
        for scope_item in _list(resource_span.get("scopeSpans")):
            scope_level = _without(obj(scope_item), "spans")
            for span in _list(obj(scope_item).get("spans")):
                scope = {**scope_level, "spans": [span]}
                found.append(
                    {**outer, "resourceSpans": [{**resource_level, "scopeSpans": [scope]}]}
                )
    return found


class OtelTraceSource(Source):
    name: ClassVar[str] = "otel"

    def unwrap(self, document: Any) -> list[Any] | None:
        """One record per span (see the module's docstring); a document that is no export
        request stays one record, for ``parse`` to refuse naming the field."""
        if not isinstance(document, dict) or not isinstance(document.get("resourceSpans"), list):
            return None
        return one_span_requests(document)

    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        request = require_object(record)
        return [
            self._span_event(span, resource, path, position=position, raw=raw)
            for path, resource, span in _spans(request)
        ]

    def _span_event(
        self,
        span: Mapping[str, Any],
        resource: Mapping[str, Any],
        path: str,
        *,
        position: str,
        raw: str,
    ) -> Event:
        trace_id = _id(span.get("traceId"), 16, f"{path}.traceId")
        span_id = _id(span.get("spanId"), 8, f"{path}.spanId")
        start = _time(span.get("startTimeUnixNano"), f"{path}.startTimeUnixNano")
        end = _nanos(span.get("endTimeUnixNano"), f"{path}.endTimeUnixNano")
        attrs = _attributes(span.get("attributes"))
        operation_name = text(attrs.get("gen_ai.operation.name"))
        method = text(attrs.get("mcp.method.name"))
        session = _text_value(attrs.get("mcp.session.id"))
        rpc_id = _text_value(attrs.get("jsonrpc.request.id"))

        keys: list[tuple[str, str]] = [(KEY_TRACE, trace_id)]
        add_key(keys, KEY_MCP_SESSION, session)
        if session and rpc_id:
            add_key(keys, KEY_MCP_RPC, f"{session}:{rpc_id}")

        attributes: dict[str, str] = {"span_id": span_id}
        parent = text(span.get("parentSpanId"))
        if parent is not None:
            attributes["parent_span_id"] = _id(parent, 8, f"{path}.parentSpanId")
        put(attributes, "span_name", text(span.get("name")))
        put(attributes, "span_kind", _SPAN_KINDS.get(_enum(span.get("kind"), _SPAN_KIND_NAMES)))
        put(attributes, "conversation_id", _text_value(attrs.get("gen_ai.conversation.id")))
        put(attributes, "rpc_id", rpc_id)
        put(attributes, "model", text(attrs.get("gen_ai.request.model")))
        if end is not None:
            attributes["end_time_unix_nano"] = str(end)

        tool = text(attrs.get("gen_ai.tool.name"))
        if operation_name == "execute_tool" or method == "tools/call":
            kind, operation = TOOL_CALL, method or "execute_tool"
            put(attributes, "tool", tool)
            put(attributes, ATTR_ARGUMENTS, _text_value(attrs.get("gen_ai.tool.call.arguments")))
            put(attributes, "tool_call_id", _text_value(attrs.get("gen_ai.tool.call.id")))
        elif method is not None:
            kind, operation = MCP_MESSAGE, method
        else:
            kind = API_CALL
            operation = operation_name or text(span.get("name")) or "span"

        event = Event(
            event_id=self.event_id(raw, suffix=span_id),
            source=self.name,
            kind=kind,
            event_time=start,
            operation=operation,
            position=position,
            raw=raw,
            principal=text(attrs.get("user.id")) or text(attrs.get("enduser.id")),
            agent_name=text(attrs.get("gen_ai.agent.name")),
            agent_version=text(attrs.get("gen_ai.agent.version")),
            agent_instance=_text_value(attrs.get("gen_ai.agent.id")),
            service=text(resource.get("service.name")),
            resource=tool
            or text(attrs.get("mcp.resource.uri"))
            or text(attrs.get("gen_ai.prompt.name")),
            keys=keys,
            attributes=attributes,
            source_id=span_id,  # lowercase hex, as trace backends show it
        )
        if operation_name == "invoke_agent":
            # Client-asserted: the prompt the agent was given is evidence of intent, never
            # of authorization (the same footing as MCP's aiInvocation userIntent).
            event.intent = first_user_text(attrs.get("gen_ai.input.messages"))
            if event.intent:
                event.attributes[ATTR_INTENT_SOURCE] = INTENT_OTEL_AGENT
        event.outcome, event.outcome_detail = _outcome(span, attrs, end)
        return event


def _outcome(
    span: Mapping[str, Any], attrs: Mapping[str, Any], end: int | None
) -> tuple[str, str | None]:
    status = obj(span.get("status"))
    code = _enum(status.get("code"), _STATUS_NAMES)
    error_type = _text_value(attrs.get("error.type"))
    # Semconv sets error.type on a failed operation even where the status is left unset.
    if code == 2 or error_type is not None:
        detail = text(status.get("message")) or error_type
        return FAILURE, detail[:_DETAIL_LIMIT] if detail else None
    if code == 1 or end is not None:
        return SUCCESS, None
    return UNKNOWN, None
