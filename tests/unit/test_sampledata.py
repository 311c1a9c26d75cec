"""The sample generator: deterministic, unique per run, and every chain joinable by its links."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentledger.sampledata import (
    SampleRecord,
    SampleSession,
    generate_sessions,
    iter_records,
    write_files,
)
from agentledger.sampledata.generator import _Generator, _time_of, people_for
from agentledger.sampledata.organisation import directory_for
from ingest.base import Source
from ingest.cloudtrail import CloudTrailSource
from ingest.framing import Framed, frame_lines
from ingest.mcp import McpSource
from ingest.okta import OktaSource
from kernel.declaration import parse_declaration
from tests.jwt import decode_jwt

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
GRANT = "app.oauth2.as.token.grant.access_token"


@pytest.fixture(scope="module")
def sessions() -> list[SampleSession]:
    return generate_sessions(400, seed=11, start=START, run_id="unit")


def _agent_sessions(sessions: list[SampleSession]) -> list[SampleSession]:
    return [s for s in sessions if s.jti]


def _of(session: SampleSession, source: str) -> list[dict[str, Any]]:
    return [r.record for r in session.records if r.source == source]


def _time_text(sample: SampleRecord) -> str:
    field = {"okta": "published", "cloudtrail": "eventTime", "mcp": "ts"}[sample.source]
    value = sample.record[field]
    assert isinstance(value, str)
    return value


def _claims(authorization: str) -> dict[str, Any]:
    scheme, _, token = authorization.partition(" ")
    assert scheme == "Bearer"
    header, claims, signature = decode_jwt(token)
    assert signature
    assert header == {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    assert isinstance(claims, dict)
    return claims


def _ids(sessions: list[SampleSession]) -> set[str]:
    """Every per-run id: events, sessions, transactions, tokens, keys, traces."""
    found: set[str] = set()
    for session in sessions:
        if session.jti:
            found.add(session.jti)
        for sample in session.records:
            r = sample.record
            if sample.source == "okta":
                found.add(r["uuid"])
                found.add(r["transaction"]["id"])
                found.add(r["authenticationContext"]["externalSessionId"])
                found.add(r["debugContext"]["debugData"]["requestId"])
            elif sample.source == "cloudtrail":
                found.add(r["eventID"])
                found.add(r["requestID"])
                key = r["userIdentity"].get("accessKeyId")
                if key and key.startswith("ASIA"):
                    found.add(key)
                credentials = (r["responseElements"] or {}).get("credentials")
                if credentials:
                    found.add(credentials["accessKeyId"])
                    found.add(credentials["sessionToken"])
            elif r["headers"]:  # a reply logged without headers names no id
                found.add(r["headers"]["Mcp-Session-Id"])
                if "traceparent" in r["headers"]:
                    found.add(r["headers"]["traceparent"])
                    found.add(r["headers"]["Authorization"])
    return found


def test_same_arguments_give_the_same_records() -> None:
    first = generate_sessions(30, seed=5, start=START, run_id="r1")
    second = generate_sessions(30, seed=5, start=START, run_id="r1")
    assert orjson.dumps([[r.record for r in s.records] for s in first]) == orjson.dumps(
        [[r.record for r in s.records] for s in second]
    )
    assert [s.session_label for s in first] == [s.session_label for s in second]
    other_seed = generate_sessions(30, seed=6, start=START, run_id="r1")
    assert [s.jti for s in other_seed] != [s.jti for s in first]


def test_default_start_is_fixed_not_now() -> None:
    first = generate_sessions(3)
    assert orjson.dumps([s.records[0].record for s in first]) == orjson.dumps(
        [s.records[0].record for s in generate_sessions(3)]
    )
    assert _time_text(first[0].records[0]).startswith("2026-11-20T09:")


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_sessions(1, start=datetime(2026, 11, 20, 9, 0))  # noqa: DTZ001


def test_different_run_ids_share_no_id_and_no_record() -> None:
    first = generate_sessions(150, seed=5, start=START, run_id="bench-1")
    second = generate_sessions(150, seed=5, start=START, run_id="bench-2")
    first_ids, second_ids = _ids(first), _ids(second)
    assert len(first_ids) > 3000
    assert first_ids.isdisjoint(second_ids)

    def texts(sessions: list[SampleSession]) -> set[bytes]:
        return {orjson.dumps(r.record) for s in sessions for r in s.records}

    assert texts(first).isdisjoint(texts(second))


def test_the_jti_links_okta_mcp_and_cloudtrail(sessions: list[SampleSession]) -> None:
    agents = _agent_sessions(sessions)
    assert len(agents) > 300
    headerless = unbound = 0
    for session in agents:
        jti = session.jti
        assert jti.startswith("AT.")
        grants = [r for r in _of(session, "okta") if r["eventType"] == GRANT]
        assert len(grants) == 1
        grant = grants[0]
        token = next(t for t in grant["target"] if t["type"] == "access_token")
        client = next(t for t in grant["target"] if t["type"] == "PublicClientApp")
        assert token["id"] == jti
        subject = token["detailEntry"]["subject"]
        assert subject == grant["actor"]["id"]

        mcp = _of(session, "mcp")
        requests = [line for line in mcp if line["direction"] == "client_to_server"]
        replies = [line for line in mcp if line["direction"] == "server_to_client"]
        assert requests and replies
        for line in requests:
            claims = _claims(line["headers"]["Authorization"])
            assert claims["jti"] == jti
            assert claims["sub"] == subject
            assert claims["cid"] == claims["client_id"] == client["id"]
            assert claims["scope"] == grant["debugContext"]["debugData"]["grantedScopes"]
            assert claims["scp"] == claims["scope"].split()
            assert claims["act"]["sub"].startswith(
                f"spiffe://acme.example/agents/{client['alternateId']}/"
            )
        # A session's replies all carry its Mcp-Session-Id, or none does (a stdio server or a
        # proxy that logs request headers only).
        reply_headers = {tuple(sorted(line["headers"])) for line in replies}
        assert reply_headers in ({("Mcp-Session-Id",)}, {()})
        headerless += reply_headers == {()}
        sessions_named = {line["headers"].get("Mcp-Session-Id") for line in mcp} - {None}
        assert len(sessions_named) == 1

        trail = _of(session, "cloudtrail")
        assert trail[0]["eventName"] == "AssumeRoleWithWebIdentity"
        assume = trail[0]
        # The exchange names the token's issuer, subject and audience, never its jti; the
        # session name is the jti (a binding) or boto3's own (linked by inference).
        name = assume["requestParameters"]["roleSessionName"]
        assert name == jti or name.startswith("botocore-session-")
        unbound += name != jti
        claims = _claims(requests[0]["headers"]["Authorization"])
        response = assume["responseElements"]
        assert assume["userIdentity"]["userName"] == response["subjectFromWebIdentityToken"]
        assert response["subjectFromWebIdentityToken"] == claims["sub"] == subject
        assert response["audience"] == claims["aud"]
        assert f"https://{response['provider']}" == claims["iss"]
        assert response["assumedRoleUser"]["arn"].endswith(f"/{name}")
        key = response["credentials"]["accessKeyId"]
        assert key.startswith("ASIA") and len(key) == 20 and key.isalnum() and key.isupper()
        calls = trail[1:]
        assert 1 <= len(calls) <= 4
        for call in calls:
            identity = call["userIdentity"]
            assert identity["type"] == "AssumedRole"
            assert identity["accessKeyId"] == key
            assert identity["arn"].endswith(f"/{name}")
            assert identity["principalId"].endswith(f":{name}")
    # About half the exchanges are named by the server itself (UNBOUND_SESSION_NAME_SHARE).
    assert 0.4 * len(agents) < unbound < 0.6 * len(agents)
    # About a quarter of the captures log no headers on replies (HEADERLESS_REPLY_SHARE).
    assert 0.15 * len(agents) < headerless < 0.35 * len(agents)


def test_mcp_conversation_shape(sessions: list[SampleSession]) -> None:
    agents = _agent_sessions(sessions)
    assert len(agents) > 300
    for session in agents:
        messages = [line["message"] for line in _of(session, "mcp")]
        assert all(m["jsonrpc"] == "2.0" for m in messages)
        assert [m.get("method") for m in messages[:5]] == [
            "initialize",
            None,
            "notifications/initialized",
            "tools/list",
            None,
        ]
        assert messages[0]["params"]["protocolVersion"] == "2025-11-25"
        tool_names = {t["name"] for t in messages[4]["result"]["tools"]}
        calls = [m for m in messages if m.get("method") == "tools/call"]
        assert 2 <= len(calls) <= 6
        request_ids = [m["id"] for m in messages if "method" in m and "id" in m]
        assert request_ids == sorted(request_ids) and len(set(request_ids)) == len(request_ids)
        answered = {m["id"] for m in messages if "method" not in m}
        assert answered == set(request_ids)
        for call in calls:
            assert call["params"]["name"] in tool_names
            meta = call["params"]["_meta"]
            invocation = meta["io.modelcontextprotocol/aiInvocation"]
            assert invocation["userIntent"]["text"] in session.session_label
            assert invocation["invocationReason"]["text"]
        lines = [line for line in _of(session, "mcp") if line["direction"] == "client_to_server"]
        traces = {line["headers"]["traceparent"].split("-")[1] for line in lines}
        assert len(traces) == 1
        for line in lines:
            params = line["message"].get("params", {})
            if "_meta" in params:
                assert params["_meta"]["traceparent"] == line["headers"]["traceparent"]


def test_outcomes_include_tool_errors_rpc_errors_and_denials() -> None:
    many = generate_sessions(2000, seed=3, start=START, run_id="rates")
    results: Counter[str] = Counter()
    denied = api_calls = 0
    for session in many:
        for sample in session.records:
            r = sample.record
            if sample.source == "mcp" and r["direction"] == "server_to_client":
                message = r["message"]
                if "error" in message:
                    assert message["error"]["code"] == -32602
                    results["rpc_error"] += 1
                elif "content" in message["result"]:
                    results["error" if message["result"]["isError"] else "ok"] += 1
            elif sample.source == "cloudtrail" and not r["eventName"].startswith("AssumeRole"):
                api_calls += 1
                if r.get("errorCode") == "AccessDenied":
                    denied += 1
                    assert "not authorized to perform" in r["errorMessage"]
    total = sum(results.values())
    assert 0.005 < results["rpc_error"] / total < 0.04
    assert 0.03 < results["error"] / total < 0.12  # tool failures plus AccessDenied
    assert 0.01 < denied / api_calls < 0.06


def test_records_share_no_mutable_objects(sessions: list[SampleSession]) -> None:
    """A consumer that changes one record in place must not change another."""
    seen: set[int] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict | list):
            assert id(value) not in seen, value
            seen.add(id(value))
            for item in value.values() if isinstance(value, dict) else value:
                walk(item)

    for session in sessions[:80]:
        for sample in session.records:
            walk(sample.record)


def test_timestamps_are_utc_iso_z_and_non_decreasing(sessions: list[SampleSession]) -> None:
    for session in sessions:
        times = []
        for sample in session.records:
            text = _time_text(sample)
            assert text.endswith("Z")
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            assert parsed.tzinfo is not None and parsed.utcoffset() == UTC.utcoffset(None)
            times.append(parsed.replace(microsecond=0) if sample.source == "cloudtrail" else parsed)
        # CloudTrail writes whole seconds: compare everything at second precision.
        seconds = [t.replace(microsecond=0) for t in times]
        assert seconds == sorted(seconds), session.session_label
        assert times[0] >= START


def test_okta_grant_fields(sessions: list[SampleSession]) -> None:
    grant = next(r for r in _of(_agent_sessions(sessions)[0], "okta") if r["eventType"] == GRANT)
    assert grant["version"] == "0" and grant["severity"] == "INFO"
    assert grant["displayMessage"] == "OAuth2 access token is granted"
    assert grant["outcome"]["result"] == "SUCCESS"
    assert grant["actor"]["type"] == "User" and grant["actor"]["id"].startswith("00u")
    assert grant["actor"]["alternateId"].endswith("@acme.example")
    debug = grant["debugContext"]["debugData"]
    assert debug["grantType"] == "authorization_code"
    assert debug["requestUri"].startswith("/oauth2/aus") and debug["requestUri"].endswith("/token")
    types = [t["type"] for t in grant["target"]]
    assert types == ["AuthorizationServer", "PublicClientApp", "access_token"]
    published = datetime.fromisoformat(grant["published"].replace("Z", "+00:00"))
    expires = grant["target"][2]["detailEntry"]["expires"]
    lifetime = datetime.fromisoformat(expires.replace("Z", "+00:00")) - published
    assert 3599 <= lifetime.total_seconds() <= 3600


def test_a_tenth_of_sessions_are_people_acting_directly() -> None:
    # Enough sessions that both kinds of direct AWS access (an engineer's IAM user is rare)
    # show up whatever the draw.
    sessions = generate_sessions(1500, seed=11, start=START, run_id="direct")
    direct = [s for s in sessions if not s.jti]
    assert 0.07 < len(direct) / len(sessions) < 0.13
    kinds: set[str] = set()
    for session in direct:
        assert "(direct)" in session.session_label
        assert not _of(session, "mcp")
        okta = _of(session, "okta")
        assert okta[0]["eventType"] == "user.session.start"
        assert all(r["eventType"] != GRANT for r in okta)
        email = okta[0]["actor"]["alternateId"]
        trail = _of(session, "cloudtrail")
        if trail[0]["eventName"] == "AssumeRoleWithSAML":
            kinds.add("saml")
            assert trail[0]["requestParameters"]["roleSessionName"] == email
            key = trail[0]["responseElements"]["credentials"]["accessKeyId"]
            assert key.startswith("ASIA")
            calls = trail[1:]
            assert all(c["userIdentity"]["accessKeyId"] == key for c in calls)
            assert all(c["userIdentity"]["arn"].endswith(f"/{email}") for c in calls)
        else:
            kinds.add("iam_user")
            calls = trail
            assert all(c["userIdentity"]["type"] == "IAMUser" for c in calls)
            assert all(c["userIdentity"]["accessKeyId"].startswith("AKIA") for c in calls)
        assert calls
    assert kinds == {"saml", "iam_user"}


@pytest.mark.parametrize("total", [0, 1, 17, 5000])
def test_iter_records_yields_exactly_n(total: int) -> None:
    records = list(iter_records(total, seed=2, start=START, run_id="n"))
    assert len(records) == total
    flat = [r for s in generate_sessions(400, seed=2, start=START, run_id="n") for r in s.records]
    assert records == flat[:total]


def test_a_pace_sets_how_fast_event_time_advances() -> None:
    def times(pace: float | None) -> list[datetime]:
        records = iter_records(3000, seed=2, start=START, run_id="pace", pace=pace)
        return sorted(datetime.fromisoformat(_time_of(r).replace("Z", "+00:00")) for r in records)

    # 3,000 records at 500 a second: sessions begin within about 6 s of event time, each
    # session's own records running on for up to about a minute after its start.
    paced = times(500)
    assert paced[0] >= START and (paced[-1] - START).total_seconds() < 120
    # Unpaced, sessions begin about 42 s apart: 3,000 records span about two and a half hours.
    unpaced = times(None)
    assert (unpaced[-1] - START).total_seconds() > 3600
    with pytest.raises(ValueError, match="pace"):
        list(iter_records(10, start=START, pace=0))


def test_live_records_come_in_event_time_order() -> None:
    """Paced, records are merged across sessions in event time, as a live log is written
    (unpaced, each session's records come together)."""
    records = list(iter_records(3000, seed=2, start=START, run_id="order", pace=500))
    times = [datetime.fromisoformat(_time_of(r)) for r in records]
    assert len(records) == 3000 and times == sorted(times)
    unpaced = [datetime.fromisoformat(_time_of(r)) for r in iter_records(3000, seed=2)]
    assert unpaced != sorted(unpaced)  # sessions overlap; each comes whole


def test_live_traffic_comes_from_as_many_people_as_its_rate_needs() -> None:
    assert people_for(None) == 20
    assert people_for(0.1) == 20 and people_for(1) == 42
    assert people_for(5000) == 206_897  # 5,000 / 14.5 sessions a second, each person every 600 s

    def logins(pace: float | None) -> list[str]:
        made = _Generator(7, START, "people", pace).sessions()
        return [next(made).session_label.split(" ")[0] for _ in range(1000)]

    assert len(set(logins(None))) == 20  # a backlog: the default directory's twenty
    live = logins(5000)
    assert len(set(live)) >= 990  # hardly anyone runs two tasks within the run


def test_a_larger_directory_keeps_the_default_one_and_draws_the_rest() -> None:
    small, large = directory_for(7), directory_for(7, 45)
    assert len(small.people) == 20 and len(large.people) == 60  # whole copies of departments
    assert list(large.people[:20]) == list(small.people)
    assert [i.instance for i in large.instances] == [i.instance for i in small.instances]
    drawn = list(large.people[20:])
    assert len({p.login for p in large.people}) == 60
    assert len({p.user_id for p in large.people}) == 60
    assert len({p.ip for p in drawn}) == 40
    assert all(bool(p.iam_key) == (p.department == "engineering") for p in large.people)
    assert large.people[47] is large.people[47]  # drawn once
    for instance, default in zip(large.instances, small.instances, strict=True):
        users = list(instance.users)
        assert len(users) == 3 * len(default.users)
        assert {p.department for p in users} == {instance.kind.department}
        assert users[: len(default.users)] == list(default.users)
    with pytest.raises(IndexError):
        large.people[60]
    with pytest.raises(ValueError, match="at least 20"):
        directory_for(7, 5)


def test_write_files_in_the_sources_formats(sessions: list[SampleSession], tmp_path: Path) -> None:
    paths = write_files(sessions[:40], tmp_path / "out")
    assert set(paths) == {"okta", "cloudtrail", "mcp"}
    expected = Counter(r.source for s in sessions[:40] for r in s.records)

    okta = [json.loads(line) for line in paths["okta"].read_text().splitlines()]
    assert paths["okta"].name == "okta.jsonl" and len(okta) == expected["okta"]
    assert all("eventType" in r and "published" in r for r in okta)
    assert [r["published"] for r in okta] == sorted(r["published"] for r in okta)

    trail = json.loads(paths["cloudtrail"].read_text())
    assert paths["cloudtrail"].name == "cloudtrail.json"
    assert set(trail) == {"Records"} and len(trail["Records"]) == expected["cloudtrail"]
    assert all("eventName" in r for r in trail["Records"])

    mcp = [json.loads(line) for line in paths["mcp"].read_text().splitlines()]
    assert paths["mcp"].name == "mcp.jsonl" and len(mcp) == expected["mcp"]
    assert all(r["message"]["jsonrpc"] == "2.0" for r in mcp)


@pytest.mark.parametrize(
    ("source", "parser"),
    [("okta", OktaSource()), ("cloudtrail", CloudTrailSource()), ("mcp", McpSource())],
)
def test_every_record_frames_and_parses_without_secrets(
    sessions: list[SampleSession], tmp_path: Path, source: str, parser: Source
) -> None:
    sample = sessions[:60]
    path = write_files(sample, tmp_path)[source]
    secrets: set[str] = set()
    jtis = {s.jti for s in sample if s.jti}
    for session in sample:
        for r in _of(session, source):
            if source == "mcp" and "Authorization" in r["headers"]:
                secrets.add(r["headers"]["Authorization"].split(" ", 1)[1])
            credentials = (r.get("responseElements") or {}).get("credentials")
            if credentials:
                secrets.add(credentials["sessionToken"])
    assert secrets or source == "okta"

    with path.open() as lines:
        framed = list(frame_lines(parser, lines, path.name))
    expected = sum(1 for s in sample for r in s.records if r.source == source)
    assert len(framed) == expected
    seen_jtis: set[str] = set()
    for item in framed:
        assert isinstance(item, Framed), item
        assert not any(secret in item.raw for secret in secrets)
        events = parser.parse(item.record, position=item.position, raw=item.raw)
        assert events
        for event in events:
            seen_jtis.update(value for key, value in event.keys if key == "jti")
    if source in ("okta", "mcp"):
        # The token id survives redaction: the claims stay, only the token is gone.
        assert seen_jtis == jtis


def test_some_agent_sessions_are_declared_with_their_core_tools(
    sessions: list[SampleSession],
) -> None:
    agents = _agent_sessions(sessions)
    declared = [s for s in agents if s.declaration is not None]
    assert 0.3 < len(declared) / len(agents) < 0.5
    assert all(s.declaration is None for s in sessions if not s.jti)
    strayed = 0
    for session in declared:
        assert session.declaration is not None
        declaration = parse_declaration(session.declaration)
        assert declaration.bindings.token_jti == session.jti
        assert declaration.origin.principal and declaration.origin.principal.endswith(
            "@acme.example"
        )
        called = {
            r["message"]["params"]["name"]
            for r in _of(session, "mcp")
            if r["message"].get("method") == "tools/call"
        }
        assert set(declaration.intent.tools) <= called  # the core steps always run
        strayed += bool(called - set(declaration.intent.tools))
    assert strayed > 0  # some agents go beyond what they were asked


def test_the_showcase_task_shares_no_key_between_its_token_and_its_aws_calls() -> None:
    [showcase, *others] = generate_sessions(5, run_id="showcase", showcase=True)
    grant = next(r.record for r in showcase.records if r.source == "okta")
    assert grant["actor"]["type"] == "PublicClientApp"  # the client's own credentials
    assert grant["debugContext"]["debugData"]["grantType"] == "client_credentials"
    subject = grant["actor"]["id"]
    mcp = [r.record for r in showcase.records if r.source == "mcp"]
    assert all(not line["headers"] for line in mcp if line["direction"] == "server_to_client")
    claims = _claims(
        next(line for line in mcp if line["direction"] == "client_to_server")["headers"][
            "Authorization"
        ]
    )
    assert claims["sub"] == subject and "uid" not in claims
    trail = [r.record for r in showcase.records if r.source == "cloudtrail"]
    assume = trail[0]
    assert assume["eventName"] == "AssumeRoleWithWebIdentity"
    name = assume["requestParameters"]["roleSessionName"]
    assert name.startswith("botocore-session-") and showcase.jti not in name
    assert assume["responseElements"]["subjectFromWebIdentityToken"] == subject
    assert showcase.declaration is None and len(trail) >= 2
    # No other session holds a token of the showcase's subject.
    for session in others:
        for record in session.records:
            if record.source == "okta":
                assert record.record["actor"]["id"] != subject
