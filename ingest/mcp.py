"""MCP traffic: JSON-RPC 2.0 messages, bare or inside a capture envelope.

A capture envelope (one per line) is ``{"ts", "direction", "server", "headers", "message"}``
as written by a gateway or proxy; a bare message is what MCP servers log and what the spec
shows. Correlation comes from the ``Mcp-Session-Id`` header (spec 2025-11-25 and before),
W3C ``traceparent``, and the bearer token's claims (the spec of 2026-07-28 has no protocol
session); the server and the JSON-RPC id pair a result with its request (``KEY_MCP_RPC``,
never a link between sessions).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from ingest.base import Source, parse_time, require, require_object
from ingest.fields import add_key, apply_token_claims, obj, put, text
from kernel.errors import RecordError
from kernel.events import (
    FAILURE,
    KEY_JTI,
    KEY_MCP_RPC,
    KEY_MCP_SESSION,
    KEY_TOKEN_FP,
    KEY_TRACE,
    KEY_TXN,
    MCP_MESSAGE,
    PENDING,
    SUCCESS,
    TIME_OBSERVED,
    TIME_SOURCE,
    TOOL_CALL,
    TOOL_RESULT,
    UNKNOWN,
    Event,
    canonical_json,
)
from kernel.mcp_results import catalogue_digest, is_listing, result_object, result_text
from kernel.tokens import fingerprint_of, scopes_of
from kernel.vocabulary import (
    ATTR_ARGUMENTS,
    ATTR_INTENT_SOURCE,
    ATTR_RESULT_TEXT,
    ATTR_TOOLS_DIGEST,
    INTENT_MCP_CLIENT,
)

_DIRECTIONS = frozenset({"client_to_server", "server_to_client"})
_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
_AI_INVOCATION = "io.modelcontextprotocol/aiInvocation"  # draft SEP-2817
_HEX = frozenset("0123456789abcdef")
_DETAIL_LIMIT = 500


def trace_id(traceparent: Any) -> str | None:
    """The trace id of a W3C ``traceparent``: ``00-<32 hex>-<16 hex>-<2 hex>`` (the MCP
    gateway binds connections by it, read exactly as here)."""
    value = text(traceparent)
    if value is None:
        return None
    parts = value.strip().lower().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace = parts[1]
    # All zeros is the spec's "invalid" trace id: keying on it would join everything.
    if not _HEX.issuperset(trace) or trace == "0" * 32:
        return None
    return trace


def _header(headers: Mapping[str, Any], name: str) -> Any:
    value = headers.get(name)
    # Some captures keep repeated headers as lists: the first one is the one that counts.
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _message_type(message: Mapping[str, Any]) -> str:
    # "2.0" is what makes it JSON-RPC; without it any log line with an "error" key would
    # pass for a failed tool result. Schema fragments and bare error objects stop here.
    if message.get("jsonrpc") != "2.0":
        raise RecordError("not a JSON-RPC 2.0 message", field="jsonrpc")
    method = message.get("method")
    if method is not None:
        if not isinstance(method, str) or not method:
            raise RecordError(f"expected a method name, got {method!r}", field="method")
        return "request" if message.get("id") is not None else "notification"
    if "result" in message or "error" in message:
        return "response"
    raise RecordError("neither a request, a notification nor a response", field="method")


def _error_detail(error: Any) -> str:
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        if code is None or message is None:
            return str(message if code is None else code)[:_DETAIL_LIMIT]
        return f"{code}: {message}"[:_DETAIL_LIMIT]
    return str(error)[:_DETAIL_LIMIT]


def _tool_error_text(result: Mapping[str, Any]) -> str | None:
    """The first text block of a tool result with ``isError``: the tool's own explanation."""
    content = result.get("content")
    if isinstance(content, list):
        for block in content:
            found = text(obj(block).get("text"))
            if found is not None:
                return found[:_DETAIL_LIMIT]
    return None


def _open_envelope(
    outer: dict[str, Any], attributes: dict[str, str]
) -> tuple[dict[str, Any], datetime, str | None, dict[str, Any]]:
    """The JSON-RPC message, its time, server and (lower-cased) headers."""
    # The envelope's own fields tell it apart: a JSON-RPC message has none of them (an
    # error object's "message" is a string, the envelope's is the JSON-RPC message).
    if not ("direction" in outer or "ts" in outer or isinstance(outer.get("message"), dict)):
        # A bare message carries no time: the best there is, is when ingest saw it.
        attributes[TIME_SOURCE] = TIME_OBSERVED
        return outer, datetime.now(UTC), None, {}
    message = outer.get("message")
    if not isinstance(message, dict):
        raise RecordError("expected the JSON-RPC message as an object", field="message")
    direction = outer.get("direction")
    if not isinstance(direction, str) or direction not in _DIRECTIONS:  # {} is unhashable
        raise RecordError(
            f"expected client_to_server or server_to_client, got {direction!r}",
            field="direction",
        )
    event_time = parse_time(require(outer, "ts"), "ts")
    attributes["direction"] = direction
    attributes[TIME_SOURCE] = "capture"
    # HTTP header names are case-insensitive.
    headers = {str(k).lower(): v for k, v in obj(outer.get("headers")).items()}
    return message, event_time, text(outer.get("server")), headers


