"""MCP parser, on the spec's own JSON-RPC examples, a real server log and capture envelopes."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.base import Source
from ingest.framing import Framed, Unframed, frame_lines
from ingest.mcp import McpSource
from ingest.pipeline import partition_key
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
    TOOL_CALL,
    TOOL_RESULT,
    UNKNOWN,
    Event,
    canonical_json,
)
from kernel.mcp_results import catalogue_digest, is_listing, result_object, result_text
from kernel.tokens import fingerprint
from kernel.vocabulary import ATTR_RESULT_TEXT, ATTR_TOOLS_DIGEST
from tests.jwt import unsigned_jwt
from tests.unit.parsing import check_event

SPEC_DOCS = ("mcp/spec-docs-2025-06-18", "mcp/spec-docs-2025-11-25")
SCHEMA_2026 = "mcp/spec-schema-examples-2026-07-28"
SERVER_LOG = "mcp/server-logs/hov172_SimpleMDM-MCP__mcp.log"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

# The 2026 schema examples that are whole JSON-RPC messages. The other 97 files are
# fragments (params, results, content blocks, capabilities, bare error objects) and three
# request bodies without "jsonrpc" (CreateMessageRequest, ElicitRequest, ListRootsRequest:
# the schema's Request type, not a JSONRPCRequest): all rejected naming "jsonrpc".
SCHEMA_2026_MESSAGES = {
    "CallToolRequest/call-tool-request.json",
    "CallToolResultResponse/call-tool-result-response.json",
    "CancelledNotification/user-requested-cancellation.json",
    "CompleteRequest/completion-request.json",
    "CompleteResultResponse/completion-result-response.json",
    "DiscoverRequest/server-discover-request.json",
    "DiscoverResultResponse/discover-result-response.json",
    "GetPromptRequest/get-prompt-request.json",
    "GetPromptResultResponse/get-prompt-result-response.json",
    "HeaderMismatchError/header-mismatch.json",
    "ListPromptsRequest/list-prompts-request.json",
    "ListPromptsResultResponse/list-prompts-result-response.json",
    "ListResourceTemplatesRequest/list-resource-templates-request.json",
    "ListResourceTemplatesResultResponse/list-resource-templates-result-response.json",
    "ListResourcesRequest/list-resources-request.json",
    "ListResourcesResultResponse/list-resources-result-response.json",
    "ListToolsRequest/list-tools-request.json",
    "ListToolsResultResponse/list-tools-result-response.json",
    "LoggingMessageNotification/log-database-connection-failed.json",
    "MissingRequiredClientCapabilityError/missing-elicitation-capability.json",
    "ProgressNotification/progress-message.json",
    "PromptListChangedNotification/prompts-list-changed.json",
    "ReadResourceRequest/read-resource-request.json",
    "ReadResourceResultResponse/read-resource-result-response-with-ttl.json",
    "ReadResourceResultResponse/read-resource-result-response.json",
    "ResourceListChangedNotification/resources-list-changed.json",
    "ResourceUpdatedNotification/file-resource-updated-notification.json",
    "SubscriptionsAcknowledgedNotification/listen-acknowledged.json",
    "SubscriptionsListenRequest/listen-for-list-changes.json",
    "SubscriptionsListenResultResponse/listen-closed-response.json",
    "ToolListChangedNotification/tools-list-changed.json",
    "UnsupportedProtocolVersionError/unsupported-version.json",
}


@dataclass
class Run:
    events: dict[str, Event] = field(default_factory=dict)  # by position
    framed: dict[str, Framed] = field(default_factory=dict)
    rejected: dict[str, RecordError] = field(default_factory=dict)
    unframed: list[Unframed] = field(default_factory=list)


def frame(source: Source, lines: Any, name: str) -> Run:
    """Frame lines as ingest does, and parse every record."""
    result = Run()
    for item in frame_lines(source, lines, name):
        if isinstance(item, Unframed):
            result.unframed.append(item)
            continue
        result.framed[item.position] = item
        try:
            events = source.parse(item.record, position=item.position, raw=item.raw)
        except RecordError as error:
            result.rejected[item.position] = error
            continue
        assert len(events) == 1
        result.events[item.position] = events[0]
    return result


def run(source: Source, path: Path) -> Run:
    with path.open(encoding="utf-8") as lines:
        return frame(source, lines, path.name)


def only(result: Run) -> Event:
    [event] = result.events.values()
    return event


def parse_one(record: Any) -> Event:
    [event] = McpSource().parse(record, position="test:1", raw=canonical_json(record))
    return event


def spec_kind(file_name: str) -> tuple[str, str]:
    """Kind and outcome a spec-docs example must get, read from its file name alone."""
    what = file_name.removesuffix(".json").rsplit("__", 1)[1]
    if what == "tools_call":
        return TOOL_CALL, PENDING
    if what == "error":
        return TOOL_RESULT, FAILURE
    if what == "result":
        return TOOL_RESULT, SUCCESS
    return MCP_MESSAGE, UNKNOWN


@pytest.mark.parametrize("directory", SPEC_DOCS)
def test_spec_doc_examples(real_data: Path, directory: str) -> None:
    source = McpSource()
    files = sorted((real_data / directory).glob("*.json"))
    assert len(files) == {"mcp/spec-docs-2025-06-18": 38, "mcp/spec-docs-2025-11-25": 44}[directory]
    for path in files:
        result = run(source, path)
        event = only(result)
        check_event(source, event, result.framed[f"{path.name}:1"])
        kind, outcome = spec_kind(path.name)
        if path.name == "server__tools__08__result.json":
            outcome = FAILURE  # a tool result with isError: true
        assert (event.kind, event.outcome) == (kind, outcome), path.name
        assert event.attributes["time_source"] == "observed"
        assert "direction" not in event.attributes  # a bare message does not say


@pytest.mark.parametrize("directory", SPEC_DOCS)
def test_a_result_carries_the_text_its_record_gives(real_data: Path, directory: str) -> None:
    source = McpSource()
    carried = listings = 0
    for path in sorted((real_data / directory).glob("*.json")):
        event = only(run(source, path))
        found = result_object(orjson.loads(event.raw))
        text = event.attributes.get(ATTR_RESULT_TEXT)
        if event.kind != TOOL_RESULT or found is None:
            assert text is None and ATTR_TOOLS_DIGEST not in event.attributes, path.name
        elif is_listing(found):
            assert text is None, path.name  # read as a catalogue, named by its content
            assert event.attributes[ATTR_TOOLS_DIGEST] == catalogue_digest(found["tools"])
            listings += 1
        else:
            assert text == (result_text(found) or None), path.name
            carried += text is not None
    # The spec's tools/call results, their error and the resources read, and a listing.
    assert carried >= 3 and listings >= 1, (carried, listings)


def test_spec_tool_call_pairs_with_its_result(real_data: Path) -> None:
    directory = real_data / "mcp/spec-docs-2025-11-25"
    call = only(run(McpSource(), directory / "server__tools__03__tools_call.json"))
    result = only(run(McpSource(), directory / "server__tools__04__result.json"))
    assert (call.operation, call.resource) == ("tools/call", "get_weather")
    assert call.attributes["tool"] == "get_weather"
    assert call.attributes["arguments"] == '{"location":"New York"}'
    assert call.attributes["rpc_id"] == "2"
    assert result.operation == "response"
    # No session and no server on a bare message: the id alone (2) would pair unrelated
    # traffic, so neither carries a pairing key.
    assert call.keys == result.keys == []
    failed = only(run(McpSource(), directory / "server__tools__08__result.json"))
    assert failed.outcome_detail == (
        "Invalid departure date: must be in the future. Current date is 08/08/2025."
    )
    error = only(run(McpSource(), directory / "server__tools__07__error.json"))
    assert error.outcome_detail == "-32602: Unknown tool: invalid_tool_name"


def test_initialize_names_the_agent(real_data: Path) -> None:
    path = real_data / "mcp/spec-docs-2025-11-25/basic__lifecycle__01__initialize.json"
    event = only(run(McpSource(), path))
    assert (event.kind, event.operation) == (MCP_MESSAGE, "initialize")
    assert (event.agent_name, event.agent_version) == ("ExampleClient", "1.0.0")
    notification = only(
        run(McpSource(), path.with_name("basic__lifecycle__03__notifications_initialized.json"))
    )
    assert notification.keys == []  # a notification answers nothing: no rpc key
    assert notification.attributes["message_type"] == "notification"


def test_2026_schema_examples(real_data: Path) -> None:
    source = McpSource()
    root = real_data / SCHEMA_2026
    files = sorted(root.glob("*/*.json"))
    assert len(files) == 129
    accepted: set[str] = set()
    for path in files:
        relative = path.relative_to(root).as_posix()
        result = run(source, path)
        assert not result.unframed
        if result.rejected:
            assert [e.field for e in result.rejected.values()] == ["jsonrpc"], relative
            continue
        accepted.add(relative)
        event = only(result)
        check_event(source, event, result.framed[f"{path.name}:1"])
        schema_type = relative.split("/", 1)[0]
        if schema_type == "CallToolRequest":
            assert event.kind == TOOL_CALL
        elif schema_type.endswith(("Response", "Error")):
            assert event.kind == TOOL_RESULT
        else:
            assert event.kind == MCP_MESSAGE
        if schema_type.endswith("Error"):
            assert event.outcome == FAILURE
        if schema_type.endswith("Request"):
            # 2026-07-28 repeats clientInfo in every request's _meta.
            assert (event.agent_name, event.agent_version) == ("ExampleClient", "1.0.0")
    assert accepted == SCHEMA_2026_MESSAGES


def test_server_log(real_data: Path) -> None:
    source = McpSource()
    before = datetime.now(UTC)
    result = run(source, real_data / SERVER_LOG)
    after = datetime.now(UTC)
    assert not result.unframed and not result.rejected
    name = Path(SERVER_LOG).name
    assert sorted(result.events) == [f"{name}:{n}" for n in (1, 2, 3, 4)]
    ids = []
    for position, event in sorted(result.events.items()):
        check_event(source, event, result.framed[position])
        assert (event.kind, event.outcome, event.operation) == (TOOL_RESULT, SUCCESS, "response")
        # The log has no timestamps: the time ingest saw the record, and it says so.
        assert before <= event.event_time <= after
        assert event.attributes["time_source"] == "observed"
        ids.append(event.attributes["rpc_id"])
    assert ids == ["1", "4", "3", "2"]


def capture(**overrides: Any) -> dict[str, Any]:
    """A capture envelope as a gateway writes it, one per line."""
    envelope: dict[str, Any] = {
        "ts": "2026-03-04T05:06:07.123456Z",
        "direction": "client_to_server",
        "server": "crm-mcp",
        "headers": {"Content-Type": "application/json"},
        "message": {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "crm.lookup", "arguments": {"account": "ACME"}},
        },
    }
    envelope.update(overrides)
    return envelope


def test_envelope_with_bearer_token_through_framing() -> None:
    claims = {
        "iss": "https://idp.example.com",
        "sub": "alice@example.com",
        "jti": "jti-5f2c",
        "client_id": "crm-agent-client",
        "scope": "crm.read crm.write",
        "txn": "txn-77",
        "act": {"sub": "agent-instance-9", "act": {"sub": "orchestrator-1"}},
    }
    token = unsigned_jwt(claims)
    message = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "crm.update_account",
            "arguments": {"account": "ACME", "tier": "gold"},
            "_meta": {
                "io.modelcontextprotocol/clientInfo": {"name": "sales-agent", "version": "2.3.1"},
                "io.modelcontextprotocol/aiInvocation": {
                    "invocationReason": {"text": "tool chosen to update tier"},
                    "userIntent": {"text": "Upgrade ACME to the gold tier"},
                    "model": {"name": "claude-sonnet"},
                    "turnId": 12,
                },
            },
        },
    }
    headers = {
        "AUTHORIZATION": f"Bearer {token}",  # header names are case-insensitive
        "Mcp-Session-Id": "sess-42",
        "TraceParent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
    }
    line = orjson.dumps(capture(headers=headers, message=message)).decode() + "\n"
    result = frame(McpSource(), io.StringIO(line), "capture.jsonl")
    event = result.events["capture.jsonl:1"]
    check_event(McpSource(), event, result.framed["capture.jsonl:1"])

    payload = token.split(".")[1]
    assert token not in event.raw and payload not in event.raw
    assert "not-a-real-signature" not in event.raw
    assert event.keys == [
        (KEY_MCP_SESSION, "sess-42"),
        (KEY_TRACE, TRACE_ID),
        (KEY_JTI, "jti-5f2c"),
        (KEY_TOKEN_FP, fingerprint(token)),
        (KEY_TXN, "txn-77"),
        (KEY_MCP_RPC, "crm-mcp:7"),  # the server, not the session: results may lack the header
    ]
    assert event.principal == "alice@example.com"
    assert event.client_id == "crm-agent-client"
    assert event.scopes == ["crm.read", "crm.write"]
    assert event.agent_instance == "agent-instance-9"  # the outermost actor
    assert (event.agent_name, event.agent_version) == ("sales-agent", "2.3.1")
    assert event.intent == "Upgrade ACME to the gold tier"
    assert event.attributes["model"] == "claude-sonnet"
    assert event.attributes["turn_id"] == "12"
    assert (event.kind, event.outcome, event.resource) == (TOOL_CALL, PENDING, "crm.update_account")
    assert event.attributes["arguments"] == '{"account":"ACME","tier":"gold"}'
    assert event.service == "crm-mcp"
    assert event.event_time == datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    assert event.attributes["direction"] == "client_to_server"
    assert event.attributes["time_source"] == "capture"


def test_okta_style_claims_and_no_session() -> None:
    token = unsigned_jwt({"sub": "bob", "cid": "0oa-okta-client", "scp": ["a", "b"]})
    event = parse_one(
        capture(
            headers={"authorization": {"redacted": True, "fingerprint": fingerprint(token)}},
            message={"jsonrpc": "2.0", "id": "r1", "method": "tools/list"},
        )
    )
    # Already redacted upstream, without claims: the fingerprint is all there is.
    assert event.keys == [(KEY_TOKEN_FP, fingerprint(token)), (KEY_MCP_RPC, "crm-mcp:r1")]
    # Raw records redacted before fingerprints were keyed carry "sha256": they still parse.
    legacy = "sha256:" + "ab" * 32
    old = parse_one(capture(headers={"authorization": {"redacted": True, "sha256": legacy}}))
    assert (KEY_TOKEN_FP, legacy) in old.keys
    assert event.principal is None and event.scopes == []
    line = orjson.dumps(capture(headers={"Authorization": f"Bearer {token}"})).decode()
    framed = only(frame(McpSource(), [line], "c.jsonl"))
    assert (framed.client_id, framed.scopes, framed.principal) == (
        "0oa-okta-client",
        ["a", "b"],
        "bob",
    )


def test_tool_error_result_is_truncated() -> None:
    event = parse_one(
        capture(
            direction="server_to_client",
            message={
                "jsonrpc": "2.0",
                "id": 7,
                "result": {"content": [{"type": "text", "text": "x" * 2000}], "isError": True},
            },
        )
    )
    assert (event.kind, event.outcome, event.operation) == (TOOL_RESULT, FAILURE, "response")
    assert event.outcome_detail == "x" * 500
    assert event.keys == [(KEY_MCP_RPC, "crm-mcp:7")]
    assert event.attributes["direction"] == "server_to_client"


def test_the_rpc_key_names_the_server_with_or_without_the_session_header() -> None:
    session = {"Mcp-Session-Id": "sess-42"}
    request = parse_one(capture(headers=session))
    reply = {"jsonrpc": "2.0", "id": 7, "result": {"content": []}}
    with_header = parse_one(capture(direction="server_to_client", headers=session, message=reply))
    headerless = parse_one(capture(direction="server_to_client", headers={}, message=reply))
    rpc = (KEY_MCP_RPC, "crm-mcp:7")
    assert rpc in request.keys and rpc in with_header.keys and headerless.keys == [rpc]


def test_without_a_server_the_session_header_stands_in_for_it() -> None:
    envelope = capture(headers={"Mcp-Session-Id": "sess-42"})
    del envelope["server"]
    assert parse_one(envelope).keys == [(KEY_MCP_SESSION, "sess-42"), (KEY_MCP_RPC, "sess-42:7")]
    bare = capture(headers={})
    del bare["server"]
    assert parse_one(bare).keys == []  # neither: the id alone would pair unrelated traffic


def test_a_servers_requests_and_results_share_a_partition_whatever_they_carry() -> None:
    source = McpSource()
    reply = {"jsonrpc": "2.0", "id": 7, "result": {"content": []}}
    token = {"Authorization": f"Bearer {unsigned_jwt({'jti': 'AT.p-1', 'sub': 'u1'})}"}
    request = frame(source, [orjson.dumps(capture(headers=token)).decode()], "p")
    result = parse_one(capture(direction="server_to_client", headers={}, message=reply))
    [call] = request.events.values()
    # Keyed by their strongest keys they would part: the call by its token, the result by
    # its request's id.
    assert call.keys[0][0] != result.keys[0][0]
    assert source.partition_key(call) == source.partition_key(result) == "mcp-server:crm-mcp"
    assert partition_key(source, [result]) == b"mcp-server:crm-mcp"
    other = capture(headers=token)
    other["server"] = "files-mcp"
    assert source.partition_key(parse_one(other)) == "mcp-server:files-mcp"
    # Without a server the session stands in, as it does in the rpc key.
    serverless = capture(headers={"Mcp-Session-Id": "sess-42"})
    del serverless["server"]
    assert source.partition_key(parse_one(serverless)) == "sess-42"


def test_trace_from_meta_and_invalid_traceparents() -> None:
    def with_traceparent(value: str, *, in_header: bool) -> Event:
        message = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}
        if in_header:
            return parse_one(capture(headers={"traceparent": value}, message=message))
        message["params"] = {"_meta": {"traceparent": value}}
        return parse_one(capture(message=message))

    valid = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    assert with_traceparent(valid, in_header=False).keys == [(KEY_TRACE, TRACE_ID)]
    for invalid in (
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # the all-zero trace id is invalid by spec
        f"00-{TRACE_ID[:-1]}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID[:-1]}g-00f067aa0ba902b7-01",
        TRACE_ID,
    ):
        assert with_traceparent(invalid, in_header=True).keys == [], invalid


def test_intent_falls_back_to_invocation_reason() -> None:
    meta = {"io.modelcontextprotocol/aiInvocation": {"invocationReason": {"text": "why"}}}
    event = parse_one(
        capture(message={"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_meta": meta}})
    )
    assert event.intent == "why"
    assert "model" not in event.attributes and "turn_id" not in event.attributes


@pytest.mark.parametrize(
    ("record", "field_name"),
    [
        ({k: v for k, v in capture().items() if k != "message"}, "message"),
        (capture(message="tools/call"), "message"),
        (capture(direction="sideways"), "direction"),
        ({k: v for k, v in capture().items() if k != "ts"}, "ts"),
        (capture(ts="not a time"), "ts"),
        (capture(message={"id": 1, "method": "tools/call"}), "jsonrpc"),
        (capture(message={"jsonrpc": "2.0", "id": 1}), "method"),
        (capture(message={"jsonrpc": "2.0", "id": 1, "method": 5}), "method"),
        ({"code": -32603, "message": "Internal error"}, "jsonrpc"),
        ({"error": "timeout", "level": "warn"}, "jsonrpc"),  # a log line, not JSON-RPC
        ({"jsonrpc": "2.0", "id": 3}, "method"),
    ],
)
def test_bad_record_names_the_field(record: dict[str, Any], field_name: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_one(record)
    assert caught.value.field == field_name


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(RecordError):
        McpSource().parse("ping", position="test:1", raw='"ping"')


# -- source ids ------------------------------------------------------------------------------
def _rpc_id(record: Any) -> str:
    """The JSON-RPC id as written, in the record's own terms: a string or an integer."""
    found = record.get("id")
    ok = isinstance(found, str | int) and not isinstance(found, bool)
    return str(found) if ok and found != "" else ""


