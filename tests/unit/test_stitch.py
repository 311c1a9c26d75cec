"""Stitching as list in, rows out: links, merges, tool results, summaries, restore."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel import events as ev
from kernel.codec import Envelope
from kernel.events import Event
from kernel.vocabulary import (
    LINK_MERGE,
    LINK_NEW,
    LINK_SESSION_NAME,
    LINK_SHARED_KEY,
    LINK_WINDOW,
)
from ledger.rows import StitchOutput
from processors.sessions import StitchState, new_session_id, open_since
from processors.stitch import Stitcher

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
ALICE = "alice@example.com"
AGENT_CLIENT = "0oa8f5j3ecb5w3dF35d7"
ROLE_ARN = "arn:aws:sts::111122223333:assumed-role/agent-runner/jti-7f3a"
JTI = "jti-7f3a"
MCP_SESSION = "1868a90c-3c7b-4f2c-a8a4-1f1a2d7b9c01"


def event(
    event_id: str,
    seconds: float,
    keys: Sequence[tuple[str, str]] = (),
    *,
    kind: str = ev.MCP_MESSAGE,
    source: str = "mcp",
    operation: str = "tools/list",
    **fields: Any,
) -> Event:
    return Event(
        event_id=event_id,
        source=source,
        kind=kind,
        event_time=T0 + timedelta(seconds=seconds),
        operation=operation,
        position=f"{source}.jsonl:1",
        raw=f'{{"id":"{event_id}"}}',
        keys=list(keys),
        **fields,
    )


def tool_call(event_id: str, seconds: float, keys: Sequence[tuple[str, str]]) -> Event:
    return event(
        event_id,
        seconds,
        keys,
        kind=ev.TOOL_CALL,
        operation="tools/call",
        resource="create_issue",
        outcome=ev.PENDING,
        attributes={"arguments": '{"title":"bug"}'},
    )


def tool_result(
    event_id: str,
    seconds: float,
    keys: Sequence[tuple[str, str]],
    outcome: str = ev.SUCCESS,
    detail: str | None = None,
) -> Event:
    return event(
        event_id,
        seconds,
        keys,
        kind=ev.TOOL_RESULT,
        operation="response",
        outcome=outcome,
        outcome_detail=detail,
    )


def envelopes(*events: Event) -> list[Envelope]:
    return [
        Envelope(e, ingested_at=T0 + timedelta(hours=1), ingest_batch="batch-1") for e in events
    ]


def run(stitcher: Stitcher, *events: Event) -> StitchOutput:
    return stitcher.process(envelopes(*events))


def action(out: StitchOutput, action_id: str) -> dict[str, Any]:
    """The last row written for ``action_id`` (the one the ledger keeps)."""
    rows = [r for r in out.actions if r["action_id"] == action_id]
    assert rows, f"no action row for {action_id}"
    return rows[-1]


def link_of(row: Mapping[str, Any]) -> tuple[str, str, str]:
    return row["link_key_type"], row["link_key"], row["link_rule"]


def session_of(stitcher: Stitcher, out: StitchOutput, event_id: str) -> str:
    sid = next(r["session_id"] for r in out.raw_events if r["event_id"] == event_id)
    return stitcher.state.resolve(sid)


# -- linking ---------------------------------------------------------------------------------


def test_events_sharing_a_key_land_in_one_session() -> None:
    stitcher = Stitcher()
    out = run(
        stitcher,
        event("e1", 0, [(ev.KEY_MCP_SESSION, MCP_SESSION), (ev.KEY_JTI, JTI)]),
        event("e2", 5, [(ev.KEY_MCP_SESSION, MCP_SESSION)]),
        event("e3", 9, [(ev.KEY_JTI, JTI), (ev.KEY_TRACE, "4bf92f3577b34da6a3ce929d0e0e4736")]),
    )
    sid = new_session_id(f"{ev.KEY_MCP_SESSION}:{MCP_SESSION}")
    assert [r["session_id"] for r in out.raw_events] == [sid, sid, sid]
    # The session is named after the first key; the link, its strongest, as a later event
    # that found the session by it would be linked.
    assert link_of(action(out, "e1")) == (ev.KEY_JTI, JTI, LINK_NEW)
    assert link_of(action(out, "e2")) == (ev.KEY_MCP_SESSION, MCP_SESSION, LINK_SHARED_KEY)
    assert link_of(action(out, "e3")) == (ev.KEY_JTI, JTI, LINK_SHARED_KEY)
    assert [
        (k["key_type"], k["key_value"], k["session_id"], k["event_id"]) for k in out.session_keys
    ] == [
        (ev.KEY_MCP_SESSION, MCP_SESSION, sid, "e1"),
        (ev.KEY_JTI, JTI, sid, "e1"),
        (ev.KEY_TRACE, "4bf92f3577b34da6a3ce929d0e0e4736", sid, "e3"),
    ]
    assert out.session_aliases == []
    assert {r["session_id"] for r in out.sessions} == {sid}


def test_an_event_without_keys_starts_its_own_session_named_by_its_id() -> None:
    out = run(Stitcher(), event("lonely", 0))
    assert link_of(action(out, "lonely")) == ("event", "lonely", LINK_NEW)
    assert action(out, "lonely")["session_id"] == new_session_id("event:lonely")


def test_an_aws_session_name_equal_to_an_earlier_jti_binds_the_cloudtrail_event() -> None:
    stitcher = Stitcher()
    mcp = event("mcp-call", 0, [(ev.KEY_MCP_SESSION, MCP_SESSION), (ev.KEY_JTI, JTI)])
    trail = event(
        "ct-getobject",
        60,
        [(ev.KEY_AWS_ACCESS_KEY, "ASIAQNZGKIQY7EXAMPLE"), (ev.KEY_AWS_SESSION_NAME, JTI)],
        kind=ev.API_CALL,
        source="cloudtrail",
        operation="GetObject",
    )
    out = run(stitcher, mcp, trail)
    assert session_of(stitcher, out, "ct-getobject") == session_of(stitcher, out, "mcp-call")
    assert link_of(action(out, "ct-getobject")) == (ev.KEY_JTI, JTI, LINK_SESSION_NAME)


def test_an_aws_session_name_binds_a_jti_that_arrives_later() -> None:
    stitcher = Stitcher()
    trail = event(
        "ct-getobject",
        0,
        [(ev.KEY_AWS_ACCESS_KEY, "ASIAQNZGKIQY7EXAMPLE"), (ev.KEY_AWS_SESSION_NAME, JTI)],
        kind=ev.API_CALL,
        source="cloudtrail",
    )
    first = run(stitcher, trail)  # CloudTrail delivered before the MCP capture
    second = run(stitcher, event("mcp-call", 10, [(ev.KEY_JTI, JTI)]))
    assert session_of(stitcher, second, "mcp-call") == session_of(stitcher, first, "ct-getobject")


def test_a_result_pairs_with_its_call_by_rpc_key_alone() -> None:
    stitcher = Stitcher()
    rpc = (ev.KEY_MCP_RPC, "github:7")
    out = run(
        stitcher,
        tool_call("call", 0, [(ev.KEY_JTI, JTI), rpc]),
        tool_result("result", 2, [rpc]),
    )
    assert session_of(stitcher, out, "result") == session_of(stitcher, out, "call")
    # The rpc key is indexed so a result can find its call, but it never names the session.
    assert stitcher.state.sessions[session_of(stitcher, out, "call")].keys == [f"jti:{JTI}"]


def test_a_result_before_its_call_starts_no_session_and_joins_the_calls() -> None:
    stitcher = Stitcher()
    rpc = (ev.KEY_MCP_RPC, "github:7")
    out = run(stitcher, tool_result("result", 0, [rpc]), tool_call("call", 1, [rpc]))
    # The call starts the session (its rpc key is all it has); the result joins it.
    assert link_of(action(out, "call")) == (ev.KEY_MCP_RPC, "github:7", LINK_NEW)
    assert session_of(stitcher, out, "call") == session_of(stitcher, out, "result")
    assert len(stitcher.state.sessions) == 1
    assert action(out, "call")["outcome_event_id"] == "result"


def test_an_rpc_key_never_merges_two_sessions() -> None:
    stitcher = Stitcher()
    rpc = (ev.KEY_MCP_RPC, "github:7")
    trace = (ev.KEY_TRACE, "0af7651916cd43dd8448eb211c80319c")
    out = run(
        stitcher,
        tool_call("call", 0, [(ev.KEY_JTI, JTI), rpc]),
        event("traced", 1, [trace]),
        event("other", 2, [trace, rpc]),  # a reused JSON-RPC id in another session
    )
    assert session_of(stitcher, out, "other") == session_of(stitcher, out, "traced")
    assert session_of(stitcher, out, "other") != session_of(stitcher, out, "call")
    assert link_of(action(out, "other")) == (ev.KEY_TRACE, trace[1], LINK_SHARED_KEY)
    assert out.session_aliases == []


def test_an_early_result_with_only_an_rpc_key_ends_in_its_calls_session() -> None:
    stitcher = Stitcher()
    rpc = (ev.KEY_MCP_RPC, "github:7")
    first = run(stitcher, event("init", 0, [(ev.KEY_JTI, JTI)]))
    early = run(stitcher, tool_result("result", 5, [rpc]))  # delivered first
    # Stored, but in no session: none is created for it.
    assert [r["session_id"] for r in early.raw_events] == [""]
    assert early.sessions == [] and early.actions == []
    assert stitcher.state.waiting_results() == {rpc[1]: ["result"]}
    late = run(stitcher, tool_call("call", 4, [(ev.KEY_JTI, JTI), rpc]))
    root = session_of(stitcher, first, "init")
    assert session_of(stitcher, late, "call") == root
    assert action(late, "call")["outcome_event_id"] == "result"
    assert stitcher.state.sessions[root].event_count == 3  # init, call and its result
    assert stitcher.state.waiting_results() == {}


def _principal_event(event_id: str, seconds: float, client_id: str = AGENT_CLIENT) -> Event:
    return event(event_id, seconds, principal=ALICE, principal_type="User", client_id=client_id)


def test_a_keyless_event_joins_the_principals_session_inside_the_window() -> None:
    stitcher = Stitcher()
    first = event("first", 0, [(ev.KEY_JTI, JTI)], principal=ALICE, client_id=AGENT_CLIENT)
    out = run(stitcher, first, _principal_event("inside", WINDOW.total_seconds()))
    assert link_of(action(out, "inside")) == ("principal_client", ALICE, LINK_WINDOW)
    assert session_of(stitcher, out, "inside") == session_of(stitcher, out, "first")


def test_a_keyless_event_outside_the_window_starts_a_new_session() -> None:
    stitcher = Stitcher()
    first = event("first", 0, [(ev.KEY_JTI, JTI)], principal=ALICE, client_id=AGENT_CLIENT)
    out = run(stitcher, first, _principal_event("outside", WINDOW.total_seconds() + 1))
    assert link_of(action(out, "outside")) == ("event", "outside", LINK_NEW)
    assert session_of(stitcher, out, "outside") != session_of(stitcher, out, "first")


def test_the_window_is_per_principal_and_client() -> None:
    stitcher = Stitcher()
    first = event("first", 0, [(ev.KEY_JTI, JTI)], principal=ALICE, client_id=AGENT_CLIENT)
    out = run(stitcher, first, _principal_event("other-client", 60, client_id="0oa-other"))
    assert link_of(action(out, "other-client")) == ("event", "other-client", LINK_NEW)


def test_the_window_counts_from_the_sessions_last_event() -> None:
    stitcher = Stitcher()
    first = event("first", 0, [(ev.KEY_JTI, JTI)], principal=ALICE, client_id=AGENT_CLIENT)
    run(stitcher, first, _principal_event("middle", 1200))
    out = run(stitcher, _principal_event("late", 1200 + 1500))  # 45 min after the first
    assert link_of(action(out, "late")) == ("principal_client", ALICE, LINK_WINDOW)


# -- merges ----------------------------------------------------------------------------------


def test_an_event_carrying_two_sessions_keys_merges_them_into_the_earliest() -> None:
    stitcher = Stitcher()
    out = run(
        stitcher,
        event("early", 0, [(ev.KEY_JTI, JTI)]),
        event("later", 10, [(ev.KEY_MCP_SESSION, MCP_SESSION)]),
        # The later session's key first: the root is chosen by time, not by key order.
        event("bridge", 20, [(ev.KEY_MCP_SESSION, MCP_SESSION), (ev.KEY_JTI, JTI)]),
    )
    early = new_session_id(f"jti:{JTI}")
    later = new_session_id(f"mcp_session:{MCP_SESSION}")
    assert out.session_aliases == [
        {
            "alias_id": later,
            "session_id": early,
            "rule": LINK_MERGE,
            "key_type": ev.KEY_MCP_SESSION,
            "key_value": MCP_SESSION,
            "event_id": "bridge",
            "version": out.session_aliases[0]["version"],
        }
    ]
    assert stitcher.state.resolve(later) == early
    assert link_of(action(out, "bridge")) == (ev.KEY_JTI, JTI, LINK_SHARED_KEY)
    assert action(out, "bridge")["session_id"] == early
    assert set(stitcher.state.sessions) == {early}
    merged = stitcher.state.sessions[early]
    assert (merged.event_count, merged.action_count) == (3, 3)
    assert merged.keys == [f"jti:{JTI}", f"mcp_session:{MCP_SESSION}"]
    assert (merged.first_seen, merged.last_seen) == (T0, T0 + timedelta(seconds=20))


def _three_sessions(stitcher: Stitcher) -> tuple[str, str, str]:
    run(
        stitcher,
        event("a", 0, [(ev.KEY_JTI, "jti-a")]),
        event("b", 10, [(ev.KEY_TXN, "txn-b")]),
        event("c", 20, [(ev.KEY_TRACE, "trace-c")]),
    )
    return (
        new_session_id("jti:jti-a"),
        new_session_id("txn:txn-b"),
        new_session_id("trace:trace-c"),
    )


def test_a_three_way_merge_aliases_both_later_sessions_to_the_earliest() -> None:
    stitcher = Stitcher()
    a, b, c = _three_sessions(stitcher)
    out = run(
        stitcher,
        event("abc", 30, [(ev.KEY_TRACE, "trace-c"), (ev.KEY_TXN, "txn-b"), (ev.KEY_JTI, "jti-a")]),
    )
    assert sorted(
        (r["alias_id"], r["session_id"], r["key_value"]) for r in out.session_aliases
    ) == (sorted([(b, a, "txn-b"), (c, a, "trace-c")]))
    assert set(stitcher.state.sessions) == {a}
    assert stitcher.state.sessions[a].event_count == 4


def test_a_chained_merge_re_points_earlier_aliases_to_the_final_root() -> None:
    stitcher = Stitcher()
    a, b, c = _three_sessions(stitcher)
    first = run(stitcher, event("bc", 30, [(ev.KEY_TRACE, "trace-c"), (ev.KEY_TXN, "txn-b")]))
    assert [(r["alias_id"], r["session_id"]) for r in first.session_aliases] == [(c, b)]
    second = run(stitcher, event("ab", 40, [(ev.KEY_TXN, "txn-b"), (ev.KEY_JTI, "jti-a")]))
    assert [(r["alias_id"], r["session_id"]) for r in second.session_aliases] == [(b, a), (c, a)]
    # c's row keeps the evidence of its own merge: the key and the event that made it.
    assert [(r["key_value"], r["event_id"]) for r in second.session_aliases] == [
        ("txn-b", "ab"),
        ("trace-c", "bc"),
    ]
    surviving = set(stitcher.state.sessions)
    assert surviving == {a}
    assert all(r["session_id"] in surviving for r in second.session_aliases)
    assert {stitcher.state.resolve(s) for s in (a, b, c)} == {a}
    assert stitcher.state.sessions[a].event_count == 5


def test_a_chained_merge_within_one_batch_leaves_every_alias_on_the_final_root() -> None:
    stitcher = Stitcher()
    a, b, c = _three_sessions(stitcher)
    out = run(
        stitcher,
        event("bc", 30, [(ev.KEY_TRACE, "trace-c"), (ev.KEY_TXN, "txn-b")]),
        event("ab", 40, [(ev.KEY_TXN, "txn-b"), (ev.KEY_JTI, "jti-a")]),
    )
    # Rows share the batch's version, so the ledger keeps the last row of each alias.
    last = {r["alias_id"]: r["session_id"] for r in out.session_aliases}
    assert last == {b: a, c: a}
    assert set(last.values()) <= set(stitcher.state.sessions)


# -- tool results ----------------------------------------------------------------------------

RPC = (ev.KEY_MCP_RPC, f"{MCP_SESSION}:7")
SESSION_KEY = (ev.KEY_MCP_SESSION, MCP_SESSION)


def test_a_result_in_the_same_batch_updates_its_calls_action_row() -> None:
    stitcher = Stitcher()
    out = run(
        stitcher,
        tool_call("call", 0, [SESSION_KEY, RPC]),
        tool_result("result", 1, [SESSION_KEY, RPC]),
    )
    pending, done = [r for r in out.actions if r["action_id"] == "call"]
    assert (pending["outcome"], pending["outcome_event_id"]) == (ev.PENDING, "")
    assert pending["rpc_key"] == RPC[1]
    assert (done["outcome"], done["outcome_detail"], done["outcome_event_id"]) == (
        ev.SUCCESS,
        "",
        "result",
    )
    assert done["version"] == pending["version"] + 1
    assert {k: v for k, v in done.items() if not k.startswith(("outcome", "version"))} == {
        k: v for k, v in pending.items() if not k.startswith(("outcome", "version"))
    }
    assert [r["action_id"] for r in out.actions] == ["call", "call"]  # no row for the result
    assert stitcher.state.open_calls() == {}


def test_a_result_in_a_later_batch_updates_its_calls_action_row() -> None:
    stitcher = Stitcher()
    first = run(stitcher, tool_call("call", 0, [SESSION_KEY, RPC]))
    second = run(
        stitcher, tool_result("result", 3, [SESSION_KEY, RPC], ev.FAILURE, "-32602: unknown tool")
    )
    before, after = action(first, "call"), action(second, "call")
    assert (after["outcome"], after["outcome_detail"], after["outcome_event_id"]) == (
        ev.FAILURE,
        "-32602: unknown tool",
        "result",
    )
    assert after["version"] > before["version"]
    assert after["session_id"] == before["session_id"]
    assert stitcher.state.sessions[after["session_id"]].failure_count == 1


def test_a_result_before_its_call_in_one_batch_is_applied_to_the_call() -> None:
    stitcher = Stitcher()
    out = run(
        stitcher,
        tool_call("call", 5, [SESSION_KEY, RPC]),
        tool_result("result", 4, [SESSION_KEY, RPC]),  # the server's clock runs behind
    )
    # Stitched in arrival order: the call's row, then again with its answer, replacing it.
    rows = [r for r in out.actions if r["action_id"] == "call"]
    assert [(r["outcome"], r["outcome_event_id"]) for r in rows] == [
        (ev.PENDING, ""),
        (ev.SUCCESS, "result"),
    ]
    assert rows[1]["version"] > rows[0]["version"]
    assert stitcher.state.waiting_results() == {}
    assert stitcher.state.open_calls() == {}


def test_a_result_in_an_earlier_batch_is_applied_when_the_call_arrives() -> None:
    stitcher = Stitcher()
    early = run(stitcher, tool_result("result", 4, [SESSION_KEY, RPC], ev.FAILURE, "timeout"))
    assert early.actions == []
    late = run(stitcher, tool_call("call", 3, [SESSION_KEY, RPC]))
    row = action(late, "call")
    assert (row["outcome"], row["outcome_detail"], row["outcome_event_id"]) == (
        ev.FAILURE,
        "timeout",
        "result",
    )
    assert stitcher.state.waiting_results() == {}
    assert stitcher.state.open_calls() == {}


def test_the_drift_stage_is_fed_each_call_and_result_in_arrival_order() -> None:
    """``fed``: each call with its first row and each result with its raw row (whose session
    is the call's once paired), nothing else; ``answered``: which call each result answered."""
    stitcher = Stitcher()
    other_rpc = (ev.KEY_MCP_RPC, f"{MCP_SESSION}:8")
    out = run(
        stitcher,
        tool_result("early", 0, [SESSION_KEY, RPC]),  # before its call, in the same batch
        event("listing", 1, [SESSION_KEY]),  # a tools/list request: no call
        tool_call("call", 2, [SESSION_KEY, RPC]),
        tool_result("stray", 3, [other_rpc]),  # no call to answer
    )
    assert [(e.event_id, e.kind) for e, _ in out.fed] == [
        ("early", ev.TOOL_RESULT),
        ("call", ev.TOOL_CALL),
        ("stray", ev.TOOL_RESULT),
    ]
    rows = {e.event_id: row for e, row in out.fed}
    first_call_row = next(r for r in out.actions if r["action_id"] == "call")
    assert rows["call"] is first_call_row
    assert rows["early"] is next(r for r in out.raw_events if r["event_id"] == "early")
    assert rows["early"]["session_id"] == first_call_row["session_id"] != ""
    assert rows["stray"]["session_id"] == ""
    assert out.answered == {"early": "call"}


# -- credentials and the session summary -----------------------------------------------------

GRANT_CLAIMS = '{"cid":"0oa8f5j3ecb5w3dF35d7","jti":"jti-7f3a","sub":"alice@example.com"}'


def _grant(seconds: float) -> Event:
    return event(
        "okta-grant",
        seconds,
        [(ev.KEY_JTI, JTI), (ev.KEY_IDP_SESSION, "102Bt7XhCbvS")],
        kind=ev.TOKEN_GRANT,
        source="okta",
        operation="app.oauth2.as.token.grant.access_token",
        principal=ALICE,
        principal_type="User",
        client_id=AGENT_CLIENT,
        scopes=["openid", "mcp:tools"],
        outcome=ev.SUCCESS,
        attributes={
            "jti": JTI,
            "token_fp": "sha256:" + "ab" * 32,
            "expires_at": "2025-03-14T10:00:00Z",
            "claims": GRANT_CLAIMS,
        },
    )


def test_a_token_grant_produces_a_credentials_row() -> None:
    out = run(Stitcher(), _grant(0))
    sid = new_session_id(f"jti:{JTI}")
    assert out.credentials == [
        {
            "credential_id": JTI,
            "kind": "access_token",
            "session_id": sid,
            "issued_at": "2025-03-14 09:00:00.000000",
            "expires_at": "2025-03-14T10:00:00Z",
            "principal": ALICE,
            "client_id": AGENT_CLIENT,
            "scopes": ["openid", "mcp:tools"],
            "fingerprint": "sha256:" + "ab" * 32,
            "claims": GRANT_CLAIMS,
            "event_id": "okta-grant",
            "version": out.credentials[0]["version"],
        }
    ]


def test_an_sts_grant_produces_an_aws_temporary_key_credential() -> None:
    sts = event(
        "ct-assumerole",
        0,
        [(ev.KEY_AWS_ACCESS_KEY, "ASIAQNZGKIQY7EXAMPLE"), (ev.KEY_AWS_SESSION_NAME, JTI)],
        kind=ev.TOKEN_GRANT,
        source="cloudtrail",
        principal="arn:aws:iam::111122223333:user/deploy",
        principal_type="IAMUser",
        attributes={"issued_access_key": "ASIAQNZGKIQY7EXAMPLE"},
    )
    (row,) = run(Stitcher(), sts).credentials
    assert (row["credential_id"], row["kind"]) == ("ASIAQNZGKIQY7EXAMPLE", "aws_temporary_key")


def _session_events() -> list[Event]:
    workload_call = event(
        "mcp-call",
        0,
        [SESSION_KEY, (ev.KEY_JTI, JTI), RPC],
        kind=ev.TOOL_CALL,
        operation="tools/call",
        principal=AGENT_CLIENT,
        client_id=AGENT_CLIENT,
        agent_name="claude-code",
        agent_version="1.0.33",
        agent_instance="agent-7",
        intent="Triage issue #12",
        scopes=["repo:read", "mcp:tools"],
        outcome=ev.PENDING,
    )
    trail = event(
        "ct-getobject",
        120,
        [(ev.KEY_AWS_ACCESS_KEY, "ASIAQNZGKIQY7EXAMPLE"), (ev.KEY_AWS_SESSION_NAME, JTI)],
        kind=ev.API_CALL,
        source="cloudtrail",
        operation="GetObject",
        principal=ROLE_ARN,
        principal_type="AssumedRole",
        outcome=ev.FAILURE,
        outcome_detail="AccessDenied",
    )
    return [workload_call, _grant(60), trail, tool_result("mcp-result", 130, [SESSION_KEY, RPC])]


def test_the_session_summary_prefers_the_person_and_unions_what_the_events_say() -> None:
    stitcher = Stitcher()
    out = run(stitcher, *_session_events())
    sid = new_session_id(f"mcp_session:{MCP_SESSION}")
    (row,) = {r["session_id"]: r for r in out.sessions}.values()
    assert row == {
        "session_id": sid,
        "first_seen": "2025-03-14 09:00:00.000000",
        "last_seen": "2025-03-14 09:02:10.000000",
        "principal": ALICE,
        "principal_type": "User",
        "origin_type": "human",
        "origin_principal": ALICE,
        "agent_name": "claude-code",
        "agent_version": "1.0.33",
        "agent_instance": "agent-7",
        "client_id": AGENT_CLIENT,
        "intent": "Triage issue #12",
        "scopes": ["mcp:tools", "openid", "repo:read"],
        "sources": ["cloudtrail", "mcp", "okta"],
        "keys": [
            f"mcp_session:{MCP_SESSION}",
            f"jti:{JTI}",
            "idp_session:102Bt7XhCbvS",
            "aws_access_key:ASIAQNZGKIQY7EXAMPLE",
            f"aws_session_name:{JTI}",
        ],
        "event_count": 4,
        "action_count": 3,
        "failure_count": 1,
        "declared": False,
        "intent_source": "",
        "intent_tools": [],
        "intent_resources": [],
        "intent_actions": [],
        "upstream_session_id": "",
        "agent_spiffe_id": "",
        # A new session's first write is based on nothing (``processors.recount``).
        "base_event_count": 0,
        "base_action_count": 0,
        "base_failure_count": 0,
        "base_merged": [],
        "version": row["version"],
    }


def test_a_merge_prefers_the_person_as_principal_like_a_single_session_does() -> None:
    stitcher = Stitcher()
    run(
        stitcher,
        event(
            "role", 0, [(ev.KEY_TRACE, "trace-1")], principal=ROLE_ARN, principal_type="AssumedRole"
        ),
        _grant(30),
        event("bridge", 60, [(ev.KEY_TRACE, "trace-1"), (ev.KEY_JTI, JTI)]),
    )
    (session,) = stitcher.state.sessions.values()
    assert (session.origin_principal, session.principal) == (ALICE, ALICE)


# -- order independence ----------------------------------------------------------------------


def _component_events() -> list[Event]:
    """Four components, linked by keys only; some events share a timestamp."""
    return [
        event("a1", 0, [(ev.KEY_JTI, "jti-a")]),
        event("a2", 10, [(ev.KEY_MCP_SESSION, "ms-a"), (ev.KEY_JTI, "jti-a")]),
        tool_call("a3", 20, [(ev.KEY_MCP_SESSION, "ms-a"), (ev.KEY_MCP_RPC, "ms-a:1")]),
        tool_result("a4", 30, [(ev.KEY_MCP_SESSION, "ms-a"), (ev.KEY_MCP_RPC, "ms-a:1")]),
        event("b1", 10, [(ev.KEY_TRACE, "trace-b")]),
        event("b2", 20, [(ev.KEY_TXN, "txn-b")]),
        event("b3", 50, [(ev.KEY_TRACE, "trace-b"), (ev.KEY_TXN, "txn-b")]),
        event("c1", 0, [(ev.KEY_IDP_SESSION, "idp-c")]),
        event("c2", 0, [(ev.KEY_IDP_SESSION, "idp-c"), (ev.KEY_IDP_TXN, "Wz1-c")]),
        event("c3", 40, [(ev.KEY_IDP_TXN, "Wz1-c"), (ev.KEY_AWS_ACCESS_KEY, "ASIAC")]),
        event("c4", 45, [(ev.KEY_AWS_ACCESS_KEY, "ASIAC"), (ev.KEY_TRACE, "trace-b")]),
        event("d1", 30),
    ]


EXPECTED_PARTITION = {
    frozenset({"a1", "a2", "a3", "a4"}),
    frozenset({"b1", "b2", "b3", "c1", "c2", "c3", "c4"}),
    frozenset({"d1"}),
}


def _partition(batches: Iterable[Sequence[Event]]) -> set[frozenset[str]]:
    stitcher = Stitcher()
    session_by_event: dict[str, str] = {}
    answered_by: dict[str, str] = {}  # result id -> session of the call it answers
    for batch in batches:
        out = run(stitcher, *batch)
        for row in out.raw_events:
            session_by_event[row["event_id"]] = row["session_id"]
        for row in out.actions:
            if row["outcome_event_id"]:
                answered_by[row["outcome_event_id"]] = row["session_id"]
    # A result stored before its call has no session in its raw row: its call's row says.
    session_by_event.update(answered_by)
    groups: dict[str, set[str]] = {}
    for event_id, sid in session_by_event.items():
        groups.setdefault(stitcher.state.resolve(sid), set()).add(event_id)
    assert set(groups) == set(stitcher.state.sessions)  # every root survives, no other
    for root, members in groups.items():
        assert stitcher.state.sessions[root].event_count == len(members)
    return {frozenset(members) for members in groups.values()}


def _split(items: list[Event], rng: random.Random) -> list[list[Event]]:
    cuts = sorted(rng.sample(range(1, len(items)), 2))
    return [items[: cuts[0]], items[cuts[0] : cuts[1]], items[cuts[1] :]]


@pytest.mark.parametrize("seed", range(8))
def test_the_sessions_do_not_depend_on_input_order(seed: int) -> None:
    rng = random.Random(seed)
    shuffled = _component_events()
    rng.shuffle(shuffled)
    assert _partition([shuffled]) == EXPECTED_PARTITION
    assert _partition([[e] for e in shuffled]) == EXPECTED_PARTITION
    assert _partition(_split(shuffled, rng)) == EXPECTED_PARTITION


# -- restore ---------------------------------------------------------------------------------


def _final(rows: Iterable[Mapping[str, Any]], *key: str) -> list[dict[str, Any]]:
    """What ``SELECT ... FINAL`` returns: the last row of the highest version per key."""
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[name] for name in key)
        if k not in kept or row["version"] >= kept[k]["version"]:
            kept[k] = dict(row)
    return list(kept.values())


