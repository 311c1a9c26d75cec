"""Okta System Log parser, on Panther's real Okta test events and on hand-written grants."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.okta import OktaSource
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

PANTHER = "okta/panther-analysis"
RULE_TESTS = "Okta.SystemLog.rule-tests.jsonl"

# Accepted and rejected records per sample file, checked by eye against the files.
# Rule tests: lines 16-19 have "published": "redacted", lines 20, 21, 23, 24, 25 and 32
# have no "published" at all (Panther rule tests need no timestamp): 10 rejected.
# Lowercased keys: Panther's own normalization ("eventtype", "debugcontext"), not Okta's
# wire format; every record lacks "eventType" and is rejected.
EXPECTED = {
    RULE_TESTS: (26, {"published": 10}),
    "Okta.SystemLog.rule-tests.lowercased-keys.jsonl": (0, {"eventType": 35}),
    "test_scenarios__compromised-root-creds__attacker_okta.jsonl": (2, {}),
    "test_scenarios__compromised-root-creds__victim_okta.jsonl": (1, {}),
    "test_scenarios__okta-add-administrator__admin_privs_assigned.jsonl": (1, {}),
    "test_scenarios__okta-add-administrator__brute_force_logins.jsonl": (10, {}),
    "test_scenarios__okta-add-administrator__legit_login.jsonl": (5, {}),
    "test_scenarios__okta-add-administrator__new-user.jsonl": (1, {}),
}


def okta_dir(real_data: Path) -> Path:
    return real_data / PANTHER


def parse_one(record: dict[str, Any]) -> Event:
    raw = canonical_json(record)
    [event] = OktaSource().parse(record, position="test:1", raw=raw)
    return event


def test_every_sample_file_is_known(real_data: Path) -> None:
    assert {p.name for p in okta_dir(real_data).glob("*.jsonl")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_file_counts_and_invariants(real_data: Path, name: str) -> None:
    source = OktaSource()
    result = run(source, okta_dir(real_data) / name)
    accepted, rejected = EXPECTED[name]
    assert not result.unframed
    assert len(result.events) == accepted
    assert result.rejected_by_field() == rejected
    for position, event in result.events.items():
        check_event(source, event, result.framed[position])


def test_the_source_id_is_the_log_event_s_uuid(real_data: Path) -> None:
    found = {
        name: source_ids(run(OktaSource(), okta_dir(real_data) / name), lambda r: r.get("uuid"))
        for name in EXPECTED
    }
    # Rule tests: lines 1-3 have no uuid; the scenarios' records all have theirs.
    assert (len(found[RULE_TESTS]), found[RULE_TESTS].count("")) == (26, 3)
    brute_force = found["test_scenarios__okta-add-administrator__brute_force_logins.jsonl"]
    assert len(set(brute_force)) == 10 and all(brute_force)
    assert sum(len(ids) for ids in found.values()) == 46


def test_sign_in_with_session_and_transaction(real_data: Path) -> None:
    result = run(OktaSource(), okta_dir(real_data) / RULE_TESTS)
    event = result.events[f"{RULE_TESTS}:9"]
    assert event.kind == IDENTITY
    assert event.operation == "user.session.start"
    assert event.service == "okta"
    assert event.principal == "casey.hill@hey.com"
    assert event.principal_type == "User"
    assert event.outcome == SUCCESS
    assert event.keys == [
        (KEY_IDP_SESSION, "idxvF50v_5sT2-GOA7_K0Amyw"),
        (KEY_IDP_TXN, "601b158a3b3e23be5bbf74d0fe63cd78"),
    ]
    # Okta's nanosecond form, UTC by contract.
    assert event.event_time == datetime(2024, 4, 2, 19, 17, 37, 621000, tzinfo=UTC)
    # The first target's alternateId is Okta's "unknown" placeholder: its id names it.
    assert event.resource == "lae1at5k3ir9bV1gr697"
    assert event.attributes["ip"] == "99.108.5.25"
    assert event.source_id == "aac560bd-f125-11ee-9caa-cd5d09945def"  # uuid
    assert "uuid" not in event.attributes
    # Line 10 is the same sign-in failing: same session keys, other outcome and event id.
    failed = result.events[f"{RULE_TESTS}:10"]
    assert failed.outcome == FAILURE
    assert failed.keys == event.keys
    assert failed.event_id != event.event_id


def test_placeholders_are_not_correlation_keys(real_data: Path) -> None:
    directory = okta_dir(real_data)
    name = "test_scenarios__compromised-root-creds__attacker_okta.jsonl"
    attacker = run(OktaSource(), directory / name).events[f"{name}:1"]
    # externalSessionId "unknown": keying on it would join every session-less event.
    assert attacker.keys == [(KEY_IDP_TXN, "X6hzz7TDy8EEslV80dmzRgAAApw")]
    assert attacker.outcome == FAILURE
    assert attacker.outcome_detail == "VERIFICATION_ERROR"
    assert attacker.principal == "tracey_stone@acme.io"
    assert attacker.event_time == datetime(2020, 10, 25, 10, 20, 22, tzinfo=UTC)

    # Line 22 has transaction.id "unknown" and no authenticationContext: no key at all.
    reset = run(OktaSource(), directory / RULE_TESTS).events[f"{RULE_TESTS}:22"]
    assert reset.keys == []
    assert reset.kind == API_CALL
    assert reset.operation == "user.account.reset_password"
    assert reset.principal == "system@okta.com"
    assert reset.resource == "homer@springfield.gov"


def test_kinds_follow_event_type(real_data: Path) -> None:
    events = run(OktaSource(), okta_dir(real_data) / RULE_TESTS).events
    # system.mfa.* is an admin action, not a user's MFA step; no outcome → unknown.
    mfa_off = events[f"{RULE_TESTS}:3"]
    assert (mfa_off.operation, mfa_off.kind, mfa_off.outcome) == (
        "system.mfa.factor.deactivate",
        API_CALL,
        UNKNOWN,
    )
    assert events[f"{RULE_TESTS}:1"].kind == IDENTITY  # user.session.impersonation.grant
    grant = events[f"{RULE_TESTS}:4"]
    assert (grant.operation, grant.kind) == ("user.account.privilege.grant", API_CALL)
    assert grant.resource == "alice@acme.io"
    assert grant.event_time == datetime(2020, 11, 25, 21, 27, 3, 496000, tzinfo=UTC)


def test_victim_sign_in_with_iso_time(real_data: Path) -> None:
    name = "test_scenarios__compromised-root-creds__victim_okta.jsonl"
    event = run(OktaSource(), okta_dir(real_data) / name).events[f"{name}:1"]
    assert event.event_time == datetime(2020, 10, 27, 4, 38, 51, 650000, tzinfo=UTC)
    assert event.keys == [
        (KEY_IDP_SESSION, "102F5M3O5P6Rge8yFXs55YsJg"),
        (KEY_IDP_TXN, "X6jH21EDPusrv44E02C1swAABCo"),
    ]


def test_rejections_name_the_field(real_data: Path) -> None:
    directory = okta_dir(real_data)
    rule_tests = run(OktaSource(), directory / RULE_TESTS).rejected
    assert sorted(int(p.rsplit(":", 1)[1]) for p in rule_tests) == [
        16, 17, 18, 19, 20, 21, 23, 24, 25, 32,
    ]  # fmt: skip
    assert "redacted" in rule_tests[f"{RULE_TESTS}:16"].reason
    lowercased = run(OktaSource(), directory / "Okta.SystemLog.rule-tests.lowercased-keys.jsonl")
    assert {e.field for e in lowercased.rejected.values()} == {"eventType"}


def _grant(**overrides: Any) -> dict[str, Any]:
    """An Okta access-token grant as the System Log API writes it (shape from Okta's docs)."""
    record: dict[str, Any] = {
        "uuid": "11e97654-dc37-11f0-85a8-39c9055ec998",
        "published": "2025-12-18T17:29:13.031Z",
        "eventType": "app.oauth2.as.token.grant.access_token",
        "actor": {
            "id": "00u8xdeptoh4cK9pG0g7",
            "type": "User",
            "alternateId": "sarah.sales@progear.demo",
            "displayName": "Sarah Sales",
        },
        "client": {"ipAddress": "203.0.113.9", "userAgent": {"rawUserAgent": "agent/1.2"}},
        "authenticationContext": {"externalSessionId": "102abcSESSION"},
        "transaction": {"type": "WEB", "id": "aBcTXN123"},
        "outcome": {"result": "SUCCESS", "reason": None},
        "target": [
            {
                "id": "AT.6Lvmq8zZ0aBcDeF",
                "type": "access_token",
                "alternateId": None,
                "detailEntry": {
                    "expires": "2025-12-18T18:29:13.000Z",
                    "subject": "00u8xdeptoh4cK9pG0g7",
                },
            },
            {
                "id": "0oa8sales4gentCl1ent",
                "type": "PublicClientApp",
                "alternateId": "ProGear Sales Agent",
                "displayName": "ProGear Sales Agent",
            },
        ],
        "debugContext": {
            "debugData": {
                "grantType": "authorization_code",
                "requestedScopes": "openid inventory:read inventory:write",
                "grantedScopes": "openid inventory:read",
                "authorizationServer": "aus8xdg1oaSVfDgxa0g7",
            }
        },
    }
    record.update(overrides)
    return record


def test_token_grant_carries_the_issued_token() -> None:
    event = parse_one(_grant())
    assert event.kind == TOKEN_GRANT
    assert event.principal == "sarah.sales@progear.demo"
    assert event.client_id == "0oa8sales4gentCl1ent"
    assert event.attributes["client_name"] == "ProGear Sales Agent"
    assert event.agent_name is None  # a client is not an agent until the agent says so
    assert event.scopes == ["openid", "inventory:read"]  # granted, not requested
    assert event.keys == [
        (KEY_IDP_SESSION, "102abcSESSION"),
        (KEY_IDP_TXN, "aBcTXN123"),
        (KEY_JTI, "AT.6Lvmq8zZ0aBcDeF"),
    ]
    assert event.attributes["jti"] == "AT.6Lvmq8zZ0aBcDeF"
    assert event.attributes["expires_at"] == "2025-12-18T18:29:13.000Z"
    assert event.attributes["subject"] == "00u8xdeptoh4cK9pG0g7"
    assert event.attributes["grant_type"] == "authorization_code"
    assert event.outcome == SUCCESS
    assert event.event_time == datetime(2025, 12, 18, 17, 29, 13, 31000, tzinfo=UTC)


def test_client_credentials_grant_names_the_client_from_the_actor() -> None:
    record = _grant(
        eventType="app.oauth2.token.grant.access_token",
        actor={"id": "0oa9reportingSvc", "type": "ServiceApp", "alternateId": "reporting-bot"},
        target=[{"id": "AT.machine1", "type": "access_token", "detailEntry": {}}],
        debugContext={"debugData": {"grantType": "client_credentials", "requestedScopes": "a b"}},
        authenticationContext={"externalSessionId": "unknown"},
    )
    event = parse_one(record)
    assert event.kind == TOKEN_GRANT
    assert event.principal == "reporting-bot"
    assert event.principal_type == "ServiceApp"
    assert event.client_id == "0oa9reportingSvc"
    assert event.attributes["client_name"] == "reporting-bot"
    assert event.scopes == ["a", "b"]  # no grantedScopes: the requested ones
    assert event.keys == [(KEY_IDP_TXN, "aBcTXN123"), (KEY_JTI, "AT.machine1")]


def test_denied_grant_is_a_failed_token_grant_without_token() -> None:
    record = _grant(
        eventType="app.oauth2.as.token.grant",
        outcome={"result": "FAILURE", "reason": "no_matching_policy"},
        target=[{"type": "id_jag", "detailEntry": {"scope": "inventory:write"}}],
        debugContext={"debugData": {"grantedScopes": "", "requestedScopes": "inventory:write"}},
    )
    event = parse_one(record)
    assert (event.kind, event.outcome) == (TOKEN_GRANT, FAILURE)
    assert event.outcome_detail == "no_matching_policy"
    assert event.scopes == []  # an empty grantedScopes means nothing was granted
    assert all(key_type != KEY_JTI for key_type, _ in event.keys)


@pytest.mark.parametrize(
    ("record", "field_name"),
    [
        ({"published": "2024-01-01T00:00:00Z", "actor": {"id": "x"}}, "eventType"),
        ({"eventType": "user.session.start"}, "published"),
        ({"eventType": "user.session.start", "published": "yesterday"}, "published"),
        ({"eventType": 7, "published": "2024-01-01T00:00:00Z"}, "eventType"),
    ],
)
def test_bad_record_names_the_field(record: dict[str, Any], field_name: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_one(record)
    assert caught.value.field == field_name


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(RecordError):
        OktaSource().parse(["user.session.start"], position="test:1", raw='["x"]')
