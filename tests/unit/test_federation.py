"""A web identity token exchange joins the session that held the token (list in, rows out).

One agent task logged by three systems: Okta grants the agent a token, the agent calls an
MCP server with it (whose replies the capture logs without headers), and the server
exchanges the token at AWS STS (``AssumeRoleWithWebIdentity``, a session name of its own
choosing) and calls S3 with the keys it got. CloudTrail names the token's issuer, subject
and audience, not its ``jti``.

Which session held the token is decided once the re-stitch window has passed the exchange
(tokens may still arrive until then): each test lets the stream move on (``moved_on``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.codec import Envelope
from kernel.events import Event
from kernel.vocabulary import (
    LINK_SHARED_KEY,
    LINK_WEB_IDENTITY,
    LINK_WEB_IDENTITY_AMBIGUOUS,
    LINK_WEB_IDENTITY_UNHELD,
    LINK_WEB_IDENTITY_WAITING,
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
# Past the re-stitch window (15 minutes) and the step of its sweep (a quarter of it).
MOVED_ON = timedelta(minutes=20)


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


def moved_on(envelopes: list[Envelope]) -> Envelope:
    """An unrelated event ``MOVED_ON`` after the last: the stream's watermark passes the
    re-stitch window, so the exchanges before it are decided."""
    at = max(env.event.event_time for env in envelopes) + MOVED_ON
    return Envelope(Event("moved-on", "okta", "identity", at, "user.session.start", "", "{}"), at)


def stitched(
    scenario: Scenario, *, shuffle: int | None = None, move_on: bool = True
) -> tuple[Stitcher, StitchOutput]:
    envelopes = parse(scenario)
    stitcher = Stitcher()
    later = [moved_on(envelopes)] if move_on else []
    if shuffle is None:
        batches = [envelopes + later]
    else:
        random.Random(shuffle).shuffle(envelopes)
        batches = [[env] for env in envelopes] + [later]  # one event per batch
    merged = StitchOutput()
    for batch in batches:
        out = stitcher.process(batch)
        merged.actions.extend(out.actions)
        merged.session_aliases.extend(out.session_aliases)
        merged.attributions.extend(out.attributions)
        merged.web_identities.extend(out.web_identities)
    return stitcher, merged


def labels(out: StitchOutput) -> dict[str, tuple[str, str, str]]:
    """Each action's latest label (the row of the highest version)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in out.attributions:
        if row["action_id"] not in latest or row["version"] >= latest[row["action_id"]]["version"]:
            latest[row["action_id"]] = row
    return {k: (r["label"], r["rule"], r["agent"]) for k, r in latest.items() if k != "moved-on"}


def by_operation(out: StitchOutput) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in out.actions:
        if row["action_id"] not in latest or row["version"] >= latest[row["action_id"]]["version"]:
            latest[row["action_id"]] = row
    return {row["operation"]: row for row in latest.values() if row["action_id"] != "moved-on"}


def test_the_three_system_task_is_one_session_with_every_link_named() -> None:
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    stitcher, out = stitched(scenario)
    actions = by_operation(out)
    state = stitcher.state
    assert len({state.resolve(row["session_id"]) for row in actions.values()}) == 1
    assert len(state.sessions) == 2  # and the event the stream moved on with; no result's
    sts = actions["AssumeRoleWithWebIdentity"]
    # Its session merged into the token's by the inference, which its action names.
    assert (sts["link_rule"], sts["link_key_type"]) == (LINK_WEB_IDENTITY, WEB_IDENTITY_KEY)
    evidence = sts["link_key"]
    assert evidence.startswith("inferred from identity and time, not a shared key")
    assert "jti-agent-1" in evidence and f"{ISSUER_HOST} sub={AGENT_CLIENT}" in evidence
    [alias] = out.session_aliases
    assert (alias["rule"], alias["key_type"], alias["key_value"], alias["event_id"]) == (
        LINK_WEB_IDENTITY,
        WEB_IDENTITY_KEY,
        evidence,
        sts["action_id"],
    )
    assert (actions["GetObject"]["link_rule"], actions["GetObject"]["link_key_type"]) == (
        LINK_SHARED_KEY,
        "aws_access_key",
    )
    assert actions["tools/call"]["outcome"] == "success"  # the headerless result paired