def _restore(outputs: Sequence[StitchOutput]) -> StitchState:
    """A new state from the rows the ledger holds after ``outputs`` were inserted."""
    keys = _final([r for o in outputs for r in o.session_keys], "key_type", "key_value")
    aliases = _final([r for o in outputs for r in o.session_aliases], "alias_id")
    sessions = _final([r for o in outputs for r in o.sessions], "session_id")
    actions = _final([r for o in outputs for r in o.actions], "action_id")
    return StitchState.restore(
        window=WINDOW,
        keys=[{n: r[n] for n in ("key_type", "key_value", "session_id")} for r in keys],
        aliases=[
            {n: r[n] for n in ("alias_id", "session_id", "key_type", "key_value", "event_id")}
            for r in aliases
        ],
        sessions=sessions,
        pending_actions=[
            r for r in actions if r["kind"] == ev.TOOL_CALL and r["outcome"] == ev.PENDING
        ],
    )


def test_restore_from_the_ledger_rows_continues_sessions_and_pending_calls() -> None:
    before = Stitcher()
    out1 = run(
        before,
        event("init", 0, [(ev.KEY_JTI, JTI)], principal=ALICE, client_id=AGENT_CLIENT),
        event("trace", 5, [(ev.KEY_TRACE, "4bf92f3577b34da6a3ce929d0e0e4736")]),
        tool_call("call", 10, [SESSION_KEY, (ev.KEY_JTI, JTI), RPC]),
        # Merges the trace's session into the jti's.
        event("bridge", 15, [(ev.KEY_TRACE, "4bf92f3577b34da6a3ce929d0e0e4736"), SESSION_KEY]),
    )
    root = new_session_id(f"jti:{JTI}")
    traced = new_session_id("trace:4bf92f3577b34da6a3ce929d0e0e4736")
    assert [(r["alias_id"], r["session_id"]) for r in out1.session_aliases] == [(traced, root)]

    state = _restore([out1])
    assert state.resolve(traced) == root
    assert state.sessions[root].first_seen == T0
    assert state.sessions[root].last_seen == T0 + timedelta(seconds=15)
    assert state.sessions[root].event_count == 4
    assert state.open_calls() == {RPC[1]: ["call"]}

    after = Stitcher(state)
    out2 = run(
        after,
        tool_result("result", 20, [SESSION_KEY, RPC]),
        event("via-alias", 25, [(ev.KEY_TRACE, "4bf92f3577b34da6a3ce929d0e0e4736")]),
        _principal_event("keyless", 600),
    )
    assert {r["event_id"]: after.state.resolve(r["session_id"]) for r in out2.raw_events} == {
        "result": root,
        "via-alias": root,
        "keyless": root,
    }
    assert link_of(action(out2, "keyless")) == ("principal_client", ALICE, LINK_WINDOW)
    done = action(out2, "call")
    assert (done["outcome"], done["outcome_event_id"], done["session_id"]) == (
        ev.SUCCESS,
        "result",
        root,
    )
    assert done["version"] > action(out1, "call")["version"]
    assert after.state.open_calls() == {}
    (summary,) = {r["session_id"]: r for r in out2.sessions}.values()
    assert (summary["session_id"], summary["event_count"]) == (root, 7)
    assert summary["last_seen"] == "2025-03-14 09:10:00.000000"


