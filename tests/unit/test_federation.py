"""A web identity token exchange joins the session that held the token (list in, rows out).

One agent task logged by three systems: Okta grants the agent a token, the agent calls an
MCP server with it (whose replies the capture logs without headers), and the server
exchanges the token at AWS STS (``AssumeRoleWithWebIdentity``, a session name of its own
choosing) and calls S3 with the keys it got. CloudTrail names the token's issuer, subject
and audience, not its ``jti``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.events import Event
from kernel.vocabulary import (
    LINK_NEW,
    LINK_SHARED_KEY,
    LINK_WEB_IDENTITY,
    LINK_WEB_IDENTITY_AMBIGUOUS,
    WEB_IDENTITY_KEY,
)
from ledger.rows import EXCHANGE_ROLE, StitchOutput
from processors.federation import _token_name, restore_web_identities
from processors.sessions import StitchState
from processors.stitch import Stitcher
from tests.scenarios import Scenario, _iso, mcp_call, okta_grant, parse, token

ISSUER_HOST = "acme.okta.example/oauth2/aus1crm"  # the token's iss, as CloudTrail names it
AGENT_CLIENT = "0oa1agentclient"
AUDIENCE = "api://crm"


def agent_task(scenario: Scenario, jti: str, t: float, *, key: str, session_name: str) -> None:
    """The grant, a tool call with the token, the exchange of that token and an S3 call."""
    scenario.add(
        "okta", okta_grant("agent@acme.example", AGENT_CLIENT, "crm-agent", jti, "crm.read", "", t)
    )
    bearer = token(AGENT_CLIENT, AGENT_CLIENT, jti, "crm.read", t)
    for record in mcp_call(bearer, "crm-agent", "1.0", 1, "export_report", {"q": "q3"}, t + 2):
        scenario.add("mcp", record)
    scenario.add("cloudtrail", exchange(t + 3, key, session_name))
    scenario.add("cloudtrail", s3_call(t + 4, key, session_name))


def exchange(t: float, key: str, session_name: str, provider: str = ISSUER_HOST) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "WebIdentityUser",
            "principalId": f"{provider}:{AUDIENCE}:{AGENT_CLIENT}",
            "userName": AGENT_CLIENT,
            "identityProvider": provider,
        },
        "eventTime": _iso(t).replace(".000", ""),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRoleWithWebIdentity",
        "awsRegion": "us-east-1",
        "requestParameters": {
            "roleArn": "arn:aws:iam::111122223333:role/crm-reports",
            "roleSessionName": session_name,
        },
        "responseElements": {
            "credentials": {"accessKeyId": key, "expiration": "Nov 2, 2026, 3:00:00 PM"},
            "subjectFromWebIdentityToken": AGENT_CLIENT,
            "provider": provider,
            "audience": AUDIENCE,
        },
        "eventID": f"ev-{key}",
        "eventType": "AwsApiCall",
    }


def s3_call(t: float, key: str, session_name: str) -> dict[str, Any]:
    arn = f"arn:aws:sts::111122223333:assumed-role/crm-reports/{session_name}"
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": arn, "accessKeyId": key},
        "eventTime": _iso(t).replace(".000", ""),
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "requestParameters": {"bucketName": "crm-reports", "key": "q3.csv"},
        "eventID": f"get-{key}",
        "eventType": "AwsApiCall",
        "readOnly": True,
    }


def stitched(scenario: Scenario, *, shuffle: int | None = None) -> tuple[Stitcher, StitchOutput]:
    envelopes = parse(scenario)
    stitcher = Stitcher()
    if shuffle is None:
        return stitcher, stitcher.process(envelopes)
    random.Random(shuffle).shuffle(envelopes)
    outputs = [stitcher.process([env]) for env in envelopes]  # one event per batch
    merged = StitchOutput()
    for out in outputs:
        merged.actions.extend(out.actions)
        merged.session_aliases.extend(out.session_aliases)
        merged.attributions.extend(out.attributions)
    return stitcher, merged


def labels(out: StitchOutput) -> dict[str, tuple[str, str, str]]:
    """Each action's latest label (the row of the highest version)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in out.attributions:
        if row["action_id"] not in latest or row["version"] >= latest[row["action_id"]]["version"]:
            latest[row["action_id"]] = row
    return {k: (r["label"], r["rule"], r["agent"]) for k, r in latest.items()}


