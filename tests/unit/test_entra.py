"""Entra ID parser, on Elastic's and Panther's real test events and on hand-written agent
sign-ins (no public sample carries a non-trivial ``agent`` object yet)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.entra import EntraSource
from ingest.framing import Framed, frame_lines
from kernel.errors import RecordError
from kernel.events import (
    API_CALL,
    FAILURE,
    IDENTITY,
    KEY_IDP_SESSION,
    KEY_IDP_TXN,
    KEY_JTI,
    SUCCESS,
    TOKEN_GRANT,
    UNKNOWN,
    Event,
    canonical_json,
)
from tests.unit.parsing import check_event, run, source_ids

ELASTIC = "entra_id/elastic-integrations/test-signinlogs-raw.log"
AUDIT = "entra_id/panther-analysis/Azure.Audit.rule-tests.jsonl"
M365 = "entra_id/panther-analysis/Microsoft365.Audit.AzureActiveDirectory.rule-tests.jsonl"

# Accepted and rejected records per sample file, checked by eye against the files.
# Elastic: one Azure Monitor sign-in per category (SignInLogs, NonInteractive, ServicePrincipal,
# MicrosoftServicePrincipal, ManagedIdentity), all accepted.
# Azure.Audit: 47 Azure Monitor records, all accepted. Ten of them (12, 13, 23, 24, 33-37, 47)
# have Panther's lower-cased envelope keys ("operationname", "correlationid"), read as well.
# Microsoft365: the Office 365 Management Activity API's view of Entra (CreationTime,
# Operation, Workload), another source's format: no envelope, no Graph "createdDateTime".
EXPECTED = {
    ELASTIC: (5, {}),
    AUDIT: (47, {}),
    M365: (0, {"createdDateTime": 4}),
}


def events_of(real_data: Path, name: str) -> dict[str, Event]:
    return run(EntraSource(), real_data / name).events


def parse_one(record: Any) -> Event:
    [event] = EntraSource().parse(record, position="test:1", raw=canonical_json(record))
    return event


def test_every_sample_file_is_known(real_data: Path) -> None:
    found = {str(p.relative_to(real_data)) for p in (real_data / "entra_id").rglob("*")}
    assert {f for f in found if f.endswith((".jsonl", ".log"))} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_file_counts_and_invariants(real_data: Path, name: str) -> None:
    source = EntraSource()
    result = run(source, real_data / name)
    accepted, rejected = EXPECTED[name]
    assert not result.unframed
    assert len(result.events) == accepted
    assert result.rejected_by_field() == rejected
    for position, event in result.events.items():
        check_event(source, event, result.framed[position])


def _own_id(record: Any) -> Any:
    """The Entra object's ``id``: inside ``properties`` in an Azure Monitor record."""
    body = record.get("properties") if "properties" in record else record
    return body.get("id") if isinstance(body, dict) else None


def test_the_source_id_is_the_record_s_own_id(real_data: Path) -> None:
    elastic = source_ids(run(EntraSource(), real_data / ELASTIC), _own_id)
    assert elastic == ["8a4de8b5-095c-47d0-a96f-a75130c61d53"] * 5
    audit = source_ids(run(EntraSource(), real_data / AUDIT), _own_id)
    # Panther's hand-written records leave properties.id out of 24 of 47: empty, not made up.
    assert (len(audit), audit.count("")) == (47, 24)


def test_the_correlation_id_stays_the_transaction_key(real_data: Path) -> None:
    # correlationId is shared by the records of one request: the idp_txn key that joins
    # them, not a second source id (lines 19-22 are four audit entries of one request).
    events = events_of(real_data, AUDIT)
    name = Path(AUDIT).name
    sign_in = events[f"{name}:13"]
    assert sign_in.source_id == "55270060-d8fe-435e-9bf2-219a1d456b60"
    assert (KEY_IDP_TXN, "52d1e530-786c-443c-8dc8-aa7b1317608e") in sign_in.keys
    invited = [events[f"{name}:{n}"] for n in range(19, 23)]
    assert {e.source_id for e in invited} == {"Invited Users_123456789"}
    assert {e.keys[0] for e in invited} == {(KEY_IDP_TXN, "123456789")}
    assert "signin_id" not in sign_in.attributes and "audit_id" not in invited[0].attributes