class McpSource(Source):
    name: ClassVar[str] = "mcp"
    tool_traffic: ClassVar[bool] = True

    def partition_key(self, event: Event) -> str | None:
        """A server's messages, requests and results alike, share a partition. A result
        carries neither the caller's token nor, often, the Mcp-Session-Id, only the JSON-RPC
        id of its request: keyed by their own strongest keys, a session's calls and the
        results they read would land on different partitions, and the worker could score a
        call before it has read the result that led to it (where injected instructions
        arrive). The server is the one name both always carry; without it, the session."""
        if event.service:
            return f"mcp-server:{event.service}"
        for name, value in event.keys:
            if name == KEY_MCP_SESSION:
                return value
        return super().partition_key(event)

    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        outer = require_object(record)
        attributes: dict[str, str] = {}
        message, event_time, server, headers = _open_envelope(outer, attributes)

        message_type = _message_type(message)
        attributes["message_type"] = message_type
        method = text(message.get("method"))
        rpc_id = message.get("id")
        params = obj(message.get("params"))
        meta = obj(params.get("_meta"))
        if rpc_id is not None:
            attributes["rpc_id"] = str(rpc_id)

        keys: list[tuple[str, str]] = []
        session = text(_header(headers, "mcp-session-id"))
        add_key(keys, KEY_MCP_SESSION, session)
        trace = trace_id(_header(headers, "traceparent")) or trace_id(meta.get("traceparent"))
        add_key(keys, KEY_TRACE, trace)

        # Redaction (ingest.framing) already replaced the bearer token by its fingerprint
        # and claims; a header that is still a plain string was not a token.
        authorization = obj(_header(headers, "authorization"))
        found_claims = authorization.get("claims")
        claims: dict[str, Any] = found_claims if isinstance(found_claims, dict) else {}
        add_key(keys, KEY_JTI, text(claims.get("jti")))
        add_key(keys, KEY_TOKEN_FP, fingerprint_of(authorization))
        add_key(keys, KEY_TXN, text(claims.get("txn")))
        # The rpc key pairs a result with its request. It names the server, not the session:
        # a stdio capture, or a proxy logging request headers only, has no Mcp-Session-Id on
        # the results (ids repeat across sessions; the stitcher tells them apart by time).
        # Without a server the session stands in; without either the id alone (1, 2, …)
        # would pair unrelated traffic.
        endpoint = server or session
        if rpc_id is not None and message_type != "notification" and endpoint:
            add_key(keys, KEY_MCP_RPC, f"{endpoint}:{rpc_id}")

        event = Event(
            event_id=self.event_id(raw),
            source=self.name,
            kind=MCP_MESSAGE,
            event_time=event_time,
            operation=method or "response",
            position=position,
            raw=raw,
            principal=text(claims.get("sub")),
            client_id=text(claims.get("client_id")) or text(claims.get("cid")),
            service=server,
            scopes=scopes_of(claims),
            keys=keys,
            attributes=attributes,
            source_id=_source_id(server, rpc_id),
        )
        _add_client_info(event, method, params, meta)
        _add_intent(event, meta)
        # After the client's own assertion: a transaction token's purpose outranks it.
        apply_token_claims(event, claims)
        if message_type == "response":
            event.kind = TOOL_RESULT
            _add_result(event, message)
        elif method == "tools/call":
            event.kind = TOOL_CALL
            event.outcome = PENDING
            tool = text(params.get("name"))
            event.resource = tool
            put(attributes, "tool", tool)
            if "arguments" in params:
                attributes[ATTR_ARGUMENTS] = canonical_json(params["arguments"])
        else:
            event.outcome = UNKNOWN
        return [event]


def _source_id(server: str | None, rpc_id: Any) -> str:
    """``<server>#<JSON-RPC id>``, what an analyst reads off the server's own log; the id
    alone when the capture names no server; "" for a notification (it has no id)."""
    if isinstance(rpc_id, bool) or not isinstance(rpc_id, str | int) or rpc_id == "":
        return ""
    return f"{server}#{rpc_id}" if server else str(rpc_id)


def _add_client_info(
    event: Event, method: str | None, params: Mapping[str, Any], meta: Mapping[str, Any]
) -> None:
    # initialize names the client once; spec 2026-07-28 repeats it in every request's _meta.
    info = obj(params.get("clientInfo")) if method == "initialize" else {}
    info = info or obj(meta.get(_CLIENT_INFO))
    event.agent_name = text(info.get("name"))
    event.agent_version = text(info.get("version"))


def _add_intent(event: Event, meta: Mapping[str, Any]) -> None:
    """Declared intent (client-asserted: evidence of intent, never of authorization)."""
    invocation = obj(meta.get(_AI_INVOCATION))
    if not invocation:
        return
    event.intent = text(obj(invocation.get("userIntent")).get("text")) or text(
        obj(invocation.get("invocationReason")).get("text")
    )
    if event.intent:
        event.attributes[ATTR_INTENT_SOURCE] = INTENT_MCP_CLIENT
    put(event.attributes, "model", text(obj(invocation.get("model")).get("name")))
    turn = invocation.get("turnId")
    if turn is not None:
        event.attributes["turn_id"] = str(turn)


def _add_result(event: Event, message: Mapping[str, Any]) -> None:
    # What the agent read travels with the event, so that the drift stage need not parse
    # the record again: a result's text, or the name of the catalogue a tools/list answer
    # gave (read from the record once per catalogue). A result with no text it parses.
    found = result_object(message)
    if found is not None:
        if is_listing(found):
            event.attributes[ATTR_TOOLS_DIGEST] = catalogue_digest(found["tools"])
        else:
            put(event.attributes, ATTR_RESULT_TEXT, result_text(found))
    error = message.get("error")
    if error is not None:
        event.outcome, event.outcome_detail = FAILURE, _error_detail(error)
        return
    result = obj(message.get("result"))
    if result.get("isError") is True:
        event.outcome, event.outcome_detail = FAILURE, _tool_error_text(result)
    else:
        event.outcome = SUCCESS