def test_an_exchange_waits_in_its_own_session_until_the_window_passes_it() -> None:
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    stitcher, out = stitched(scenario, move_on=False)
    state = stitcher.state
    actions = by_operation(out)
    sts, get = actions["AssumeRoleWithWebIdentity"], actions["GetObject"]
    assert state.resolve(sts["session_id"]) == state.resolve(get["session_id"])
    assert state.resolve(sts["session_id"]) != state.resolve(actions["tools/call"]["session_id"])
    assert not out.session_aliases
    assert (sts["link_rule"], sts["link_key_type"]) == (LINK_WEB_IDENTITY_WAITING, WEB_IDENTITY_KEY)
    assert sts["link_key"].startswith(f"waiting: which session held a live token of {ISSUER_HOST}")
    [waiting] = [row for row in out.web_identities if row["role"] == EXCHANGE_ROLE]
    assert (waiting["name"], waiting["waiting"]) == (sts["action_id"], True)


@pytest.mark.parametrize(
    "clock_name",
    [
        "botocore-session-1796630744",  # boto3 and the AWS CLI: seconds
        "aws-go-sdk-1722375070115152000",  # the Go SDK v2: nanoseconds
        "1722375070115152000",  # the Go SDK v1
        "aws-sdk-java-1796630744123",  # Java: milliseconds
        "aws-sdk-js-session-1796630744123",  # JavaScript v3
        "aws-dotnet-sdk-session-638680000000000000",  # .NET: ticks
    ],
)
def test_exchanges_under_a_name_an_sdk_made_from_the_clock_stay_apart(clock_name: str) -> None:
    """Two agents' servers exchange their tokens in the same second without naming the AWS
    session: their SDK names both after the clock. That name is no key: each exchange and
    its calls stay in a session of their own, waiting to be linked by their tokens."""
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name=clock_name)
    agent_task(scenario, "jti-agent-2", 0.2, key="ASIAFEDERATED0002", session_name=clock_name)
    stitcher, out = stitched(scenario, move_on=False)
    state = stitcher.state
    latest = {row["action_id"]: row for row in out.actions}
    aws = [row for row in latest.values() if row["source"] == "cloudtrail"]
    by_session: dict[str, list[str]] = {}
    for row in aws:
        by_session.setdefault(state.resolve(row["session_id"]), []).append(row["operation"])
    # Each exchange with the call made with the key it issued, apart from the other's.
    assert (
        sorted(map(sorted, by_session.values())) == [["AssumeRoleWithWebIdentity", "GetObject"]] * 2
    )
    assert not out.session_aliases
    exchanges = [row for row in latest.values() if row["operation"] == "AssumeRoleWithWebIdentity"]
    assert [row["link_rule"] for row in exchanges] == [LINK_WEB_IDENTITY_WAITING] * 2


def test_a_name_the_caller_chose_still_links_exchanges() -> None:
    """The same two exchanges under a name of the caller's own are one AWS session's."""
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="crm-nightly")
    agent_task(scenario, "jti-agent-2", 0.2, key="ASIAFEDERATED0002", session_name="crm-nightly")
    stitcher, out = stitched(scenario, move_on=False)
    state = stitcher.state
    calls = [row for row in out.actions if row["operation"] == "GetObject"]
    assert len({state.resolve(row["session_id"]) for row in calls}) == 1


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
    assert rules == {LINK_WEB_IDENTITY}
    # And labelled as in time order: a step of the agent whose token it presented.
    in_order = labels(stitched(scenario)[1])
    assert labels(out) == in_order
    label, _, agent = in_order[sts["action_id"]]
    assert label != "unattributed" and agent