@pytest.mark.parametrize("seed", range(4))
def test_what_the_state_keeps_open_is_a_function_of_its_watermark(seed: int) -> None:
    """Whatever the batches, after each one the actions open to a new label are those from
    ``open_since(watermark)`` on: what a state restored from the ledger at that watermark
    holds (``processors.sink.restore_state``). A late one is labelled, then closed."""
    rng = random.Random(seed)
    events = [
        event(f"e{i}", rng.uniform(0, 3600), [(ev.KEY_JTI, f"jti-{i % 7}")]) for i in range(120)
    ]
    stitcher = Stitcher(StitchState(WINDOW, restitch=timedelta(minutes=15)))
    state = stitcher.state
    labelled: set[str] = set()
    done: list[Event] = []
    while events:
        size = rng.randint(1, 15)
        batch, events = events[:size], events[size:]
        out = run(stitcher, *batch)
        done += batch
        labelled |= {row["action_id"] for row in out.attributions}
        assert state.watermark == max(e.event_time for e in done)
        since = open_since(state.watermark, state.restitch)
        assert state.open_since == since
        expected = {e.event_id for e in done if e.event_time >= since}
        assert set(state.facts) == expected
        assert {a for ids in state.by_session.values() for a in ids} == expected
    assert labelled == {e.event_id for e in done}  # each labelled, the late ones too


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
def test_a_sessions_principal_does_not_depend_on_the_order_its_events_arrive_in(
    reverse: bool,
) -> None:
    """A person over a workload identity, a typed one over one without a type, then the
    smallest: the same session's principal whichever event comes first."""
    jti = [(ev.KEY_JTI, JTI)]
    events = [
        event("client", 0, jti, principal=AGENT_CLIENT),
        event("app", 1, jti, principal="support-agent", principal_type="PublicClientApp"),
        event("other-app", 2, jti, principal="billing-agent", principal_type="PublicClientApp"),
    ]
    if reverse:
        events.reverse()
    stitcher = Stitcher()
    for one in events:  # a batch each: the order they arrive in, not their times
        run(stitcher, one)
    [session] = stitcher.state.sessions.values()
    assert (session.principal, session.principal_type) == ("billing-agent", "PublicClientApp")
    run(stitcher, event("person", 3, jti, principal=ALICE, principal_type="User"))
    assert (session.principal, session.principal_type) == (ALICE, "User")