@pytest.mark.parametrize("directory", SPEC_DOCS)
def test_a_bare_message_s_source_id_is_its_json_rpc_id(real_data: Path, directory: str) -> None:
    # Bare messages name no server: the id alone, as the server logged it.
    found = {}
    for path in sorted((real_data / directory).glob("*.json")):
        result = run(McpSource(), path)
        event = only(result)
        assert event.source_id == _rpc_id(result.framed[f"{path.name}:1"].record), path.name
        found[path.name] = event.source_id
    assert found["server__tools__03__tools_call.json"] == "2"
    assert found["server__tools__04__result.json"] == "2"  # the result answering it
    notifications = [name for name in found if "__notifications_" in name]
    assert notifications and all(found[name] == "" for name in notifications)


def test_server_log_source_ids(real_data: Path) -> None:
    result = run(McpSource(), real_data / SERVER_LOG)
    name = Path(SERVER_LOG).name
    assert [result.events[f"{name}:{n}"].source_id for n in (1, 2, 3, 4)] == ["1", "4", "3", "2"]


def test_a_captured_message_s_source_id_is_server_and_json_rpc_id() -> None:
    call = parse_one(capture())
    result = parse_one(
        capture(
            direction="server_to_client",
            message={"jsonrpc": "2.0", "id": 7, "result": {"content": []}},
        )
    )
    # What an analyst reads off the crm-mcp server's log, on the call and on its result.
    assert call.source_id == result.source_id == "crm-mcp#7"
    listing = parse_one(capture(message={"jsonrpc": "2.0", "id": "r1", "method": "tools/list"}))
    assert listing.source_id == "crm-mcp#r1"
    note = parse_one(capture(message={"jsonrpc": "2.0", "method": "notifications/initialized"}))
    assert note.source_id == ""  # a notification has no id; none is made up
    for odd in (True, 1.5, None, ""):
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": odd, "result": {}}
        assert parse_one(capture(message=message)).source_id == "", odd
