"""GitHub audit log parser, on Panther's real GitHub test events and hand-written token and
agent events (the samples hold no token grant and no agentic actor)."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.framing import Framed, frame_lines
from ingest.github import GitHubAuditSource, token_fingerprint
from kernel.errors import RecordError
from kernel.events import (
    API_CALL,
    FAILURE,
    IDENTITY,
    KEY_IDP_TXN,
    KEY_JTI,
    KEY_TOKEN_FP,
    SUCCESS,
    TOKEN_GRANT,
    Event,
    canonical_json,
)
from kernel.tokens import fingerprint, fingerprint_digest
from tests.jwt import b64
from tests.unit.parsing import Run, check_event, run, source_ids

PANTHER = "github_audit/panther-analysis"
RULE_TESTS = "GitHub.Audit.rule-tests.jsonl"

# Panther rule tests omit what their rule does not read. Rejected, checked by eye: no
# timestamp at all on lines 40, 41, 58-74, 81-83 and 85 (85 has only Panther's own
# "p_event_time"): 23; "created_at": "2024-12-17 00:00:00000000" (no fraction dot, eight
# zeros) on 46-49: 4. The other 62 are accepted.
EXPECTED = {RULE_TESTS: (62, {"@timestamp": 23, "created_at": 4})}


def rule_tests(real_data: Path) -> Run:
    return run(GitHubAuditSource(), real_data / PANTHER / RULE_TESTS)


def parse_one(record: Any) -> Event:
    [event] = GitHubAuditSource().parse(record, position="test:1", raw=canonical_json(record))
    return event


def test_every_sample_file_is_known(real_data: Path) -> None:
    assert {p.name for p in (real_data / PANTHER).glob("*.jsonl")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_file_counts_and_invariants(real_data: Path, name: str) -> None:
    source = GitHubAuditSource()
    result = run(source, real_data / PANTHER / name)
    accepted, rejected = EXPECTED[name]
    assert not result.unframed
    assert len(result.events) == accepted
    assert result.rejected_by_field() == rejected
    for position, event in result.events.items():
        check_event(source, event, result.framed[position])


def test_the_source_id_is_the_document_id(real_data: Path) -> None:
    found = source_ids(rule_tests(real_data), lambda record: record.get("_document_id"))
    # Most rule tests leave _document_id out (their rules do not read it): those are empty.
    assert (len(found), len(found) - found.count("")) == (62, 16)


def test_clone_with_an_oauth_token(real_data: Path) -> None:
    event = rule_tests(real_data).events[f"{RULE_TESTS}:57"]
    assert (event.kind, event.operation, event.outcome) == (API_CALL, "git.clone", SUCCESS)
    assert (event.principal, event.principal_type) == ("acme-inc-user", "User")
    assert event.resource == "acme-inc/a-repo"
    assert event.service == "github"
    # This fixture's hashed_token is 40 hex digits and "=", not base64 of a SHA-256
    # digest: kept as written rather than decoded into a wrong fingerprint.
    assert event.keys == [
        (KEY_TOKEN_FP, "sha256b64:0771cae4d170dc02a6ff393d9946cd684d6145c1="),
        (KEY_JTI, "github-token:0123456789"),
    ]
    # Only Panther's "at_sign_timestamp" (its name for "@timestamp") dates this record.
    assert event.event_time == datetime(2023, 11, 20, 21, 20, 9, 423000, tzinfo=UTC)
    assert event.attributes["access_type"] == "OAuth access token"
    assert event.attributes["ip"] == "5.6.7.8"
    assert event.attributes["actor_id"] == "123456789"
    assert event.source_id == "KCYtigpnShPBSohA4OXbRg=="  # _document_id
    assert "document_id" not in event.attributes


def test_app_token_and_bot_actor(real_data: Path) -> None:
    event = rule_tests(real_data).events[f"{RULE_TESTS}:84"]
    assert event.operation == "workflows.created_workflow_run"
    assert (event.principal, event.principal_type) == ("github-actions[bot]", "Bot")
    assert event.keys == [(KEY_JTI, "github-token:1111111111111")]
    assert event.attributes["access_type"] == "GitHub App server-to-server token"
    assert event.agent_name is None  # "actor_is_agent": false
    assert event.event_time == datetime(2025, 10, 15, 18, 45, 47, 48000, tzinfo=UTC)


def test_timestamps(real_data: Path) -> None:
    events = rule_tests(real_data).events
    epoch = datetime(2021, 5, 18, 2, 31, 58, 553000, tzinfo=UTC)
    assert events[f"{RULE_TESTS}:1"].event_time == epoch  # created_at in epoch ms
    assert events[f"{RULE_TESTS}:32"].event_time == epoch  # the same as a float
    assert events[f"{RULE_TESTS}:42"].event_time == datetime(
        2021, 6, 17, 23, 15, 19, 91000, tzinfo=UTC
    )  # "@timestamp"
    # Line 52: "@timestamp" (as at_sign_timestamp) 2024-04-09 and created_at 2024-03-13
    # differ; "@timestamp" is the event's.
    assert events[f"{RULE_TESTS}:52"].event_time == datetime(
        2024, 4, 9, 6, 17, 55, 186000, tzinfo=UTC
    )


def test_actors_and_resources(real_data: Path) -> None:
    events = rule_tests(real_data).events
    anonymous = events[f"{RULE_TESTS}:44"]  # "actor": ""
    assert (anonymous.principal, anonymous.principal_type) == (None, None)
    assert events[f"{RULE_TESTS}:45"].principal_type == "Bot"  # secret-scanning[bot]
    member = events[f"{RULE_TESTS}:29"]  # org.remove_member: the user removed is the target
    assert (member.operation, member.principal, member.resource) == (
        "org.remove_member",
        "cat",
        "bob",
    )
    ssh_key = events[f"{RULE_TESTS}:77"]  # an SSH key is registered, no token issued
    assert (ssh_key.operation, ssh_key.kind) == ("public_key.create", API_CALL)


def test_rejections_name_the_field(real_data: Path) -> None:
    rejected = rule_tests(real_data).rejected
    bad_created_at = sorted(
        int(p.rsplit(":", 1)[1]) for p, e in rejected.items() if e.field == "created_at"
    )
    assert bad_created_at == [46, 47, 48, 49]
    assert "00000000" in rejected[f"{RULE_TESTS}:46"].reason


def _token_event(**overrides: Any) -> dict[str, Any]:
    """A fine-grained PAT granted org access, in the REST API's shape (field names from
    GitHub's audit log docs)."""
    record: dict[str, Any] = {
        "@timestamp": 1735689600000,
        "_document_id": "doc-pat-1",
        "action": "personal_access_token.access_granted",
        "actor": "octocat",
        "actor_id": 583231,
        "actor_ip": "203.0.113.10",
        "org": "acme",
        "org_id": 42,
        "user": "octocat",
        "request_id": "C3F0:1B2A:9D8E7F:A1B2C3:65A1B2C3",
        "programmatic_access_type": "Fine-grained personal access token",
        "hashed_token": b64(hashlib.sha256(b"github_pat_EXAMPLE").digest()),
        "token_id": 987654321,
        "token_scopes": "repo, read:org",
        "oauth_application_id": 5479418713,
        "operation_type": "create",
    }
    record.update(overrides)
    return record