def by_operation(out: StitchOutput) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in out.actions:
        if row["action_id"] not in latest or row["version"] >= latest[row["action_id"]]["version"]:
            latest[row["action_id"]] = row
    return {row["operation"]: row for row in latest.values()}


def test_the_three_system_task_is_one_session_with_every_link_named() -> None:
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    stitcher, out = stitched(scenario)
    actions = by_operation(out)
    state = stitcher.state
    assert len({state.resolve(row["session_id"]) for row in actions.values()}) == 1
    assert len(state.sessions) == 1  # the headerless result started none
    sts = actions["AssumeRoleWithWebIdentity"]
    assert (sts["link_rule"], sts["link_key_type"]) == (LINK_WEB_IDENTITY, WEB_IDENTITY_KEY)
    assert sts["link_key"].startswith("inferred from identity and time, not a shared key")
    assert (
        "jti-agent-1" in sts["link_key"] and f"{ISSUER_HOST} sub={AGENT_CLIENT}" in sts["link_key"]
    )
    assert (actions["GetObject"]["link_rule"], actions["GetObject"]["link_key_type"]) == (
        LINK_SHARED_KEY,
        "aws_access_key",
    )
    assert actions["tools/call"]["outcome"] == "success"  # the headerless result paired


@pytest.mark.parametrize("seed", range(6))
def test_an_exchange_seen_before_its_token_joins_once_the_token_is_known(seed: int) -> None:
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    stitcher, out = stitched(scenario, shuffle=seed)
    state = stitcher.state
    roots = {state.resolve(row["session_id"]) for row in by_operation(out).values()}
    assert len(roots) == 1
    rules = {row["rule"] for row in out.session_aliases}
    sts = by_operation(out)["AssumeRoleWithWebIdentity"]
    # Joined at once (its token known) or merged when the token came, by the same rule.
    assert sts["link_rule"] == LINK_WEB_IDENTITY or LINK_WEB_IDENTITY in rules
    # And labelled the same either way: a step of the agent whose token it presented.
    in_order = labels(stitched(scenario)[1])
    assert labels(out) == in_order
    label, _, agent = in_order[sts["action_id"]]
    assert label != "unattributed" and agent


def test_two_agents_holding_live_tokens_of_the_same_identity_are_ambiguous() -> None:
    scenario = Scenario("two agents")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    bearer = token(AGENT_CLIENT, AGENT_CLIENT, "jti-agent-2", "crm.read", 1)
    for record in mcp_call(bearer, "crm-agent", "1.0", 1, "export_report", {"q": "q4"}, 1.5):
        scenario.add("mcp", record)
    stitcher, out = stitched(scenario)
    state = stitcher.state
    actions = by_operation(out)
    sts = actions["AssumeRoleWithWebIdentity"]
    assert sts["link_rule"] == LINK_WEB_IDENTITY_AMBIGUOUS
    assert sts["link_key"].startswith("not linked: 2 sessions held a live token")
    own = state.resolve(sts["session_id"])
    tool_sessions = {
        state.resolve(row["session_id"]) for row in out.actions if row["operation"] == "tools/call"
    }
    assert len(tool_sessions) == 2 and own not in tool_sessions  # merged with neither
    assert state.resolve(actions["GetObject"]["session_id"]) == own
    assert not out.session_aliases


def test_a_token_that_expired_or_came_later_links_nothing() -> None:
    scenario = Scenario("late")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    scenario.records["cloudtrail"][0] = exchange(4000, "ASIAFEDERATED0001", "botocore-1")
    scenario.records["cloudtrail"][1] = s3_call(4001, "ASIAFEDERATED0001", "botocore-1")
    stitcher, out = stitched(scenario)
    sts = by_operation(out)["AssumeRoleWithWebIdentity"]
    assert sts["link_rule"] == LINK_NEW  # issued at 0, expired at 3600
    assert len(stitcher.state.sessions) == 2


