"""The OCSF mapping: ledger actions (as ``ledger.queries.action_record`` reads them) in, OCSF
1.8.0 events out, each checked against the real schema (``tests.ocsf_schema``)."""

from __future__ import annotations

from typing import Any

import pytest

from agentledger.ocsf import compact, ocsf_event, parse_utc
from ledger.queries import action_record
from tests.ocsf_schema import class_attribute, schema_problems

# 2026-03-04 05:06:07.100 UTC in milliseconds since the epoch.
T_MS = 1_772_600_767_100


def _row(**overrides: Any) -> dict[str, Any]:
    """One row as the ledger's labelled-actions query returns it: an MCP tool call, labelled
    and scored."""
    row: dict[str, Any] = {
        "action_id": "a1",
        "source_id": "crm-mcp#7",
        "event_time": "2026-03-04 05:06:07.100000",
        "source": "mcp",
        "kind": "tool_call",
        "operation": "tools/call",
        "service": "crm-mcp",
        "resource": "crm.lookup",
        "access": "read",
        "arguments": '{"account":"ACME"}',
        "attributed_agent": "support-agent (inst-7)",
        "agent_name": "support-agent",
        "agent_version": "1.4.2",
        "agent_instance": "inst-7",
        "actors": ["inst-7"],
        "label_session_id": "s-1",
        "session_id": "s-1",
        "session_intent": "Summarise ACME's open tickets",
        "session_intent_source": "declared",
        "session_declared": 1,
        "attributed_origin_type": "human",
        "attributed_origin_principal": "alice@acme.example",
        "chain": "[]",
        "principal": "alice@acme.example",
        "principal_type": "User",
        "client_id": "0oa-client",
        "scopes": ["crm.read"],
        "outcome": "success",
        "outcome_detail": "",
        "outcome_event_id": "r1",
        "link_rule": "shared_key",
        "link_key_type": "jti",
        "link_key": "AT.jti-1",
        "label": "agent_delegated",
        "label_rule": "intent_covers",
        "confused_deputy": 0,
        "evidence": '[{"fact": "intent", "detail": "covered"}]',
        "drift_action_id": "a1",
        "drift_score": 0.8349,
        "drift_flagged": 1,
        "drift_out_of_bounds": 0,
        "drift_reasons": ["tool outside the declared tools", "write after reads"],
        "drift_model_version": "drift-1",
        "drift_decision": "narrow",
        "drift_policy_rule": "defaults",
        "drift_contraction_id": "c-1",
    }
    row.update(overrides)
    return row


def _action(**overrides: Any) -> dict[str, Any]:
    return action_record(_row(**overrides))


def _valid(event: dict[str, Any]) -> dict[str, Any]:
    assert schema_problems(event) == []
    return event


def test_a_tool_call_is_api_activity_with_the_ai_operation_profile() -> None:
    event = _valid(ocsf_event(_action(), {"model": "claude-sonnet-4", "ip": "203.0.113.9"}))
    assert (event["class_uid"], event["category_uid"]) == (6003, 6)
    assert (event["activity_id"], event["type_uid"]) == (2, 600302)  # a read
    assert event["time"] == T_MS and event["timezone_offset"] == 0
    assert event["metadata"]["version"] == "1.8.0"
    assert event["metadata"]["profiles"] == ["ai_operation", "security_control"]
    assert event["metadata"]["uid"] == "a1"
    assert event["metadata"]["original_event_uid"] == "crm-mcp#7"
    assert event["metadata"]["correlation_uid"] == "s-1"
    assert event["metadata"]["labels"] == ["attribution:agent_delegated"]
    assert event["api"] == {
        "operation": "tools/call",
        "service": {"name": "crm-mcp"},
        "request": {"uid": "crm-mcp#7"},
    }
    assert event["resources"] == [{"name": "crm.lookup"}]
    assert event["actor"] == {
        "user": {"name": "alice@acme.example", "type": "User"},
        "app_name": "support-agent",
        "app_uid": "inst-7",
        "session": {"uid": "s-1", "credential_uid": "AT.jti-1"},
    }
    assert event["src_endpoint"] == {"ip": "203.0.113.9", "name": "inst-7"}
    assert event["ai_model"] == {"name": "claude-sonnet-4", "ai_provider": "Anthropic"}
    assert event["message_context"] == {
        "uid": "s-1",
        "ai_role_id": 4,
        "ai_role": "Agent",
        "application": {"name": "support-agent", "version": "1.4.2", "uid": "inst-7"},
        "service": {"name": "crm-mcp"},
    }
    assert (event["status_id"], event["status"]) == (1, "Success")