def test_token_grant_keys_join_a_gateway_fingerprint() -> None:
    event = parse_one(_token_event())
    assert event.kind == TOKEN_GRANT
    assert event.principal == "octocat"
    assert event.client_id == "5479418713"  # an integer in the REST API
    assert event.scopes == ["repo", "read:org"]
    # base64(SHA-256) decoded is the same key a gateway writes for the same bearer token.
    assert event.keys == [
        (KEY_TOKEN_FP, fingerprint("github_pat_EXAMPLE")),
        (KEY_JTI, "github-token:987654321"),
        (KEY_IDP_TXN, "C3F0:1B2A:9D8E7F:A1B2C3:65A1B2C3"),
    ]
    assert event.attributes["token_id"] == "987654321"
    assert event.event_time == datetime(2025, 1, 1, tzinfo=UTC)
    # request_id is the request's (a key), _document_id the record's own id.
    assert event.source_id == "doc-pat-1"


def test_token_fingerprint_forms() -> None:
    digest = hashlib.sha256(b"gho_EXAMPLE").digest()
    assert token_fingerprint(b64(digest)) == fingerprint_digest(digest)
    assert fingerprint_digest(digest) == fingerprint("gho_EXAMPLE")
    assert token_fingerprint("not base64!") == "sha256b64:not base64!"
    short = b64(b"sixteen bytes!!!")  # valid base64, not a SHA-256
    assert token_fingerprint(short) == "sha256b64:" + short