def test_restore_remembers_the_principals_most_recent_session() -> None:
    stitcher = Stitcher()
    old = run(stitcher, event("old", 0, [(ev.KEY_JTI, "jti-old")], principal=ALICE))
    new = run(stitcher, event("new", 3600, [(ev.KEY_JTI, "jti-new")], principal=ALICE))
    recent = session_of(stitcher, new, "new")
    sessions = [*new.sessions, *old.sessions]  # FINAL returns rows in no particular order
    state = StitchState.restore(
        window=WINDOW,
        keys=[*old.session_keys, *new.session_keys],
        aliases=[],
        sessions=sessions,
        pending_actions=[],
    )
    out = run(Stitcher(state), event("keyless", 3700, principal=ALICE))
    assert session_of(Stitcher(state), out, "keyless") == recent


def test_the_merge_log_tells_what_merged_since_a_count_while_it_reaches_back() -> None:
    state = StitchState()
    assert state.merged_since(0) == []
    for alias in ("s-a", "s-b", "s-c"):
        state.note_alias(alias)
    assert state.merged_since(1) == ["s-b", "s-c"]
    assert state.merged_since(3) == []
    for i in range(state.merged.maxlen or 0):
        state.note_alias(f"s-{i}")
    assert state.merged_since(3) is not None
    assert state.merged_since(2) is None  # older than the log: look at everything
