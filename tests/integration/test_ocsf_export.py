"""`agentledger export --ocsf`: generated Okta, CloudTrail and MCP records go through the real
broker and worker into chDB, are exported as an analyst runs the command (through the
ledger's ClickHouse HTTP interface), and every exported event is checked against the real
OCSF 1.8.0 schema; the mapped values are the ledger's own, and no credential is written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from agentledger.sampledata import generate_sessions, write_files
from ingest.redact import redact
from ledger.queries import list_actions, session_chain
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.integration.conftest import (
    ANALYST_PASSWORD,
    ANALYST_USER,
    WRITER_PASSWORD,
    RunningStack,
)
from tests.integration.helpers import ingest, wait_processed, wait_rows, wait_stored
from tests.ocsf_schema import schema_problems

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
_BEARER = re.compile(r"Bearer ([A-Za-z0-9_.-]+)")


def _export(stack: RunningStack, ledger_http: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["AGENTLEDGER_CLICKHOUSE_URL"] = f"http://{ANALYST_USER}:{ANALYST_PASSWORD}@{ledger_http}"
    env["AGENTLEDGER_DATABASE"] = stack.store.database
    env.pop("AGENTLEDGER_FINGERPRINT_KEY", None)  # an analyst holds no fingerprint key
    done = subprocess.run(
        [sys.executable, "-m", "agentledger", "export", "--ocsf", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, f"export {args} exited {done.returncode}: {done.stderr}"
    return done


def _events(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line]


def _ms(ledger_time: str) -> int:
    moment = datetime.fromisoformat(ledger_time).replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def test_export_writes_schema_valid_ocsf_with_the_ledgers_values(
    stack: RunningStack, ledger_http: str, tmp_path: Path
) -> None:
    sessions = generate_sessions(4, run_id="ocsf", start=START)
    files = write_files(sessions, tmp_path / "in")
    sent = sum(ingest(stack, source, path, batch="ocsf").events for source, path in files.items())
    wait_stored(stack.store, "ocsf", sent)
    wait_processed(stack)
    wait_rows(stack.store, "drift", 1)

    out = tmp_path / "ledger.ocsf.jsonl"
    done = _export(stack, ledger_http, "--output", str(out))
    text = out.read_text()
    events = _events(text)
    ledger = {a["action_id"]: a for a in list_actions(stack.store, limit=10_000)}
    assert len(events) == len(ledger) > 0
    assert "exported" in done.stderr and done.stdout == ""

    # Every event is valid OCSF 1.8.0 for its class and the profiles it names.
    problems = {e["metadata"]["uid"]: schema_problems(e) for e in events}
    assert {uid: found for uid, found in problems.items() if found} == {}
    by_class = Counter(e["class_uid"] for e in events)
    assert set(by_class) == {6003, 3002}
    by_id = {e["metadata"]["uid"]: e for e in events}
    assert set(by_id) == set(ledger)
    times = [e["time"] for e in events]
    assert times == sorted(times)  # oldest first

    # A tool call: agent, model, session, intent, label and drift, from the ledger.
    calls = [a for a in ledger.values() if a["kind"] == "tool_call" and a["drift"]]
    assert calls, "no scored tool call to check"
    call = calls[0]
    event = by_id[call["action_id"]]
    assert event["class_uid"] == 6003 and event["type_uid"] == 600300 + event["activity_id"]
    assert event["time"] == _ms(call["event_time"])
    assert set(event["metadata"]["profiles"]) == {"ai_operation", "security_control"}
    # The record names the agent's instance; its session, the agent that instance is.
    session = session_chain(stack.store, call["session"]["session_id"]).session
    agent = call["agent"]["name"] or session["agent_name"]
    instance = call["agent"]["instance"] or session["agent_instance"]
    assert event["actor"]["app_name"] == agent != ""
    assert event["actor"]["app_uid"] == instance != ""
    assert event["actor"]["session"]["uid"] == call["session"]["session_id"]
    assert event["message_context"]["uid"] == call["session"]["session_id"]
    assert event["message_context"]["ai_role_id"] == 4
    assert event["message_context"]["application"] == {
        "name": agent,
        "version": call["agent"]["version"] or session["agent_version"],
        "uid": instance,
    }
    assert event["ai_model"] == {"name": "claude-sonnet-4", "ai_provider": "Anthropic"}
    assert event["api"]["operation"] == "tools/call"
    assert event["resources"] == [{"name": call["resource"]}]
    assert event["risk_score"] == round(call["drift"]["score"] * 100)
    assert event["unmapped"]["drift"]["score"] == call["drift"]["score"]
    assert event["unmapped"]["session"].get("intent", "") == call["session"]["intent"]
    assert f"attribution:{call['attribution']['label']}" in event["metadata"]["labels"]
    assert event["unmapped"]["attribution"]["rule"] == call["attribution"]["rule"]
    if call["link"]["key_type"] == "jti":
        assert event["actor"]["session"]["credential_uid"] == call["link"]["key"]

    # A provider API call (CloudTrail) keeps the caller's address.
    api_calls = [a for a in ledger.values() if a["kind"] == "api_call"]
    assert api_calls
    ips = {by_id[a["action_id"]]["src_endpoint"].get("ip") for a in api_calls}
    assert ips - {None}

    # Identity-provider events: Authentication, with the user, service and session.
    idp = [a for a in ledger.values() if a["kind"] in ("identity", "token_grant")]
    assert idp
    for action in idp:
        auth = by_id[action["action_id"]]
        assert auth["class_uid"] == 3002
        assert auth["session"]["uid"] == action["session"]["session_id"]
        if action["scope"]["principal"]:
            assert auth["user"]["name"] == action["scope"]["principal"]
        if action["kind"] == "token_grant" and action["source"] == "okta":
            assert auth["activity_id"] == 99 and auth["auth_protocol_id"] == 6
            assert auth["session"]["credential_uid"]  # the token's id, never the token
        else:
            assert auth["activity_id"] in (1, 2, 99)
    sign_ins = [by_id[a["action_id"]] for a in idp if a["kind"] == "identity"]
    assert any(e["src_endpoint"]["ip"] for e in sign_ins if "src_endpoint" in e)

    # No credential of any shape: not the tokens the records carried, nothing the redactor
    # takes for a secret, not the ledger's own passwords or fingerprint key.
    bearers = {
        token
        for sample_session in sessions
        for sample in sample_session.records
        for token in _BEARER.findall(orjson.dumps(sample.record).decode())
    }
    assert bearers, "the sample records carry no bearer token to look for"
    for token in bearers:
        assert token not in text and token.rsplit(".", 1)[-1] not in text
    # The ingest redactor (secrets by key name, position and shape) finds nothing to replace.
    assert [e["metadata"]["uid"] for e in events if redact(e) != e] == []
    for secret in (ANALYST_PASSWORD, WRITER_PASSWORD, TEST_FINGERPRINT_KEY.decode()):
        assert secret not in text

    # A time range: [since, until) of the ledger's event times, to standard output.
    ordered = sorted(events, key=lambda e: (e["time"], e["metadata"]["uid"]))
    middle = ordered[len(ordered) // 2]["time"]
    since = datetime.fromtimestamp(middle / 1000, UTC)
    later = _events(_export(stack, ledger_http, "--since", since.isoformat()).stdout)
    earlier = _events(_export(stack, ledger_http, "--until", since.isoformat()).stdout)
    assert later and earlier
    assert all(e["time"] >= middle for e in later) and all(e["time"] < middle for e in earlier)
    assert len(later) + len(earlier) == len(events)
