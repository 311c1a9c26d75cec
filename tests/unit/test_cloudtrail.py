"""CloudTrail parser, on AWS documentation examples, Panther tests and Stratus Red Team logs."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.cloudtrail import CloudTrailSource
from ingest.framing import Framed, Unframed, frame_lines
from kernel.errors import RecordError
from kernel.events import (
    API_CALL,
    FAILURE,
    IDENTITY,
    KEY_AWS_ACCESS_KEY,
    KEY_AWS_SESSION_NAME,
    SUCCESS,
    TOKEN_GRANT,
    Event,
    canonical_json,
)
from tests.unit.parsing import Run, check_event, run, source_ids

AWSDOCS = "aws_cloudtrail/awsdocs-iam-user-guide"
PANTHER = "aws_cloudtrail/panther-analysis"
STRATUS = "aws_cloudtrail/stratus-red-team"
RULE_TESTS = "AWS.CloudTrail.rule-tests.jsonl"

# One record per AWS documentation file; three of them are not valid JSON as published
# (05 and 06 lack a comma, 07 has "\." in a string): framing rejects them, see below.
AWSDOCS_ACCEPTED = {
    "00-iam-getuserpolicy.json": 1,
    "01-sts-assumerole-crossaccount-caller.json": 1,
    "02-sts-assumerole-crossaccount-target.json": 1,
    "03-sts-assumerole-role-chaining.json": 1,
    "04-service-deletebucket.json": 1,
    "05-sts-assumerolewithsaml.json": 0,
    "06-sts-assumerolewithwebidentity.json": 0,
    "07-signin-consolelogin-success.json": 0,
    "08-signin-consolelogin-failure.json": 1,
    "09-signin-consolelogin-failure-unknown-user.json": 1,
}
# Panther rule tests omit what their rule does not read. Rejected, checked by eye: no
# eventTime on lines 31-34, 71, 85, 371-375, 425, 431; "redacted" (307) and "..." (433)
# as eventTime; no eventTime nor eventSource on 312, 313, 436, 437 (eventTime is checked
# first); eventSource missing on 435. The lowercased-keys file is Panther's normalization,
# not CloudTrail's format: all 7 rejected.
PANTHER_EXPECTED = {
    RULE_TESTS: (421, {"eventTime": 19, "eventSource": 1}),
    "AWS.CloudTrail.rule-tests.lowercased-keys.jsonl": (0, {"eventTime": 7}),
    "test_scenarios__compromised-root-creds__attacker_cloudtrail.jsonl": (12, {}),
    "test_scenarios__compromised-root-creds__victim_cloudtrail.jsonl": (4, {}),
    "test_scenarios__enrichment-example__attacker_cloudtrail.jsonl": (7, {}),
    "test_scenarios__enrichment-example__victim_cloudtrail.jsonl": (4, {}),
}
# Stratus detonation logs are JSON arrays of complete, real CloudTrail records: all accepted.
STRATUS_ACCEPTED = {
    "aws.credential-access.ec2-get-password-data.json": 34,
    "aws.credential-access.ec2-steal-instance-credentials.json": 45,
    "aws.credential-access.secretsmanager-batch-retrieve-secrets.json": 5,
    "aws.credential-access.secretsmanager-retrieve-secrets.json": 21,
    "aws.credential-access.ssm-retrieve-securestring-parameters.json": 10,
    "aws.defense-evasion.cloudtrail-delete.json": 1,
    "aws.defense-evasion.cloudtrail-event-selectors.json": 1,
    "aws.defense-evasion.cloudtrail-stop.json": 1,
    "aws.defense-evasion.dns-delete-logs.json": 1,
    "aws.defense-evasion.organizations-leave.json": 3,
    "aws.defense-evasion.vpc-remove-flow-logs.json": 1,
    "aws.discovery.ec2-download-user-data.json": 19,
    "aws.execution.ec2-launch-unusual-instances.json": 3,
    "aws.execution.ec2-user-data.json": 35,
    "aws.execution.ssm-send-command.json": 56,
    "aws.execution.ssm-start-session.json": 29,
    "aws.exfiltration.ec2-security-group-open-port-22-ingress.json": 1,
    "aws.exfiltration.ec2-share-ami.json": 1,
    "aws.exfiltration.ec2-share-ebs-snapshot.json": 1,
    "aws.exfiltration.rds-share-snapshot.json": 1,
    "aws.impact.bedrock-invoke-model.json": 15,
    "aws.initial-access.console-login-without-mfa.json": 1,
    "aws.lateral-movement.ec2-instance-connect.json": 3,
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json": 4,
    "aws.persistence.iam-backdoor-role.json": 1,
    "aws.persistence.iam-backdoor-user.json": 1,
    "aws.persistence.iam-create-admin-user.json": 3,
    "aws.persistence.iam-create-backdoor-role.json": 2,
    "aws.persistence.iam-create-user-login-profile.json": 3,
    "aws.persistence.lambda-backdoor-function.json": 1,
    "aws.persistence.lambda-layer-extension.json": 1,
    "aws.persistence.lambda-overwrite-code.json": 1,
    "aws.persistence.rolesanywhere-create-trust-anchor.json": 2,
    "aws.persistence.sts-federation-token.json": 2,
    "aws.privilege-escalation.iam-update-user-login-profile.json": 1,
}


def only(result: Run) -> Event:
    [event] = result.events.values()
    return event


def parse_one(record: Any) -> Event:
    [event] = CloudTrailSource().parse(record, position="test:1", raw=canonical_json(record))
    return event


def test_every_sample_file_is_known(real_data: Path) -> None:
    assert {p.name for p in (real_data / AWSDOCS).iterdir()} == set(AWSDOCS_ACCEPTED)
    assert {p.name for p in (real_data / PANTHER).glob("*.jsonl")} == set(PANTHER_EXPECTED)
    assert {p.name for p in (real_data / STRATUS).iterdir()} == set(STRATUS_ACCEPTED)


@pytest.mark.parametrize("name", sorted(AWSDOCS_ACCEPTED))
def test_awsdocs_file(real_data: Path, name: str) -> None:
    source = CloudTrailSource()
    result = run(source, real_data / AWSDOCS / name)
    assert len(result.events) == AWSDOCS_ACCEPTED[name]
    assert not result.rejected
    assert len(result.unframed) == 1 - AWSDOCS_ACCEPTED[name]
    for position, event in result.events.items():
        check_event(source, event, result.framed[position])


@pytest.mark.parametrize("name", sorted(PANTHER_EXPECTED))
def test_panther_file(real_data: Path, name: str) -> None:
    source = CloudTrailSource()
    result = run(source, real_data / PANTHER / name)
    accepted, rejected = PANTHER_EXPECTED[name]
    assert not result.unframed
    assert len(result.events) == accepted
    assert result.rejected_by_field() == rejected
    for position, event in result.events.items():
        check_event(source, event, result.framed[position])


@pytest.mark.parametrize("name", sorted(STRATUS_ACCEPTED))
def test_stratus_file(real_data: Path, name: str) -> None:
    source = CloudTrailSource()
    result = run(source, real_data / STRATUS / name)
    assert not result.unframed and not result.rejected
    assert len(result.events) == STRATUS_ACCEPTED[name]
    # A JSON array: each element keeps its index in the position.
    assert sorted(result.events) == sorted(f"{name}:1[{i}]" for i in range(len(result.events)))
    for position, event in result.events.items():
        check_event(source, event, result.framed[position])


@pytest.mark.parametrize(
    ("name", "line", "why"),
    [
        ("05-sts-assumerolewithsaml.json", 36, "Expecting ','"),
        ("06-sts-assumerolewithwebidentity.json", 20, "Expecting ','"),
        ("07-signin-consolelogin-success.json", 22, "Invalid \\escape"),
    ],
)
def test_invalid_awsdocs_json_points_at_the_line(
    real_data: Path, name: str, line: int, why: str
) -> None:
    path = real_data / AWSDOCS / name
    with path.open(encoding="utf-8") as lines:
        [item] = list(frame_lines(CloudTrailSource(), lines, name))
    assert isinstance(item, Unframed)
    assert item.error.position == f"{name}:{line}"
    assert item.error.source == "cloudtrail"
    assert why in item.error.reason


def test_role_chaining_keys_link_caller_and_issued_session(real_data: Path) -> None:
    event = only(
        run(CloudTrailSource(), real_data / AWSDOCS / "03-sts-assumerole-role-chaining.json")
    )
    assert (event.kind, event.operation, event.service) == (
        TOKEN_GRANT,
        "AssumeRole",
        "sts.amazonaws.com",
    )
    assert event.principal == "arn:aws:sts::111111111111:assumed-role/JohnDoe/JohnRole1"
    assert event.principal_type == "AssumedRole"
    # Caller: its session name (from the arn) and source identity; its key is an AKIA
    # (a documentation slip) and is not a key. Issued: the ASIA key and the new session name.
    assert event.keys == [
        (KEY_AWS_SESSION_NAME, "JohnRole1"),
        (KEY_AWS_SESSION_NAME, "JohnDoe"),
        (KEY_AWS_ACCESS_KEY, "ASIAWHOJDLGPOEXAMPLE"),
        (KEY_AWS_SESSION_NAME, "Role2WithTags"),
    ]
    assert event.attributes["issued_access_key"] == "ASIAWHOJDLGPOEXAMPLE"
    assert event.resource == "arn:aws:iam::111111111111:role/JohnRole2"
    assert event.event_time == datetime(2019, 10, 2, 22, 12, 29, tzinfo=UTC)
    # The real-looking session token was replaced by framing before parse saw it.
    assert "AgoJb3JpZ2luX2VjEB4a" not in event.raw
    assert '"redacted":true' in event.raw


def test_long_term_keys_are_never_keys(real_data: Path) -> None:
    path = real_data / AWSDOCS / "01-sts-assumerole-crossaccount-caller.json"
    event = only(run(CloudTrailSource(), path))
    # Caller AKIA… and (in this doc example) an issued AKIA…: neither is session-scoped.
    assert event.keys == [
        (KEY_AWS_SESSION_NAME, "JohnDoe-EC2-dev"),
        (KEY_AWS_SESSION_NAME, "JohnDoe"),
    ]
    assert event.principal == "arn:aws:iam::777788889999:user/JohnDoe"


def test_assumed_role_api_call(real_data: Path) -> None:
    event = only(run(CloudTrailSource(), real_data / AWSDOCS / "04-service-deletebucket.json"))
    assert (event.kind, event.operation, event.outcome) == (API_CALL, "DeleteBucket", SUCCESS)
    assert event.service == "s3.amazonaws.com"
    assert event.resource == "my-test-bucket-cross-account"
    assert event.keys == [(KEY_AWS_SESSION_NAME, "devdsk")]
    assert event.source_id == "dEXAMPLE-265a-41e0-9352-4401bEXAMPLE"  # eventID
    assert event.attributes["request_id"] == "EXAMPLE463D56D4C"
    assert event.attributes["region"] == "us-east-2"
    assert event.attributes["ip"] == "192.0.2.1"


def test_console_login_failures(real_data: Path) -> None:
    failed = only(
        run(CloudTrailSource(), real_data / AWSDOCS / "08-signin-consolelogin-failure.json")
    )
    assert (failed.kind, failed.outcome) == (IDENTITY, FAILURE)
    assert failed.outcome_detail == "Failed authentication"  # no errorCode on sign-in
    assert failed.principal == "arn:aws:iam::111122223333:user/JaneDoe"
    unknown = only(
        run(
            CloudTrailSource(),
            real_data / AWSDOCS / "09-signin-consolelogin-failure-unknown-user.json",
        )
    )
    assert unknown.principal == "HIDDEN_DUE_TO_SECURITY_REASONS"  # no arn: userName
    assert unknown.keys == []  # accessKeyId is ""
    assert unknown.outcome == FAILURE


def test_issued_key_links_the_grant_to_the_calls_made_with_it(real_data: Path) -> None:
    name = "aws.credential-access.ec2-get-password-data.json"
    events = run(CloudTrailSource(), real_data / STRATUS / name).events
    key = (KEY_AWS_ACCESS_KEY, "ASIANQQHHS551LWULIWD")
    grant = events[f"{name}:1[31]"]
    assert (grant.kind, grant.operation, grant.outcome) == (TOKEN_GRANT, "AssumeRole", SUCCESS)
    assert grant.principal == "arn:aws:iam::457448411975:user/christophe"
    # The Go SDK named the session from the clock (aws-go-sdk-1722375070115152000): the
    # issued key links the calls, the name links nothing.
    assert grant.keys == [key]
    assert grant.attributes["read_only"] == "true"
    calls = [e for e in events.values() if e.kind == API_CALL]
    assert len(calls) == 30
    assert all(e.keys == [key] for e in calls)
    assert all(
        e.principal and e.principal.endswith("/aws-go-sdk-1722375070115152000") for e in calls
    )
    first = events[f"{name}:1[0]"]
    assert (first.operation, first.outcome) == ("GetPasswordData", FAILURE)
    assert first.outcome_detail is not None
    assert first.outcome_detail.startswith(
        "Client.UnauthorizedOperation: You are not authorized to perform this operation."
    )
    # Two AssumeRole calls were denied: still token grants, failed, and nothing issued.
    denied = [e for e in events.values() if e.kind == TOKEN_GRANT and e.outcome == FAILURE]
    assert len(denied) == 2
    assert all(e.outcome_detail and e.outcome_detail.startswith("AccessDenied: ") for e in denied)
    assert all("issued_access_key" not in e.attributes for e in denied)


def test_federation_token(real_data: Path) -> None:
    name = "aws.persistence.sts-federation-token.json"
    events = run(CloudTrailSource(), real_data / STRATUS / name).events
    grant, call = events[f"{name}:1[0]"], events[f"{name}:1[1]"]
    assert (grant.kind, grant.operation) == (TOKEN_GRANT, "GetFederationToken")
    assert grant.keys == [(KEY_AWS_ACCESS_KEY, "ASIASTJKC5GCM7ZE6LUP")]
    assert grant.resource == "stratus_red_team"  # requestParameters.name
    assert call.kind == API_CALL
    assert call.principal == "arn:aws:sts::742491224508:federated-user/stratus_red_team"
    assert call.keys == grant.keys


def test_repeated_event_ids_do_not_collapse_records(real_data: Path) -> None:
    # Panther reuses eventID "1", "1111", … across unrelated records: our event id hashes
    # the whole record, so it is equal exactly when the records are.
    result = run(CloudTrailSource(), real_data / PANTHER / RULE_TESTS)
    same_source_id = [e for e in result.events.values() if e.source_id == "1"]
    assert len(same_source_id) > 50
    by_id: dict[str, str] = {}
    for event in result.events.values():
        assert by_id.setdefault(event.event_id, event.raw) == event.raw
    assert len({e.event_id for e in same_source_id}) == len({e.raw for e in same_source_id})


def _event_id(record: Any) -> Any:
    return record.get("eventID")


def test_the_source_id_is_the_trail_s_event_id(real_data: Path) -> None:
    # Stratus detonation logs are what a trail delivers: every record has its own eventID.
    stratus = [
        found
        for name in STRATUS_ACCEPTED
        for found in source_ids(run(CloudTrailSource(), real_data / STRATUS / name), _event_id)
    ]
    assert len(stratus) == sum(STRATUS_ACCEPTED.values()) == len(set(stratus))
    assert all(stratus)
    docs = [
        found
        for name in AWSDOCS_ACCEPTED
        for found in source_ids(run(CloudTrailSource(), real_data / AWSDOCS / name), _event_id)
    ]
    assert len(docs) == 7 and all(docs)
    # Panther's rule tests leave eventID out of 36 of the 421 records they accept: empty.
    panther = source_ids(run(CloudTrailSource(), real_data / PANTHER / RULE_TESTS), _event_id)
    assert (len(panther), panther.count("")) == (421, 36)


def test_panther_oddities(real_data: Path) -> None:
    events = run(CloudTrailSource(), real_data / PANTHER / RULE_TESTS).events
    sso = events[f"{RULE_TESTS}:53"]  # console sign-in by an SSO role session
    assert sso.kind == IDENTITY
    assert sso.keys == [
        (KEY_AWS_ACCESS_KEY, "ASIASXP6SDP2HUZY3TOB"),
        (KEY_AWS_SESSION_NAME, "nicholas.hakmiller"),
    ]
    assert sso.event_time == datetime(2024, 6, 2, 19, 41, 40, tzinfo=UTC)
    service = events[f"{RULE_TESTS}:432"]  # Lambda assuming its role: AWSService caller
    assert service.principal == "lambda.amazonaws.com"
    assert service.principal_type == "AWSService"
    assert service.keys == [(KEY_AWS_SESSION_NAME, "awslambda_55_20240602202712548")]
    assert service.resource == "arn:aws:iam::123456789123:role/my_role_arn"
    # "readOnly": "True" as a string still becomes "true".
    assert events[f"{RULE_TESTS}:100"].attributes["read_only"] == "true"


def test_records_wrapper_is_unwrapped() -> None:
    record = {
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"},
        "requestParameters": None,
    }
    document = orjson.dumps({"Records": [record, {**record, "eventName": "PutObject"}]}).decode()
    items = list(frame_lines(CloudTrailSource(), io.StringIO(document), "delivery.json"))
    assert [i.position for i in items if isinstance(i, Framed)] == [
        "delivery.json:1[0]",
        "delivery.json:1[1]",
    ]
    assert CloudTrailSource().unwrap({"Records": "not a list"}) is None
    assert CloudTrailSource().unwrap([record]) is None


def test_web_identity_grant() -> None:
    event = parse_one(
        {
            "eventTime": "2016-03-23T01:39:51Z",
            "eventSource": "sts.amazonaws.com",
            "eventName": "AssumeRoleWithWebIdentity",
            "userIdentity": {
                "type": "WebIdentityUser",
                "principalId": "accounts.google.com:app-id:user-42",
                "userName": "user-42",
                "identityProvider": "accounts.google.com",
            },
            "requestParameters": {
                "roleArn": "arn:aws:iam::444455556666:role/FederatedWebIdentityRole",
                "roleSessionName": "agent-run-7",
            },
            "responseElements": {
                "provider": "accounts.google.com",
                "subjectFromWebIdentityToken": "user-42",
                "audience": "app-id.apps.googleusercontent.com",
                "credentials": {"accessKeyId": "ASIACQRSTUVWRAOEXAMPLE"},
            },
        }
    )
    assert event.kind == TOKEN_GRANT
    assert (event.principal, event.principal_type) == ("user-42", "WebIdentityUser")
    assert event.client_id == "app-id.apps.googleusercontent.com"
    assert event.attributes["subject"] == "user-42"
    assert event.attributes["provider"] == "accounts.google.com"
    assert event.keys == [
        (KEY_AWS_ACCESS_KEY, "ASIACQRSTUVWRAOEXAMPLE"),
        (KEY_AWS_SESSION_NAME, "agent-run-7"),
    ]


def test_error_code_is_a_failure() -> None:
    event = parse_one(
        {
            "eventTime": "2024-05-01 10:00:00",
            "eventSource": "iam.amazonaws.com",
            "eventName": "CreateUser",
            "errorCode": "AccessDenied",
            "errorMessage": "not allowed",
            "userIdentity": {"type": "AssumedRole", "accessKeyId": "ASIAEXAMPLEKEY0000001"},
            "requestParameters": {"userName": "mallory"},
        }
    )
    assert (event.outcome, event.outcome_detail) == (FAILURE, "AccessDenied: not allowed")
    assert event.resource == "mallory"
    assert event.keys == [(KEY_AWS_ACCESS_KEY, "ASIAEXAMPLEKEY0000001")]
    assert event.principal is None


@pytest.mark.parametrize("missing", ["eventTime", "eventName", "eventSource"])
def test_bad_record_names_the_field(missing: str) -> None:
    record = {
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
    }
    del record[missing]
    with pytest.raises(RecordError) as caught:
        parse_one(record)
    assert caught.value.field == missing


def test_bad_time_names_the_field() -> None:
    with pytest.raises(RecordError) as caught:
        parse_one({"eventTime": "...", "eventSource": "s3.amazonaws.com", "eventName": "X"})
    assert caught.value.field == "eventTime"
