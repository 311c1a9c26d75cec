"""The declaration shape: what is accepted, and which field a refusal names."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest

from kernel import events as ev
from kernel.codec import Envelope
from kernel.declaration import DeclarationError, Origin, parse_declaration
from kernel.events import Event
from kernel.vocabulary import LINK_DECLARED, ORIGIN_TYPES
from processors.stitch import Stitcher

GOOD: dict[str, Any] = {
    "agent": {
        "id": "support-agent",
        "instance": "support-agent-7c9",
        "version": "2.4.1",
        "owner": "alice@acme.example",
        "spiffe_id": "spiffe://acme.example/agents/support",
    },
    "origin": {"type": "human", "principal": "alice@acme.example", "prompt": "fix globex"},
    "intent": {
        "text": "Update the shipping address of customer globex",
        "tools": ["crm.update_customer"],
        "actions": ["read", "write"],
    },
    "scopes": ["crm.customers.write"],
    "bindings": {"token_jti": "AT.abc", "mcp_session_id": "m-1", "client_id": "0oa1"},
    "expected_duration_s": 900,
}


def test_a_good_declaration_is_accepted_with_a_generated_id_and_prompt_digest() -> None:
    declaration = parse_declaration(GOOD)
    assert declaration.session_id.startswith("s-") and len(declaration.session_id) == 22
    assert declaration.origin.prompt_sha256 == hashlib.sha256(b"fix globex").hexdigest()
    assert declaration.bindings.correlation_keys() == [
        (ev.KEY_JTI, "AT.abc"),
        (ev.KEY_MCP_SESSION, "m-1"),
    ]
    assert declaration.declared_at.tzinfo is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["origin"].pop("principal"), "origin.principal"),
        (lambda d: d.update(origin={"type": "schedule"}), "origin.job_id"),
        (lambda d: d.update(origin={"type": "agent"}), "origin.upstream_session_id"),
        (lambda d: d["origin"].update(type="robot"), "origin.type"),
        (lambda d: d["origin"].update(prompt_sha256="0" * 64), "origin.prompt_sha256"),
        (lambda d: d.update(bindings={"client_id": "0oa1"}), "bindings"),
        (lambda d: d["bindings"].update(trace_id="not-hex"), "bindings.trace_id"),
        (lambda d: d["agent"].update(spiffe_id="https://acme.example"), "agent.spiffe_id"),
        (lambda d: d["intent"].update(text=""), "intent.text"),
        (lambda d: d["intent"].update(actions=["read", "update"]), "intent.actions"),
        (lambda d: d.pop("agent"), "agent"),
        (lambda d: d.update(expected_duration_s=-5), "expected_duration_s"),
        (lambda d: d.update(declared_at="2026-11-20T10:00:00"), "declared_at"),
        (lambda d: d.update(surprise=True), "surprise"),
    ],
)
def test_a_bad_declaration_names_the_field(change: Any, field: str) -> None:
    body = copy.deepcopy(GOOD)
    change(body)
    with pytest.raises(DeclarationError) as caught:
        parse_declaration(body)
    assert caught.value.field == field


def _event(event_id: str, keys: list[tuple[str, str]], when: datetime) -> Envelope:
    event = Event(
        event_id=event_id,
        source="mcp",
        kind=ev.TOOL_CALL,
        event_time=when,
        operation="tools/call",
        position="f:1",
        raw="{}",
        keys=keys,
        principal="00u1",
        principal_type=None,
    )
    return Envelope(event, when)


def test_a_declaration_owns_its_bindings_and_absorbs_sessions_started_before_it() -> None:
    start = datetime(2026, 11, 20, 10, tzinfo=UTC)
    stitcher = Stitcher()
    early = stitcher.process([_event("e1", [(ev.KEY_JTI, "AT.abc")], start)])
    early_session = early.actions[0]["session_id"]

    body = copy.deepcopy(GOOD) | {
        "session_id": "s-declared",
        "declared_at": (start + timedelta(seconds=5)).isoformat(),
    }
    out = stitcher.declare(parse_declaration(body))
    assert [(a["alias_id"], a["session_id"], a["rule"]) for a in out.session_aliases] == [
        (early_session, "s-declared", LINK_DECLARED)
    ]
    [session] = out.sessions
    assert (session["origin_type"], session["origin_principal"]) == ("human", "alice@acme.example")
    assert session["declared"] is True and session["first_seen"].startswith("2026-11-20 10:00:00")
    assert {(k["key_type"], k["key_value"]) for k in out.session_keys} == {
        (ev.KEY_MCP_SESSION, "m-1")
    }

    later = stitcher.process([_event("e2", [(ev.KEY_MCP_SESSION, "m-1")], start + timedelta(1))])
    assert later.actions[0]["session_id"] == "s-declared"
    # An event joining the declared session and another session keeps the declared id.
    other = stitcher.process([_event("e3", [(ev.KEY_TRACE, "t" * 32)], start)])
    both = stitcher.process(
        [_event("e4", [(ev.KEY_TRACE, "t" * 32), (ev.KEY_JTI, "AT.abc")], start + timedelta(2))]
    )
    assert both.actions[0]["session_id"] == "s-declared"
    assert stitcher.state.resolve(other.actions[0]["session_id"]) == "s-declared"


def test_the_declared_origin_types_are_the_vocabulary_s() -> None:
    """The declaration's Literal and the names the processors compare with must not drift."""
    assert get_args(Origin.model_fields["type"].annotation) == ORIGIN_TYPES