def test_service_principal_sign_in_issues_a_token(real_data: Path) -> None:
    events = events_of(real_data, AUDIT)
    name = Path(AUDIT).name
    event = events[f"{name}:13"]  # lower-cased envelope keys: "operationname", "correlationid"
    assert (event.kind, event.operation, event.outcome) == (
        TOKEN_GRANT,
        "Sign-in activity",
        SUCCESS,
    )
    assert event.principal == "very-normal-service-principal"
    assert event.principal_type == "ServicePrincipal"
    assert event.client_id == "3b245ca3-dcce-4a54-a070-49ad8de02963"
    assert event.resource == "Office 365 Management APIs"
    # properties.correlationId, not the envelope's (which differs in this sample), and the
    # issued token's id.
    assert event.keys == [
        (KEY_IDP_TXN, "52d1e530-786c-443c-8dc8-aa7b1317608e"),
        (KEY_JTI, "CXXXXXXXXXXXXXXXXXXXXX"),
    ]
    # When the sign-in happened (createdDateTime, 9 fractional digits), not when the log
    # was written ("time": 14:00:41.848).
    assert event.event_time == datetime(2023, 7, 27, 13, 59, 53, 691680, tzinfo=UTC)
    assert event.attributes["credential_key_id"] == "2afc776a-4e79-4588-b2ad-f62c94d6bea8"
    assert event.attributes["category"] == "ServicePrincipalSignInLogs"
    assert event.agent_name is None  # a service principal is not an agent by itself

    failed = events[f"{name}:12"]
    assert (failed.kind, failed.outcome, failed.outcome_detail) == (
        TOKEN_GRANT,
        FAILURE,
        "7000215",
    )
    assert (KEY_JTI, "NDDDDDDDDDDDDDDDDDD_DD") in failed.keys


def test_user_sign_in_with_session(real_data: Path) -> None:
    name = Path(AUDIT).name
    event = events_of(real_data, AUDIT)[f"{name}:14"]
    assert (event.kind, event.outcome) == (IDENTITY, SUCCESS)  # resultType "Success"
    assert event.principal == "gandalf@lotr.com"
    assert event.principal_type == "User"
    assert event.client_id == "app-custom-789"
    assert event.resource == "Microsoft Graph"
    assert event.service == "entra"
    assert event.keys == [
        (KEY_IDP_SESSION, "session-abc-123"),
        (KEY_IDP_TXN, "graph-session-002"),
    ]
    assert event.event_time == datetime(2025, 1, 15, 9, 35, 20, 456789, tzinfo=UTC)
    assert event.attributes["ip"] == "5.5.5.5"
    assert event.attributes["user_agent"] == "python-requests/2.28.1"


def test_elastic_sign_ins(real_data: Path) -> None:
    events = events_of(real_data, ELASTIC)
    name = Path(ELASTIC).name
    first = events[f"{name}:1"]
    assert (first.kind, first.principal, first.outcome) == (IDENTITY, "test@elastic.co", FAILURE)
    assert first.outcome_detail == (
        "50140: This error occurred due to 'Keep me signed in' interrupt when the user was "
        "signing-in."
    )
    # createdDateTime "2019-10-18T04:45:48.0729893-05:00", the same instant as "time".
    assert first.event_time == datetime(2019, 10, 18, 9, 45, 48, 72989, tzinfo=UTC)
    assert first.keys == [(KEY_IDP_TXN, "8a4de8b5-095c-47d0-a96f-a75130c61d53")]
    managed = events[f"{name}:5"]
    assert (managed.kind, managed.principal_type) == (TOKEN_GRANT, "ManagedIdentity")
    # No servicePrincipalName in this fixture: the app's display name names it.
    assert managed.principal == "Office 365"
    kinds = [events[f"{name}:{i}"].kind for i in range(1, 6)]
    assert kinds == [IDENTITY, IDENTITY, TOKEN_GRANT, TOKEN_GRANT, TOKEN_GRANT]


def test_audit_records(real_data: Path) -> None:
    events = events_of(real_data, AUDIT)
    name = Path(AUDIT).name
    removal = events[f"{name}:8"]
    assert (removal.kind, removal.operation, removal.outcome) == (
        API_CALL,
        "Delete role assignment",
        SUCCESS,
    )
    assert removal.principal == "secadmin@company.com"
    assert removal.principal_type == "User"
    assert removal.resource == "former@company.com"
    assert removal.service == "Microsoft.Authorization"
    assert removal.keys == [(KEY_IDP_TXN, "role-remove-001")]
    assert removal.event_time == datetime(2025, 1, 15, 14, 15, 35, 345678, tzinfo=UTC)
    assert removal.attributes["target_type"] == "User"
    # properties.result "failed"; line 7 has no properties.result, only the envelope's.
    assert events[f"{name}:21"].outcome == FAILURE
    assert events[f"{name}:7"].outcome == SUCCESS
    # Lines 19-22: the envelope "time" is 2024-12-10, activityDateTime 2024-09-23; the
    # activity's own time wins.
    assert events[f"{name}:19"].event_time == datetime(2024, 9, 23, 14, 33, 9, 49661, tzinfo=UTC)