def test_another_issuer_links_nothing() -> None:
    scenario = Scenario("other issuer")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    scenario.records["cloudtrail"][0] = exchange(
        3, "ASIAFEDERATED0001", "botocore-1", provider="other.okta.example/oauth2/aus1crm"
    )
    _, out = stitched(scenario)
    assert by_operation(out)["AssumeRoleWithWebIdentity"]["link_rule"] == LINK_NEW


def test_a_session_name_that_is_a_key_of_ours_outranks_the_inference() -> None:
    scenario = Scenario("named")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="jti-agent-1")
    _, out = stitched(scenario)
    sts = by_operation(out)["AssumeRoleWithWebIdentity"]
    assert sts["link_rule"] == "aws_session_name_binding"


def _latest(rows: Iterable[dict[str, Any]], *key: str) -> list[dict[str, Any]]:
    """What ``SELECT ... FINAL`` reads: the row of the highest version of each key."""
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[name] for name in key)
        if k not in kept or row["version"] >= kept[k]["version"]:
            kept[k] = row
    return list(kept.values())


def _restored(out: StitchOutput, *, web_identities: bool = True) -> StitchState:
    """The state a stitcher restarted after ``out`` was written rebuilds from the ledger."""
    state = StitchState.restore(
        window=timedelta(minutes=30),
        keys=_latest(out.session_keys, "key_type", "key_value"),
        aliases=_latest(out.session_aliases, "alias_id"),
        sessions=_latest(out.sessions, "session_id"),
        pending_actions=[],
    )
    if web_identities:
        rows = _latest(out.web_identities, "role", "issuer", "subject", "audience", "name")
        restore_web_identities(state, rows)
    return state


@pytest.mark.parametrize("exchange_first", [False, True], ids=["token-first", "exchange-first"])
def test_a_restart_between_a_token_and_its_exchange_links_them_as_without_one(
    exchange_first: bool,
) -> None:
    """The token a session held, or the exchange that waited for it, is in the ledger: a
    stitcher restarted between the two links them as one that ran through does."""
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    envelopes = parse(scenario)
    before = [env for env in envelopes if (env.event.source == "cloudtrail") == exchange_first]
    after = [env for env in envelopes if env not in before]
    first = Stitcher().process(before)
    exchanges = [row for row in first.web_identities if row["role"] == EXCHANGE_ROLE]
    assert [row["waiting"] for row in exchanges] == ([True] if exchange_first else [])

    def sessions_after_restart(state: StitchState) -> set[str]:
        restarted = Stitcher(state)
        second = restarted.process(after)
        actions = [*first.actions, *second.actions]
        return {restarted.state.resolve(row["session_id"]) for row in actions}

    assert len(sessions_after_restart(_restored(first))) == 1
    # What was missing before the ledger kept them: the task splits in two.
    assert len(sessions_after_restart(_restored(first, web_identities=False))) == 2


def test_an_exchange_linked_is_no_longer_waiting_in_the_ledger() -> None:
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    envelopes = parse(scenario)
    stitcher = Stitcher()
    out = StitchOutput()
    for env in sorted(envelopes, key=lambda env: env.event.source != "cloudtrail"):
        out.web_identities += stitcher.process([env]).web_identities  # the exchange first
    [exchange] = _latest(
        (row for row in out.web_identities if row["role"] == EXCHANGE_ROLE), "name"
    )
    assert exchange["waiting"] is False
    assert not _restored(out).exchanges  # and a restart does not hold it again


@pytest.mark.parametrize(
    ("keys", "name"),
    [
        ([("trace", "t1"), ("jti", "J1"), ("token_fp", "F1")], "J1"),  # the jti first
        ([("token_fp", "F1"), ("jti", "J1")], "J1"),  # wherever it stands
        ([("token_fp", "F1"), ("token_fp", "F2")], "F1"),  # else the first fingerprint
        ([("jti", ""), ("jti", "J2"), ("token_fp", "F1")], "F1"),  # the first jti, even empty
        ([("trace", "t1")], ""),
    ],
)
def test_a_token_is_named_by_its_jti_else_its_fingerprint(
    keys: list[tuple[str, str]], name: str
) -> None:
    event = Event(
        "e1", "mcp", "tool_call", datetime(2026, 1, 1, tzinfo=UTC), "op", "p:1", "{}", keys=keys
    )
    assert _token_name(event) == name
