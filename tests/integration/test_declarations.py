"""Declared intent through the running stack: the HTTP API, the declared topic, the worker."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from agentledger.sampledata import SampleSession, generate_sessions, write_files
from ledger.queries import session_chain
from tests.integration.conftest import RunningStack
from tests.integration.helpers import (
    api_headers,
    evidence_keys,
    ingest,
    move_stream_on,
    wait_stored,
)
from tests.polling import wait_for


def _declaration(sample: SampleSession, session_id: str) -> dict[str, Any]:
    return {
        "session_id": session_id,
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
            "actions": ["read", "write"],
        },
        "scopes": ["crm.customers.write"],
        "bindings": {"token_jti": sample.jti},
        "expected_duration_s": 900,
    }


def _post(
    stack: RunningStack, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{stack.stack.http_url}/v1/sessions",
        data=json.dumps(body).encode(),
        headers=api_headers(stack) if headers is None else headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_declared(stack: RunningStack, session_id: str, timeout: float = 60) -> None:
    wait_for(
        lambda: stack.store.count("declarations", "session_id = {s:String}", {"s": session_id}),
        timeout=timeout,
        what=f"declaration {session_id} in the ledger",
    )


def _ingest_session(
    stack: RunningStack, sample: SampleSession, directory: Path, batch: str
) -> None:
    files = write_files([sample], directory)
    total = sum(ingest(stack, s, p, batch=batch).events for s, p in files.items())
    wait_stored(stack.store, batch, total)


def test_events_join_the_session_declared_before_them(stack: RunningStack, tmp_path: Path) -> None:
    sample = next(s for s in generate_sessions(3, run_id="declared-first") if s.jti)
    body = {**_declaration(sample, "s-declared-first"), "declared_by": "someone-else"}
    status, answer = _post(stack, body)
    # Who declared it is who the ledger authenticated, whatever the body claims.
    assert (status, answer) == (
        201,
        {"session_id": "s-declared-first", "declared_by": "key:local-cli"},
    )
    _wait_declared(stack, "s-declared-first")
    stored = stack.store.query_rows(
        f"SELECT declared_by, declaration FROM {stack.store.database}.declarations"
    )
    assert [r["declared_by"] for r in stored] == ["key:local-cli"]
    assert json.loads(stored[0]["declaration"])["declared_by"] == "key:local-cli"

    _ingest_session(stack, sample, tmp_path / "in", "after-declaration")
    # Its STS exchange names only the token's identity: decided once the window passes it.
    move_stream_on(stack, tmp_path / "later")
    chain = session_chain(stack.store, "s-declared-first")
    assert chain.session["declared"] is True
    assert chain.session["intent"] == "Update the shipping address of customer globex"
    assert (chain.session["origin_type"], chain.session["origin_principal"]) == (
        "human",
        "alice@acme.example",
    )
    assert {a["source"] for a in chain.actions} == {"okta", "mcp", "cloudtrail"}


def test_a_late_declaration_takes_in_the_events_that_came_first(
    stack: RunningStack, tmp_path: Path
) -> None:
    sample = next(s for s in generate_sessions(3, run_id="declared-late") if s.jti)
    _ingest_session(stack, sample, tmp_path / "in", "before-declaration")
    status, _ = _post(stack, _declaration(sample, "s-declared-late"))
    assert status == 201
    _wait_declared(stack, "s-declared-late")
    move_stream_on(stack, tmp_path / "later")  # the STS exchange is decided

    chain = session_chain(stack.store, "s-declared-late")
    assert chain.session["session_id"] == "s-declared-late"  # the declared id survives
    assert {a["source"] for a in chain.actions} == {"okta", "mcp", "cloudtrail"}
    assert any(a["rule"] == "declared_binding" for a in chain.aliases)


def test_a_bad_declaration_is_refused_naming_the_field(stack: RunningStack) -> None:
    sample = next(s for s in generate_sessions(2, run_id="declared-bad") if s.jti)
    body = _declaration(sample, "s-bad")
    del body["origin"]["principal"]
    status, answer = _post(stack, body)
    assert status == 422
    assert answer["problems"][0]["field"] == "origin.principal"
    body = _declaration(sample, "s-bad")
    body["bindings"] = {}
    status, answer = _post(stack, body)
    assert (status, answer["problems"][0]["field"]) == (422, "bindings")
    assert stack.store.count("declarations") == 0


def test_rebuild_keeps_declared_sessions(stack: RunningStack, tmp_path: Path) -> None:
    from kernel.procs import stop
    from processors.rebuild import rebuild

    sample = next(s for s in generate_sessions(3, run_id="declared-rebuild") if s.jti)
    _ingest_session(stack, sample, tmp_path / "in", "rebuild-declared")
    assert _post(stack, _declaration(sample, "s-declared-rebuild"))[0] == 201
    _wait_declared(stack, "s-declared-rebuild")
    move_stream_on(stack, tmp_path / "later")  # the STS exchange is decided
    before = session_chain(stack.store, "s-declared-rebuild")
    for proc in stack.stack._workers:
        stop(proc)

    report = rebuild(stack.store, public_keys=evidence_keys(stack))
    assert report.declarations == 1
    after = session_chain(stack.store, "s-declared-rebuild")
    assert after.session["declared"] is True and after.session["intent"] == before.session["intent"]
    assert sorted(a["action_id"] for a in after.actions) == sorted(
        a["action_id"] for a in before.actions
    )

    # The live path labelled the actions before the declaration arrived and again after it;
    # the rebuild, declarations first, labels them once: the same labels either way.
    def labels(chain: Any) -> dict[str, tuple[Any, ...]]:
        return {
            a["action_id"]: (
                a["attribution"]["label"],
                a["attribution"]["rule"],
                a["agent"]["attributed"],
                a["origin"]["type"],
                a["origin"]["principal"],
            )
            for a in chain.actions
        }

    assert labels(after) == labels(before)
    assert {label for label, *_ in labels(after).values()} >= {"agent_delegated", "direct_user"}


def test_declaring_needs_a_credential_with_the_declare_role(stack: RunningStack) -> None:
    from agentledger.auth import ApiKeys

    sample = next(s for s in generate_sessions(2, run_id="declared-auth") if s.jti)
    body = _declaration(sample, "s-auth")
    plain = {"Content-Type": "application/json"}
    status, answer = _post(stack, body, plain)
    assert status == 401 and "credential is required" in answer["error"]
    status, _ = _post(stack, body, {**plain, "Authorization": "Bearer alk_000000000000_nope"})
    assert status == 401
    # An invalid body without a credential is still a 401: nothing is validated for strangers.
    assert _post(stack, {"agent": {}}, plain)[0] == 401

    keys = ApiKeys(stack.stack.data_dir)
    reader, record = keys.create("grafana", ["analyst"])
    status, answer = _post(stack, body, {**plain, "Authorization": f"Bearer {reader}"})
    assert status == 403 and "declare" in answer["error"]
    declarer, _ = keys.create("orchestrator", ["declare"])
    status, answer = _post(stack, body, {**plain, "X-API-Key": declarer})
    assert (status, answer["declared_by"]) == (201, "key:orchestrator")
    # A revoked key is refused at once, by the running ledger.
    keys.revoke(record["id"])
    status, _ = _post(stack, body, {**plain, "Authorization": f"Bearer {reader}"})
    assert status == 401
    _wait_declared(stack, "s-auth")
    assert stack.store.count("declarations") == 1