def two_agents() -> Scenario:
    """The task, and a second session holding a live token of the same identity."""
    scenario = Scenario("two agents")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    bearer = token(AGENT_CLIENT, AGENT_CLIENT, "jti-agent-2", "crm.read", 1)
    for record in mcp_call(bearer, "crm-agent", "1.0", 1, "export_report", {"q": "q4"}, 1.5):
        scenario.add("mcp", record)
    return scenario


@pytest.mark.parametrize("seed", [None, *range(6)])
def test_two_agents_holding_live_tokens_of_the_same_identity_are_ambiguous(
    seed: int | None,
) -> None:
    """In any arrival order: one holder known when the exchange came, the other after."""
    stitcher, out = stitched(two_agents(), shuffle=seed)
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
    assert labels(out) == labels(stitched(two_agents())[1])


def test_the_second_token_arriving_after_the_exchange_still_makes_it_ambiguous() -> None:
    """The order that once joined the exchange to the first token's session: the exchange,
    then the first session's events, then the second's."""
    envelopes = parse(two_agents())
    second = [env for env in envelopes if "jti-agent-2" in env.event.raw]
    first = [env for env in envelopes if env.event.source != "cloudtrail" and env not in second]
    cloud = [env for env in envelopes if env.event.source == "cloudtrail"]
    assert second and first and cloud
    stitcher = Stitcher()
    outputs = [stitcher.process(batch) for batch in (cloud, first, second, [moved_on(envelopes)])]
    rows = [row for out in outputs for row in out.actions]
    latest = {row["action_id"]: row for row in sorted(rows, key=lambda row: row["version"])}
    [sts] = [row for row in latest.values() if row["operation"] == "AssumeRoleWithWebIdentity"]
    assert sts["link_rule"] == LINK_WEB_IDENTITY_AMBIGUOUS
    assert not [row for out in outputs for row in out.session_aliases]


def test_a_token_that_expired_or_came_later_links_nothing() -> None:
    scenario = Scenario("late")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    scenario.records["cloudtrail"][0] = exchange(4000, "ASIAFEDERATED0001", "botocore-1")
    scenario.records["cloudtrail"][1] = s3_call(4001, "ASIAFEDERATED0001", "botocore-1")
    stitcher, out = stitched(scenario)
    sts = by_operation(out)["AssumeRoleWithWebIdentity"]
    assert sts["link_rule"] == LINK_WEB_IDENTITY_UNHELD  # issued at 0, expired at 3600
    assert sts["link_key"].startswith("not linked: no session held a live token of")
    assert not out.session_aliases
    assert len(stitcher.state.sessions) == 3  # the task, the exchange, the stream moving on


def test_another_issuer_links_nothing() -> None:
    scenario = Scenario("other issuer")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    scenario.records["cloudtrail"][0] = exchange(
        3, "ASIAFEDERATED0001", "botocore-1", provider="other.okta.example/oauth2/aus1crm"
    )
    _, out = stitched(scenario)
    assert by_operation(out)["AssumeRoleWithWebIdentity"]["link_rule"] == LINK_WEB_IDENTITY_UNHELD
    assert not out.session_aliases


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