def test_office_365_records_are_another_format(real_data: Path) -> None:
    rejected = run(EntraSource(), real_data / M365).rejected
    assert {e.field for e in rejected.values()} == {"createdDateTime"}


def _agent_sign_in(**overrides: Any) -> dict[str, Any]:
    """An autonomous agent's sign-in as Azure Monitor streams it. Field names from a real
    streamed record (``agent.agentType``) and the Graph beta ``agentSignIn`` resource."""
    properties: dict[str, Any] = {
        "id": "5d7d1bd6-7c51-4c34-9c1e-2f2b6a1f0a00",
        "createdDateTime": "2026-03-02T10:15:00.1234567Z",
        "appId": "6f1e3a2b-0000-4000-8000-00000000a9e1",
        "appDisplayName": "Sales Research Agent",
        "servicePrincipalId": "a1b2c3d4-0000-4000-8000-0000000000sp",
        "servicePrincipalName": "Sales Research Agent",
        "resourceDisplayName": "Microsoft Graph",
        "correlationId": "0c9f7f8e-1111-4222-8333-444455556666",
        "uniqueTokenIdentifier": "q1w2e3r4t5y6u7i8o9p0aa",
        "clientCredentialType": "federatedIdentityCredential",
        "status": {"errorCode": 0},
        "agent": {
            "agentType": "agenticAppInstance",
            "agentSubjectType": "agenticAppInstance",
            "agentSubjectParentId": "b7e0c2d1-0000-4000-8000-0000000000bp",
            "parentAppId": "c3d2e1f0-0000-4000-8000-0000000000bl",
        },
    }
    properties.update(overrides)
    return {
        "time": "2026-03-02T10:16:30.0000000Z",
        "resourceId": "/tenants/00000000-0000-0000-0000-000000000000/providers/Microsoft.aadiam",
        "operationName": "Sign-in activity",
        "category": "ServicePrincipalSignInLogs",
        "tenantId": "00000000-0000-0000-0000-000000000000",
        "correlationId": "0c9f7f8e-1111-4222-8333-444455556666",
        "properties": properties,
    }


def test_agent_sign_in_in_an_event_hubs_batch() -> None:
    batch = {"records": [_agent_sign_in(), _agent_sign_in(uniqueTokenIdentifier="second")]}
    source = EntraSource()
    items = list(frame_lines(source, io.StringIO(orjson.dumps(batch).decode()), "hub.json"))
    assert [i.position for i in items if isinstance(i, Framed)] == [
        "hub.json:1[0]",
        "hub.json:1[1]",
    ]
    first = items[0]
    assert isinstance(first, Framed)
    [event] = source.parse(first.record, position=first.position, raw=first.raw)
    assert event.kind == TOKEN_GRANT
    assert event.principal == "Sales Research Agent"
    assert event.agent_name == "Sales Research Agent"
    assert event.agent_instance == "6f1e3a2b-0000-4000-8000-00000000a9e1"
    assert event.client_id == "6f1e3a2b-0000-4000-8000-00000000a9e1"
    assert event.keys == [
        (KEY_IDP_TXN, "0c9f7f8e-1111-4222-8333-444455556666"),
        (KEY_JTI, "q1w2e3r4t5y6u7i8o9p0aa"),
    ]
    assert event.attributes["agent_type"] == "agenticAppInstance"
    assert event.attributes["agent_subject_type"] == "agenticAppInstance"
    assert event.attributes["agent_parent_app_id"] == "c3d2e1f0-0000-4000-8000-0000000000bl"
    assert event.attributes["agent_subject_parent_id"] == "b7e0c2d1-0000-4000-8000-0000000000bp"
    assert event.event_time == datetime(2026, 3, 2, 10, 15, 0, 123456, tzinfo=UTC)


def test_delegated_agent_sign_in_is_a_grant_for_the_agent_user() -> None:
    record = _agent_sign_in(
        userPrincipalName="agent-user-7@contoso.example",
        sessionId="sess-42",
        servicePrincipalName=None,
        agent={"agentType": "agenticAppInstance", "agentSubjectType": "agentIDuser"},
    )
    record["category"] = "NonInteractiveUserSignInLogs"
    event = parse_one(record)
    # A user sign-in category, yet the agent signed in: a token grant, the agent's user
    # account as principal, the agent identity (by its app) as the agent.
    assert event.kind == TOKEN_GRANT
    assert (event.principal, event.principal_type) == ("agent-user-7@contoso.example", "User")
    assert event.agent_name == "Sales Research Agent"  # appDisplayName
    assert event.keys[0] == (KEY_IDP_SESSION, "sess-42")