def test_drift_is_the_risk_score_and_the_rest_goes_to_unmapped() -> None:
    event = _valid(ocsf_event(_action()))
    assert event["risk_score"] == 83
    assert event["risk_details"] == "tool outside the declared tools; write after reads"
    assert event["policy"] == {"name": "defaults"}
    assert event["severity_id"] == 3  # flagged
    unmapped = event["unmapped"]
    assert unmapped["drift"]["score"] == 0.8349
    assert unmapped["drift"]["decision"] == "narrow"
    assert unmapped["drift"]["contraction_id"] == "c-1"
    assert unmapped["session"]["intent"] == "Summarise ACME's open tickets"
    assert unmapped["attribution"]["rule"] == "intent_covers"
    assert unmapped["attribution"]["evidence"] == [{"fact": "intent", "detail": "covered"}]
    assert unmapped["origin"] == {"type": "human", "principal": "alice@acme.example"}
    assert unmapped["arguments"] == '{"account":"ACME"}'


def test_an_unscored_unlabelled_call_claims_no_security_control() -> None:
    action = _action(drift_action_id="", label="", agent_name="", agent_instance="")
    event = _valid(ocsf_event(action))
    assert event["metadata"]["profiles"] == ["ai_operation"]
    assert "risk_score" not in event and "policy" not in event
    assert "labels" not in event["metadata"]
    assert event["severity_id"] == 1
    assert "ai_model" not in event  # no model named
    # No agent named: the message context would have nothing to say.
    assert "message_context" not in event
    assert event["actor"]["app_name"] == "0oa-client"


def test_the_session_names_the_agent_when_the_record_names_its_instance_only() -> None:
    action = _action(agent_name="", agent_version="", agent_instance="spiffe://acme/agent-4")
    session = {"agent_name": "support-agent", "agent_version": "2.0", "agent_instance": "x"}
    event = _valid(ocsf_event(action, session=session))
    assert event["actor"]["app_name"] == "support-agent"
    assert event["actor"]["app_uid"] == "spiffe://acme/agent-4"  # the record's own wins
    assert event["message_context"]["application"]["version"] == "2.0"


@pytest.mark.parametrize(
    ("access", "operation", "resource", "activity"),
    [
        ("read", "GetObject", "", 2),
        ("write", "CreateBucket", "", 1),
        ("write", "PutObject", "", 1),
        ("write", "tools/call", "crm.update_address", 3),
        ("write", "tools/call", "crm.create_note", 1),
        ("delete", "DeleteObject", "", 4),
        ("", "initialize", "", 0),
    ],
)
def test_api_activity_follows_what_the_action_does(
    access: str, operation: str, resource: str, activity: int
) -> None:
    event = _valid(ocsf_event(_action(access=access, operation=operation, resource=resource)))
    assert (event["activity_id"], event["type_uid"]) == (activity, 600300 + activity)


def test_a_failure_and_a_halt() -> None:
    action = _action(outcome="failure", outcome_detail="AccessDenied", drift_decision="halt")
    event = _valid(ocsf_event(action))
    assert (event["status_id"], event["status_detail"]) == (2, "AccessDenied")
    assert event["api"]["response"] == {"error": "failure", "error_message": "AccessDenied"}
    assert (event["severity_id"], event["severity"]) == (4, "High")


def test_a_service_name_in_place_of_an_ip_is_not_an_ip() -> None:
    """CloudTrail names the AWS service that made a call where a person's IP would be."""
    event = _valid(ocsf_event(_action(source="cloudtrail"), {"ip": "lambda.amazonaws.com"}))
    assert event["src_endpoint"] == {"svc_name": "lambda.amazonaws.com", "name": "inst-7"}