def _restored(
    out: StitchOutput, *, web_identities: bool = True, open_actions: bool = False
) -> StitchState:
    """The state a stitcher restarted after ``out`` was written rebuilds from the ledger;
    ``open_actions``: with the actions still open, as the sink reads them back (each with
    the label signature it adds, which is no column)."""
    actions = _latest(out.actions, "action_id") if open_actions else []
    state = StitchState.restore(
        window=timedelta(minutes=30),
        keys=_latest(out.session_keys, "key_type", "key_value"),
        aliases=_latest(out.session_aliases, "alias_id"),
        sessions=_latest(out.sessions, "session_id"),
        pending_actions=[],
        open_actions=actions,
    )
    if web_identities:
        rows = _latest(out.web_identities, "role", "issuer", "subject", "audience", "name")
        restore_web_identities(state, rows, [{**row, "signature": ("label",)} for row in actions])
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
        second = restarted.process([*after, moved_on(envelopes)])
        actions = [*first.actions, *second.actions]
        return {
            restarted.state.resolve(row["session_id"])
            for row in actions
            if row["action_id"] != "moved-on"
        }

    assert len(sessions_after_restart(_restored(first))) == 1
    # What was missing before the ledger kept them: the task splits in two.
    assert len(sessions_after_restart(_restored(first, web_identities=False))) == 2


def test_an_exchange_linked_is_no_longer_waiting_in_the_ledger() -> None:
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    envelopes = parse(scenario)
    stitcher = Stitcher()
    out = StitchOutput()
    ordered = sorted(envelopes, key=lambda env: env.event.source != "cloudtrail")
    for env in [*ordered, moved_on(envelopes)]:
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


def test_an_idle_stream_decides_the_exchanges_a_token_accounts_for() -> None:
    """Nothing read for a while: what was sent is all there is. An exchange some session's
    token accounts for is decided at once; one no token accounts for waits for the window."""
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    scenario.add("cloudtrail", exchange(5, "ASIAOTHERISSUER01", "botocore-2", provider="x.example"))
    stitcher = Stitcher()
    first = stitcher.process(parse(scenario))
    idle = stitcher.settle_idle()
    state = stitcher.state
    latest = latest_by_source_id([*first.actions, *idle.actions])
    joined = latest["ev-ASIAFEDERATED0001"]
    assert joined["link_rule"] == LINK_WEB_IDENTITY
    [alias] = idle.session_aliases
    assert (alias["rule"], alias["alias_id"]) == (LINK_WEB_IDENTITY, joined["session_id"])
    tool_call = next(r for r in first.actions if r["operation"] == "tools/call")
    assert state.resolve(joined["session_id"]) == state.resolve(tool_call["session_id"])
    assert [row["session_id"] for row in idle.sessions] == [state.resolve(tool_call["session_id"])]
    # The other issuer's exchange: no token accounts for it, so it waits for the window.
    other = latest["ev-ASIAOTHERISSUER01"]
    assert other["link_rule"] == LINK_WEB_IDENTITY_WAITING
    [identity] = state.exchanges
    assert identity[0] == "x.example"
    assert not stitcher.settle_idle().actions  # nothing more to decide while idle
    later = stitcher.process([moved_on(parse(scenario))])
    decided = latest_by_source_id(later.actions)["ev-ASIAOTHERISSUER01"]
    assert decided["link_rule"] == LINK_WEB_IDENTITY_UNHELD
    assert not state.exchanges


def latest_by_source_id(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each action's last row (the highest version), by the id its source gave it."""
    return {row["source_id"]: row for row in sorted(rows, key=lambda row: row["version"])}


def test_an_exchange_restored_waiting_is_decided_with_its_action_row_rewritten() -> None:
    """After a restart the exchange's action row comes back from the open actions (with the
    label signature the sink adds, which is no column): the decision rewrites that row."""
    scenario = Scenario("federated")
    agent_task(scenario, "jti-agent-1", 0, key="ASIAFEDERATED0001", session_name="botocore-1")
    envelopes = parse(scenario)
    first = Stitcher().process(envelopes)  # everything read, nothing decided yet
    state = _restored(first, open_actions=True)
    later = Stitcher(state).process([moved_on(envelopes)])
    [decided] = [row for row in later.actions if row["operation"] == "AssumeRoleWithWebIdentity"]
    assert decided["link_rule"] == LINK_WEB_IDENTITY and "signature" not in decided
    assert set(decided) == set(first.actions[0])
    assert [row["rule"] for row in later.session_aliases] == [LINK_WEB_IDENTITY]
