"""Envoy (API gateway) access logs: the JSON formatter, or the default text line.

JSON access logs use the keys most deployments configure (Istio's and Envoy's examples):
``start_time``, ``method``, ``path``, ``protocol``, ``response_code``, ``response_flags``,
``bytes_received``, ``bytes_sent``, ``duration``, ``upstream_service_time``,
``x_forwarded_for``, ``user_agent``, ``request_id``, ``authority``, ``upstream_host``,
``upstream_cluster``, plus the ``traceparent`` / ``x-b3-traceid`` and ``authorization``
request headers where configured. Framing has already replaced the bearer token by its
fingerprint and claims, which give the same token keys as MCP traffic carrying it.

The default text format reaches ``parse`` inside a container log line
(``{"message": "[...] \\"GET / HTTP/1.1\\" 200 ...", "stream", "time"}``, as Docker and
Kubernetes write it); ``parse_text_line`` reads the bare line into the JSON shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from ingest.base import Source, parse_time, require, require_object
from ingest.fields import add_key, apply_token_claims, obj, put, text
from kernel.errors import RecordError
from kernel.events import (
    API_CALL,
    FAILURE,
    KEY_JTI,
    KEY_TOKEN_FP,
    KEY_TRACE,
    KEY_TXN,
    SUCCESS,
    UNKNOWN,
    Event,
)
from kernel.tokens import fingerprint_of, scopes_of

_HEX = frozenset("0123456789abcdef")
_ABSENT = frozenset({"", "-"})  # Envoy writes "-" for a value it does not have
_DETAIL_LIMIT = 500

# Envoy's default format; Ambassador prefixes "ACCESS ". Quoted fields are matched lazily
# so that a user agent with a quote in it still parses (Envoy does not escape them).
_TEXT_LINE = re.compile(
    r"""^(?:ACCESS\s+)?\[(?P<start_time>[^\]]+)\]\s+
    "(?P<method>\S+)\s(?P<path>\S+)\s(?P<protocol>\S+)"\s+
    (?P<response_code>\d+)\s+(?P<response_flags>\S+)\s+
    (?P<bytes_received>\d+)\s+(?P<bytes_sent>\d+)\s+(?P<duration>\d+|-)\s+
    (?P<upstream_service_time>\S+)\s+
    "(?P<x_forwarded_for>.*?)"\s+"(?P<user_agent>.*?)"\s+"(?P<request_id>.*?)"\s+
    "(?P<authority>.*?)"\s+"(?P<upstream_host>.*?)"\s*$""",
    re.VERBOSE,
)
_TEXT_NUMBERS = ("response_code", "bytes_received", "bytes_sent", "duration")
# Optional counters copied to attributes, by JSON key → attribute name.
_COUNTERS = {
    "bytes_received": "bytes_received",
    "bytes_sent": "bytes_sent",
    "duration": "duration_ms",
    "upstream_service_time": "upstream_service_time_ms",
}


def parse_text_line(line: str) -> dict[str, Any]:
    """One default-format text line as the JSON formatter's keys; ``-`` fields are left out."""
    match = _TEXT_LINE.match(line.strip())
    if match is None:
        raise RecordError("not an Envoy default-format access log line", field="message")
    entry: dict[str, Any] = {}
    for name, value in match.groupdict().items():
        if value in _ABSENT:
            continue
        entry[name] = int(value) if name in _TEXT_NUMBERS else value
    return entry


def _field(entry: Mapping[str, Any], *names: str) -> str | None:
    """The first present value among ``names`` as text (numbers too); ``-`` is absent."""
    for name in names:
        value = entry.get(name)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, str) and value not in _ABSENT:
            return value
    return None


def _response_code(entry: dict[str, Any]) -> int:
    """Envoy's status (0 when no response was sent): at most three ASCII digits, so a string
    of ten thousand zeros or a superscript digit is a bad field, not a crash."""
    value = require(entry, "response_code")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 999:
        return value
    if isinstance(value, str) and 0 < len(value) <= 3 and value.isascii() and value.isdigit():
        return int(value)
    raise RecordError(f"expected an HTTP status code, got {value!r}", field="response_code")


def _trace_id(entry: Mapping[str, Any]) -> str | None:
    """From W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``) or B3."""
    traceparent = _field(entry, "traceparent")
    if traceparent is not None:
        parts = traceparent.strip().lower().split("-")
        if len(parts) >= 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
            return _hex_trace(parts[1])
    b3 = _field(entry, "x-b3-traceid", "x_b3_traceid")
    single = _field(entry, "b3")  # b3: {traceid}-{spanid}[-{sampled}[-{parent}]]
    if b3 is None and single is not None:
        b3 = single.split("-", 1)[0]
    return _hex_trace(b3.strip().lower()) if b3 is not None else None