def test_a_sign_in_is_authentication() -> None:
    action = _action(
        kind="identity",
        source="okta",
        operation="user.session.start",
        service="",
        resource="",
        drift_action_id="",
        label="direct_user",
        link_key_type="idp_session",
    )
    attributes = {"ip": "198.51.100.7", "user_agent": "Mozilla/5.0"}
    event = _valid(ocsf_event(action, attributes))
    assert (event["class_uid"], event["category_uid"], event["activity_id"]) == (3002, 3, 1)
    assert event["type_uid"] == 300201
    assert event["user"] == {"name": "alice@acme.example", "type": "User"}
    assert event["service"] == {"name": "okta"}  # the identity provider signed in to
    assert event["src_endpoint"] == {"ip": "198.51.100.7"}
    assert event["http_request"] == {"user_agent": "Mozilla/5.0"}
    assert event["session"] == {"uid": "s-1"}
    assert "auth_protocol_id" not in event
    assert "profiles" not in event["metadata"]
    assert event["metadata"]["labels"] == ["attribution:direct_user"]


def test_a_sign_out_is_a_logoff() -> None:
    action = _action(kind="identity", source="okta", operation="user.session.end")
    assert _valid(ocsf_event(action))["activity_id"] == 2


def test_a_token_grant_is_authentication_naming_the_token_by_its_id() -> None:
    action = _action(kind="token_grant", source="okta", operation="app.oauth2.as.token.grant")
    credential = {
        "credential_id": "AT.jti-1",
        "issued_at": "2026-03-04 05:06:07.000000",
        "expires_at": "2026-03-04T06:06:07.000Z",
    }
    attributes = {"jti": "AT.jti-1", "token_issuer": "acme.okta.com/oauth2/default"}
    event = _valid(ocsf_event(action, attributes, credential))
    assert (event["activity_id"], event["activity_name"]) == (99, "Other")
    assert (event["auth_protocol_id"], event["auth_protocol"]) == (6, "OAUTH 2.0")
    assert event["session"] == {
        "uid": "s-1",
        "credential_uid": "AT.jti-1",
        "issuer": "acme.okta.com/oauth2/default",
        "created_time": T_MS - 100,
        "expiration_time": T_MS - 100 + 3_600_000,
    }
    assert event["actor"] == {"app_name": "0oa-client", "app_uid": "0oa-client"}


def test_sts_keys_are_no_oauth_grant() -> None:
    action = _action(kind="token_grant", source="cloudtrail", operation="AssumeRole")
    credential = {
        "credential_id": "ASIAEXAMPLEKEYID0001",
        "issued_at": "2026-03-04 05:06:07.000000",
        "expires_at": "1772604367",  # epoch seconds
    }
    event = _valid(ocsf_event(action, {}, credential))
    assert "auth_protocol_id" not in event
    assert event["session"]["expiration_time"] == 1_772_604_367_000


def test_every_enum_value_the_mapping_uses_is_the_schemas() -> None:
    api_activities = class_attribute(6003, "activity_id")["enum"]
    assert {"0", "1", "2", "3", "4"} <= set(api_activities)
    auth_activities = class_attribute(3002, "activity_id")["enum"]
    assert auth_activities["99"]["caption"] == "Other"
    assert auth_activities["2"]["caption"] == "Logoff"
    assert class_attribute(3002, "auth_protocol_id")["enum"]["6"]["caption"] == "OAUTH 2.0"
    assert class_attribute(6003, "ai_model")["profiles"] == ["ai_operation"]


def test_a_broken_event_fails_the_schema() -> None:
    """The check can fail: a missing required attribute, a wrong type, a profile attribute
    without its profile."""
    event = ocsf_event(_action(), {"model": "claude-sonnet-4"})
    del event["api"]
    event["severity_id"] = "1"
    event["metadata"]["profiles"] = []
    problems = " ".join(schema_problems(event))
    assert "'api' is a required property" in problems
    assert "'1' is not of type 'integer'" in problems
    assert "'ai_model'" in problems and "unexpected" in problems


def test_times_are_utc_and_compact_keeps_zero_and_false() -> None:
    assert parse_utc("2026-03-04T07:06:07.1+02:00") == parse_utc("2026-03-04 05:06:07.100000")
    assert parse_utc("2026-03-04T05:06:07Z").utcoffset() is not None
    assert compact({"a": 0, "b": False, "c": "", "d": None, "e": [], "f": {"g": None}}) == {
        "a": 0,
        "b": False,
    }
