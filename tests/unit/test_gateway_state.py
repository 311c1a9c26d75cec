"""The gateway's pure parts: the keys a request binds by (as ingest reads them from the
record the gateway writes), contractions kept and applied, and the refusals they make."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
import pytest

from agentledger.cli_gateway import is_loopback, parse_listen
from enforce.gateway_inline import asserted_intent
from enforce.gateway_record import captured_headers, envelope
from enforce.gateway_state import (
    CONTRACTION_REFUSAL,
    DRIFT_REFUSAL,
    Enforcement,
    KeyedBook,
    bearer_token,
    binding_keys,
    drift_refusal,
)
from enforce.gateway_upstream import UpstreamSpec
from ingest.framing import Framed, frame_value
from ingest.mcp import McpSource
from kernel.contraction import Contraction
from kernel.errors import ConfigError
from kernel.events import KEY_JTI, KEY_MCP_SESSION, KEY_TOKEN_FP, KEY_TRACE, KEY_TXN
from kernel.mcp_results import result_text
from kernel.tokens import fingerprint
from tests.jwt import unsigned_jwt

TOKEN = unsigned_jwt({"sub": "ines", "jti": "jti-42", "txn": "txn-9", "scope": "mail.read"})
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
HEADERS = {
    "authorization": f"Bearer {TOKEN}",
    "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
    "mcp-session-id": "sess-1",
}


def _contraction(
    decision: str, keys: tuple[tuple[str, str], ...], cause: str = "a-1", **extra: Any
) -> Contraction:
    now = datetime.now(UTC)
    return Contraction(
        session_id="s-1",
        agent="agent",
        cause_action_id=cause,
        decision=decision,
        score=0.8,
        model_version="m-1",
        event_time=now,
        decided_at=now,
        keys=keys,
        **extra,
    )


def test_binding_keys_are_the_keys_ingest_gives_the_recorded_message() -> None:
    keys = binding_keys(HEADERS, None, None)
    assert keys == {
        (KEY_TOKEN_FP, fingerprint(TOKEN)),
        (KEY_JTI, "jti-42"),
        (KEY_TXN, "txn-9"),
        (KEY_MCP_SESSION, "sess-1"),
        (KEY_TRACE, TRACE),
    }
    # The record the gateway writes for the same request, framed (redacted) and parsed.
    message = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "x"}}
    record = envelope("client_to_server", "mail", captured_headers(HEADERS, None), message)
    [framed] = list(frame_value(McpSource(), record, "t"))
    assert isinstance(framed, Framed)
    assert TOKEN not in framed.raw
    [event] = McpSource().parse(framed.record, position="t", raw=framed.raw)
    ingest_keys = {(k, v) for k, v in event.keys if k != "mcp_rpc"}
    assert ingest_keys == keys


def test_binding_keys_from_meta_and_the_transport_session() -> None:
    meta = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}
    assert binding_keys({}, meta, "sess-9") == {(KEY_TRACE, TRACE), (KEY_MCP_SESSION, "sess-9")}
    # The all-zero trace id is the spec's "invalid": it binds nothing.
    assert binding_keys({"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}, None, None) == set()


@pytest.mark.parametrize(
    ("value", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("DPoP xyz", "xyz"), ("rawtoken", "rawtoken")],
)
def test_bearer_token(value: str, token: str) -> None:
    assert bearer_token({"authorization": value}) == token


def test_an_opaque_token_binds_by_its_fingerprint_only() -> None:
    assert binding_keys({"authorization": "Bearer opaque-123456"}, None, None) == {
        (KEY_TOKEN_FP, fingerprint("opaque-123456"))
    }


def test_the_book_keeps_one_contraction_per_id_and_finds_it_by_any_key() -> None:
    book: KeyedBook[Contraction] = KeyedBook()
    first = _contraction("narrow", ((KEY_JTI, "jti-42"), ("aws_access_key", "ASIA1")))
    assert book.add(first.contraction_id, first.keys, first) is True
    assert book.add(first.contraction_id, first.keys, first) is False  # a replay
    assert len(book) == 1
    assert book.matching({(KEY_JTI, "jti-42")}) == [first]
    assert book.matching({("aws_access_key", "ASIA1")}) == []  # not a key a connection shows
    assert book.matching({(KEY_JTI, "other")}) == []


def test_the_book_forgets_the_oldest_beyond_its_limit() -> None:
    book: KeyedBook[Contraction] = KeyedBook(limit=2)
    items = [_contraction("narrow", ((KEY_JTI, f"j{i}"),), cause=f"a{i}") for i in range(3)]
    for item in items:
        book.add(item.contraction_id, item.keys, item)
    assert len(book) == 2
    assert book.matching({(KEY_JTI, "j0")}) == []
    assert book.matching({(KEY_JTI, "j2")}) == [items[2]]


def test_narrow_hides_and_refuses_the_removed_tools_only() -> None:
    state = Enforcement()
    state.add_keys(binding_keys(HEADERS, None, None))
    narrow = _contraction(
        "narrow",
        ((KEY_JTI, "jti-42"),),
        removed_tools=("send_email",),
        reasons=("recipient first seen in a tool result",),
    )
    assert state.matches(narrow)
    assert state.refusal("tools/call", "send_email") is None
    assert state.apply(narrow) is True
    assert state.apply(narrow) is False  # applied once
    refusal = state.refusal("tools/call", "send_email")
    assert refusal is not None
    assert refusal.code == CONTRACTION_REFUSAL
    assert narrow.contraction_id in refusal.message and "narrow" in refusal.message
    assert "recipient first seen in a tool result" in refusal.message
    assert refusal.data["contraction_id"] == narrow.contraction_id
    assert refusal.data["decision"] == "narrow"
    assert state.refusal("tools/call", "read_inbox") is None
    assert state.refusal("resources/read") is None
    tools = [{"name": "send_email"}, {"name": "read_inbox"}]
    assert state.visible_tools(tools) == [{"name": "read_inbox"}]


def test_a_narrow_removing_nothing_new_changes_nothing_visible() -> None:
    state = Enforcement()
    state.apply(_contraction("narrow", (), cause="a", removed_tools=("x",)))
    assert state.apply(_contraction("narrow", (), cause="b", removed_tools=("x",))) is False


@pytest.mark.parametrize("decision", ["halt", "revoke"])
def test_halt_and_revoke_refuse_every_request_but_ping(decision: str) -> None:
    state = Enforcement()
    ended = _contraction(decision, ((KEY_TRACE, TRACE),), reasons=("deletes outside the intent",))
    assert state.apply(ended) is True
    for method, tool in (("tools/call", "read_inbox"), ("resources/read", None)):
        refusal = state.refusal(method, tool)
        assert refusal is not None
        assert refusal.data["decision"] == decision
        assert ended.contraction_id in refusal.message
    assert state.refusal("ping") is None
    assert state.refusal("tools/list") is None  # answered with no tools instead
    assert state.visible_tools([{"name": "read_inbox"}]) == []


def test_a_connection_does_not_match_a_contraction_of_other_keys() -> None:
    state = Enforcement()
    state.add_keys({(KEY_JTI, "mine")})
    assert not state.matches(_contraction("halt", ((KEY_JTI, "theirs"),)))


def test_drift_refusal_names_score_and_reasons() -> None:
    refusal = drift_refusal("send_email", 0.97, ["recipient from a tool result"], "drift-1", True)
    assert refusal.code == DRIFT_REFUSAL
    assert "0.97" in refusal.message and "recipient from a tool result" in refusal.message
    assert refusal.data["model_version"] == "drift-1"
    assert refusal.data["out_of_bounds"] is True


def test_captured_headers_keep_what_binds_and_add_the_session() -> None:
    kept = captured_headers({**HEADERS, "cookie": "c=1", "mcp-session-id": ""}, "sess-2")
    assert kept == {
        "authorization": HEADERS["authorization"],
        "traceparent": HEADERS["traceparent"],
        "mcp-session-id": "sess-2",
    }


def test_asserted_intent_and_result_text() -> None:
    meta = {"io.modelcontextprotocol/aiInvocation": {"userIntent": {"text": " Confirm HL-2207 "}}}
    assert asserted_intent(meta) == "Confirm HL-2207"
    reason = {"io.modelcontextprotocol/aiInvocation": {"invocationReason": {"text": "why"}}}
    assert asserted_intent(reason) == "why"
    assert asserted_intent({}) is None and asserted_intent(None) is None
    result = {"content": [{"type": "text", "text": "a"}, {"type": "image"}, {"text": "b"}]}
    assert result_text(result) == "a\nb"


def test_upstream_spec_and_listen_address() -> None:
    assert UpstreamSpec.parse("http://127.0.0.1:9/mcp", None).url == "http://127.0.0.1:9/mcp"
    spec = UpstreamSpec.parse(None, "/usr/bin/python3 -m server --flag 'a b'")
    assert spec.command == ("/usr/bin/python3", "-m", "server", "--flag", "a b")
    assert spec.name == "python3"
    for url, command in ((None, None), ("http://x", "cmd"), ("ftp://x", None), (None, "  ")):
        with pytest.raises(ConfigError):
            UpstreamSpec.parse(url, command)
    assert parse_listen("127.0.0.1:8930") == ("127.0.0.1", 8930)
    assert parse_listen("[::1]:80") == ("::1", 80)
    for bad in ("8930", "host:", "host:99999"):
        with pytest.raises(click.BadParameter):
            parse_listen(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")  # noqa: S104