def _hex_trace(value: str) -> str | None:
    # B3 allows 64-bit ids; OpenTelemetry's B3 propagator left-pads them to 128 bits, so
    # padding here gives the trace id the spans of the same request carry.
    if len(value) == 16:
        value = "0" * 16 + value
    # All zeros is the spec's "invalid" trace id: keying on it would join everything.
    if len(value) != 32 or not _HEX.issuperset(value) or value == "0" * 32:
        return None
    return value


def _outcome(entry: Mapping[str, Any], code: int) -> tuple[str, str | None]:
    flags = _field(entry, "response_flags")
    if 100 <= code < 400:
        return SUCCESS, None
    # 0: no HTTP response was sent (a TCP proxy connection, or the client went away);
    # only a response flag (UF upstream failure, NR no route, ...) says that it failed.
    if code == 0 and flags is None:
        return UNKNOWN, None
    parts = (str(code), flags, _field(entry, "response_code_details"))
    return FAILURE, " ".join(p for p in parts if p)[:_DETAIL_LIMIT]


class EnvoyAccessLogSource(Source):
    name: ClassVar[str] = "envoy"

    def frame_text(self, line: str) -> Any | None:
        # A default-format text line is carried as a container log line would carry it, so
        # that ``raw`` holds the exact line and one path parses both.
        return {"message": line} if _TEXT_LINE.match(line.strip()) else None

    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        entry = require_object(record)
        attributes = {"log_format": "json"}
        message = entry.get("message")
        if "start_time" not in entry and isinstance(message, str):
            # A container log line: the access log line is the "message".
            entry = parse_text_line(message)
            attributes["log_format"] = "text"
        event_time = parse_time(require(entry, "start_time"), "start_time")
        code = _response_code(entry)
        method = _field(entry, "method")
        path = _field(entry, "path")
        # The query string is left out of operation and resource: it varies per call (and
        # may carry credentials), the path is what names the API.
        route = path.split("?", 1)[0] if path is not None else None

        put(attributes, "protocol", _field(entry, "protocol"))
        attributes["response_code"] = str(code)
        put(attributes, "response_flags", _field(entry, "response_flags"))
        put(attributes, "response_code_details", _field(entry, "response_code_details"))
        for key, attribute in _COUNTERS.items():
            put(attributes, attribute, _field(entry, key))
        put(attributes, "forwarded_for", _field(entry, "x_forwarded_for", "x-forwarded-for"))
        put(attributes, "user_agent", _field(entry, "user_agent", "user-agent"))
        put(attributes, "upstream_host", _field(entry, "upstream_host"))
        put(attributes, "upstream_cluster", _field(entry, "upstream_cluster"))

        keys: list[tuple[str, str]] = []
        add_key(keys, KEY_TRACE, _trace_id(entry))
        # Redaction (ingest.framing) already replaced the bearer token by its fingerprint
        # and claims; a header that is still a plain string was not a token.
        authorization = obj(entry.get("authorization"))
        found_claims = authorization.get("claims")
        claims: dict[str, Any] = found_claims if isinstance(found_claims, dict) else {}
        add_key(keys, KEY_JTI, text(claims.get("jti")))
        add_key(keys, KEY_TOKEN_FP, fingerprint_of(authorization))
        add_key(keys, KEY_TXN, text(claims.get("txn")))

        event = Event(
            event_id=self.event_id(raw),
            source=self.name,
            kind=API_CALL,
            event_time=event_time,
            # "- - -" is a connection the tcp_proxy filter logged: no HTTP request in it.
            operation=f"{method} {route}" if method and route else "connection",
            position=position,
            raw=raw,
            principal=text(claims.get("sub")),
            client_id=text(claims.get("client_id")) or text(claims.get("cid")),
            service=_field(entry, "authority", ":authority"),
            resource=route,
            scopes=scopes_of(claims),
            keys=keys,
            attributes=attributes,
            # %REQ(X-REQUEST-ID)%: the id every hop and the application log for the request.
            source_id=_field(entry, "request_id", "x-request-id", "x_request_id") or "",
        )
        event.outcome, event.outcome_detail = _outcome(entry, code)
        apply_token_claims(event, claims)
        return [event]