def test_not_agentic_is_not_an_agent() -> None:
    record = _agent_sign_in(
        userPrincipalName="jdoe@contoso.example", agent={"agentType": "notAgentic"}
    )
    record["category"] = "SignInLogs"
    event = parse_one(record)
    assert (event.kind, event.agent_name, event.agent_instance) == (IDENTITY, None, None)
    assert event.attributes["agent_type"] == "notAgentic"  # evidence Entra looked


def test_graph_sign_in_shape() -> None:
    record = _agent_sign_in()["properties"] | {"signInEventTypes": ["servicePrincipal"]}
    record["status"] = {"errorCode": 70011, "failureReason": "Invalid scope."}
    event = parse_one(record)
    assert (event.kind, event.operation, event.outcome) == (
        TOKEN_GRANT,
        "Sign-in activity",
        FAILURE,
    )
    assert event.outcome_detail == "70011: Invalid scope."
    assert event.principal_type == "ServicePrincipal"
    assert "category" not in event.attributes
    assert event.source_id == "5d7d1bd6-7c51-4c34-9c1e-2f2b6a1f0a00"  # Graph's top-level id


def test_graph_directory_audit_by_an_agent() -> None:
    record = {
        "id": "Directory_0c9f7f8e_ABC_1",
        "category": "ApplicationManagement",
        "correlationId": "0c9f7f8e-1111-4222-8333-444455556666",
        "result": "success",
        "resultReason": "",
        "activityDisplayName": "Update application",
        "activityDateTime": "2026-03-02T10:17:12.5Z",
        "loggedByService": "Core Directory",
        "operationType": "Update",
        "initiatedBy": {
            "user": None,
            "app": {
                "appId": "6f1e3a2b-0000-4000-8000-00000000a9e1",
                "displayName": "Sales Research Agent",
                "servicePrincipalId": "a1b2c3d4-0000-4000-8000-0000000000sp",
                "agentType": "agenticAppInstance",  # documented by Microsoft Learn
            },
        },
        "targetResources": [
            {"id": "app-object-1", "displayName": "CRM Connector", "type": "Application"}
        ],
    }
    event = parse_one(record)
    assert (event.kind, event.operation, event.outcome) == (
        API_CALL,
        "Update application",
        SUCCESS,
    )
    assert (event.principal, event.principal_type) == ("Sales Research Agent", "ServicePrincipal")
    assert event.client_id == "6f1e3a2b-0000-4000-8000-00000000a9e1"
    assert event.agent_name == "Sales Research Agent"
    assert event.agent_instance == "6f1e3a2b-0000-4000-8000-00000000a9e1"
    assert event.resource == "CRM Connector"
    assert event.keys == [(KEY_IDP_TXN, "0c9f7f8e-1111-4222-8333-444455556666")]
    assert event.source_id == "Directory_0c9f7f8e_ABC_1"
    assert event.attributes["category"] == "ApplicationManagement"
    assert event.attributes["actor_agent_type"] == "agenticAppInstance"
    assert event.outcome_detail is None  # "" is no reason


def test_sign_in_without_status_or_result_type_is_unknown() -> None:
    record = _agent_sign_in(status=None)
    assert parse_one(record).outcome == UNKNOWN


@pytest.mark.parametrize(
    ("record", "field_name"),
    [
        ({"category": "SignInLogs", "operationName": "x", "properties": {}}, "time"),
        ({"time": "2024-01-01T00:00:00Z", "operationName": "x", "properties": {}}, "category"),
        (
            {"time": "2024-01-01T00:00:00Z", "category": "AuditLogs", "properties": {}},
            "operationName",
        ),
        ({"time": "yesterday", "category": "SignInLogs", "operationName": "x"}, "time"),
        (
            {
                "time": "2024-01-01T00:00:00Z",
                "category": "SignInLogs",
                "operationName": "Sign-in activity",
                "properties": {"createdDateTime": "not a time"},
            },
            "properties.createdDateTime",
        ),
        ({"userPrincipalName": "a@b.example", "appId": "x"}, "createdDateTime"),
        ({"activityDateTime": "2024-01-01T00:00:00Z"}, "activityDisplayName"),
        ({"activityDisplayName": "Add user"}, "activityDateTime"),
    ],
)
def test_bad_record_names_the_field(record: dict[str, Any], field_name: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_one(record)
    assert caught.value.field == field_name


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(RecordError):
        EntraSource().parse(["Sign-in activity"], position="test:1", raw='["x"]')


def test_unwrap_shapes() -> None:
    source = EntraSource()
    record = _agent_sign_in()
    assert source.unwrap({"records": record}) == [record]  # a batch of one, as an object
    assert source.unwrap({"records": "nope"}) is None
    assert source.unwrap(record) is None