@pytest.mark.parametrize(
    ("action", "kind", "outcome"),
    [
        ("oauth_access.create", TOKEN_GRANT, SUCCESS),
        ("oauth_authorization.create", TOKEN_GRANT, SUCCESS),
        ("personal_access_token.create", TOKEN_GRANT, SUCCESS),
        ("personal_access_token.request_denied", API_CALL, FAILURE),
        ("public_key.verification_failure", API_CALL, FAILURE),
        ("oauth_access.destroy", API_CALL, SUCCESS),
        ("business.sso_response", IDENTITY, SUCCESS),
    ],
)
def test_kind_and_outcome_follow_the_action(action: str, kind: str, outcome: str) -> None:
    event = parse_one(_token_event(action=action))
    assert (event.kind, event.outcome) == (kind, outcome)


def test_agentic_event() -> None:
    # GitHub's "Audit log events for agents": actor_is_agent, agent_session_id, and "user"
    # as the person who started the agent.
    event = parse_one(
        {
            "@timestamp": 1760553947048,
            "action": "pull_request.create",
            "actor": "Copilot",
            "actor_is_agent": True,
            "agent_session_id": "012345a6-b7c8-9012-de3f-45gh678i9012",
            "user": "octocat",
            "repo": "acme/api",
            "integration": "copilot-swe-agent",
        }
    )
    assert (event.principal, event.principal_type) == ("Copilot", "Agent")
    assert event.agent_name == "Copilot"
    assert event.agent_instance == "012345a6-b7c8-9012-de3f-45gh678i9012"
    assert event.attributes["user"] == "octocat"
    assert event.client_id == "copilot-swe-agent"
    assert event.resource == "acme/api"


def test_rest_array_is_split() -> None:
    page = orjson.dumps([_token_event(), _token_event(action="repo.create")]).decode()
    items = list(frame_lines(GitHubAuditSource(), io.StringIO(page), "audit-log.json"))
    assert [i.position for i in items if isinstance(i, Framed)] == [
        "audit-log.json:1[0]",
        "audit-log.json:1[1]",
    ]


@pytest.mark.parametrize(
    ("record", "field_name"),
    [
        ({"@timestamp": 1735689600000, "actor": "octocat"}, "action"),
        ({"@timestamp": 1735689600000, "action": 7}, "action"),
        ({"action": "repo.create", "actor": "octocat"}, "@timestamp"),
        ({"action": "repo.create", "@timestamp": "yesterday"}, "@timestamp"),
        ({"action": "repo.create", "created_at": ""}, "@timestamp"),
    ],
)
def test_bad_record_names_the_field(record: dict[str, Any], field_name: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_one(record)
    assert caught.value.field == field_name


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(RecordError):
        GitHubAuditSource().parse("repo.create", position="test:1", raw='"repo.create"')
