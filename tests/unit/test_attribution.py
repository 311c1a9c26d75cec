"""Attribution: the label of each action, from raw records to rows, in any arrival order."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from kernel import events as ev
from kernel import vocabulary as vocab
from kernel.codec import Envelope
from kernel.declaration import parse_declaration
from kernel.events import Event
from processors import attribution as at
from processors.coverage import covers
from processors.labels import ActionFacts, Hop, Intent, SessionContext
from processors.sessions import StitchState
from processors.stitch import Stitcher
from tests import scenarios
from tests.scenarios import Scenario, parse

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)

# -- pure parts ------------------------------------------------------------------------------


def _facts(**kw: Any) -> ActionFacts:
    values: dict[str, Any] = {
        "action_id": "a1",
        "session_id": "s-1",
        "event_time": T0,
        "kind": ev.API_CALL,
        "source": "envoy",
        "operation": "PATCH /v1/customers/globex",
        "resource": "/v1/customers/globex",
        "access": "write",
        "principal": "alice@acme.example",
        "principal_type": "",
        "agent_name": "",
        "agent_instance": "",
        "actors": (),
        "link_key_type": ev.KEY_JTI,
        "link_key": "AT.1",
        "link_rule": "shared_key",
    }
    values.update(kw)
    return ActionFacts(**values)


ALICE = Hop("human", "alice@acme.example", "", "declaration")


def test_a_person_with_their_own_credentials_and_no_agent_is_direct() -> None:
    ctx = SessionContext("s-1", principal="alice@acme.example", principal_type="User")
    result = at.attribute(_facts(), ctx)
    assert (result.label, result.rule) == (vocab.DIRECT_USER, vocab.RULE_PERSON)
    assert result.origin_principal == "alice@acme.example"
    assert [e["fact"] for e in result.evidence] == ["link", "person"]


def test_no_agent_and_no_person_is_unattributed() -> None:
    facts = _facts(principal="svc-batch", principal_type="AssumedRole")
    result = at.attribute(facts, SessionContext("s-1"))
    assert (result.label, result.rule) == (vocab.UNATTRIBUTED, vocab.RULE_NO_ACTOR)


def test_an_agent_action_with_no_key_has_no_session_and_is_unattributed() -> None:
    facts = _facts(agent_name="support-agent", link_key_type="event", link_rule="new_session")
    result = at.attribute(facts, SessionContext("s-1", agent="support-agent"))
    assert (result.label, result.rule) == (vocab.UNATTRIBUTED, vocab.RULE_NO_SESSION)


def test_the_session_agent_is_inherited_only_through_a_credential_key() -> None:
    ctx = SessionContext(
        "s-1", agent="support-agent", principal="alice@acme.example", principal_type="User"
    )
    by_token = at.attribute(_facts(), ctx)
    assert by_token.agent == "support-agent"
    by_idp_session = at.attribute(_facts(link_key_type=ev.KEY_IDP_SESSION), ctx)
    assert by_idp_session.label == vocab.DIRECT_USER  # the IdP session says nothing of the token
    sign_in = at.attribute(_facts(kind=ev.IDENTITY, access=""), ctx)
    assert sign_in.label == vocab.DIRECT_USER  # signing in is the person's own step


def test_an_agent_with_no_intent_acts_on_its_own() -> None:
    ctx = SessionContext("s-1", agent="support-agent", upstream=(ALICE,))
    result = at.attribute(_facts(), ctx)
    assert (result.label, result.rule) == (vocab.AGENT_AUTONOMOUS, vocab.RULE_NO_INSTRUCTION)
    assert (result.origin_type, result.origin_principal) == ("human", "alice@acme.example")


@pytest.mark.parametrize(
    ("intent", "facts", "covered"),
    [
        (Intent("anything", "declared"), _facts(), True),
        (
            Intent("t", "declared", tools=("crm.*",)),
            _facts(kind=ev.TOOL_CALL, resource="crm.get"),
            True,
        ),
        (
            Intent("t", "declared", tools=("crm.get",)),
            _facts(kind=ev.TOOL_CALL, resource="crm.put"),
            False,
        ),
        (Intent("t", "declared", actions=("read",)), _facts(), False),
        (Intent("t", "declared", actions=("read", "write")), _facts(), True),
        (Intent("t", "declared", actions=("*",)), _facts(access="delete"), True),
        (Intent("t", "declared", actions=("read",)), _facts(access=""), False),
        (Intent("t", "declared", resources=("/v1/customers/*",)), _facts(), True),
        (Intent("t", "declared", resources=("/v1/orders/*",)), _facts(), False),
        (Intent("t", "declared", actions=("read",)), _facts(kind=ev.MCP_MESSAGE), True),
    ],
)
def test_coverage_follows_the_intent_structure(
    intent: Intent, facts: ActionFacts, covered: bool
) -> None:
    assert covers(intent, facts)[0] is covered


def test_a_downstream_action_the_first_intent_does_not_cover_is_a_possible_confused_deputy() -> (
    None
):
    first = Intent("fix the address", "declared", actions=("read", "write"))
    mine = Intent("replace the record", "declared", actions=("write", "delete"))
    ctx = SessionContext(
        "s-worker",
        agent="crm-worker",
        intent=mine,
        upstream=(Hop("agent", "orchestrator", "s-orch", "declaration", first), ALICE),
    )
    deleted = at.attribute(_facts(access="delete"), ctx)
    assert (deleted.label, deleted.confused_deputy) == (vocab.AGENT_DELEGATED, True)
    assert [h.kind for h in deleted.chain] == ["agent", "agent", "human"]
    written = at.attribute(_facts(), ctx)
    assert (written.label, written.confused_deputy) == (vocab.AGENT_DELEGATED, False)


# -- the scenarios, from raw records ---------------------------------------------------------


Step = dict[str, Any] | list[Envelope]


def labels(steps: Iterable[Step], stitcher: Stitcher | None = None) -> dict[str, dict[str, Any]]:
    """The label the ledger ends up with for each action (the last row written for it)."""
    stitcher = stitcher or Stitcher()
    final: dict[str, dict[str, Any]] = {}
    for step in steps:
        if isinstance(step, dict):
            out = stitcher.declare(parse_declaration(step))
        else:
            out = stitcher.process(step)
        for row in out.attributions:
            final[row["action_id"]] = row
    return final


def in_order(items: list[Scenario]) -> list[Step]:
    return [d for s in items for d in s.declarations] + [[e for s in items for e in parse(s)]]


def by_action(rows: dict[str, dict[str, Any]], envelopes: list[Envelope]) -> dict[str, Any]:
    """Label rows keyed by a readable name: source, operation/tool and time."""
    named = {}
    for env in envelopes:
        e = env.event
        if e.event_id in rows:
            what = e.resource if e.kind == ev.TOOL_CALL else e.operation
            named[f"{e.source} {what} @{e.event_time:%M:%S}"] = rows[e.event_id]
    return named


def test_the_same_write_gets_three_labels_in_three_scenarios() -> None:
    items = [scenarios.direct(), scenarios.delegated(), scenarios.autonomous()]
    rows = labels(in_order(items))
    summary = {
        s.name: {name: row["label"] for name, row in by_action(rows, parse(s)).items()}
        for s in items
    }
    assert summary["direct"] == {
        "okta user.session.start @00:00": vocab.DIRECT_USER,
        "okta app.oauth2.as.token.grant.access_token @00:02": vocab.DIRECT_USER,
        "envoy GET /v1/customers/globex @00:30": vocab.DIRECT_USER,
        "envoy PATCH /v1/customers/globex @00:41": vocab.DIRECT_USER,
    }
    assert summary["delegated"] == {
        "okta user.session.start @01:00": vocab.DIRECT_USER,
        "okta app.oauth2.as.token.grant.access_token @01:01": vocab.DIRECT_USER,
        "mcp crm.update_customer @01:15": vocab.AGENT_DELEGATED,
        "envoy PATCH /v1/customers/globex @01:15": vocab.AGENT_DELEGATED,
    }
    assert summary["autonomous"] == {
        "okta user.session.start @02:00": vocab.DIRECT_USER,
        "okta app.oauth2.as.token.grant.access_token @02:01": vocab.DIRECT_USER,
        "mcp orders.get_status @02:10": vocab.AGENT_DELEGATED,
        "mcp crm.update_customer @02:20": vocab.AGENT_AUTONOMOUS,
        "envoy PATCH /v1/customers/globex @02:20": vocab.AGENT_AUTONOMOUS,
    }
    # Each label says why, in facts an analyst can check.
    direct = by_action(rows, parse(items[0]))["envoy PATCH /v1/customers/globex @00:41"]
    assert direct["rule"] == vocab.RULE_PERSON
    assert [e["fact"] for e in orjson.loads(direct["evidence"])] == ["link", "person"]
    delegated = by_action(rows, parse(items[1]))["envoy PATCH /v1/customers/globex @01:15"]
    evidence = {e["fact"]: e for e in orjson.loads(delegated["evidence"])}
    assert delegated["agent"] == "support-agent (support-agent-7c9)"
    assert (delegated["origin_type"], delegated["origin_principal"]) == (
        "human",
        "alice@acme.example",
    )
    assert evidence["link"]["key_type"] == ev.KEY_JTI
    assert "AT.deleg-91c2" in evidence["agent"]["detail"]
    assert evidence["intent"]["source"] == "declared"
    assert evidence["coverage"]["covered"] == "yes"
    autonomous = by_action(rows, parse(items[2]))["envoy PATCH /v1/customers/globex @02:20"]
    assert autonomous["rule"] == vocab.RULE_OUTSIDE
    why = {e["fact"]: e["detail"] for e in orjson.loads(autonomous["evidence"])}
    assert why["coverage"] == "it is a write, and the intent allows only ['read']"


def test_a_two_agent_chain_is_labelled_back_to_the_person() -> None:
    chain = scenarios.chain()
    rows = by_action(labels(in_order([chain])), parse(chain))
    patch = rows["envoy PATCH /v1/customers/globex @03:15"]
    assert patch["label"] == vocab.AGENT_DELEGATED
    assert (patch["origin_type"], patch["origin_principal"]) == ("human", "bob@acme.example")
    hops = orjson.loads(patch["chain"])
    assert [(h["kind"], h["id"]) for h in hops] == [
        ("agent", "crm-worker (crm-worker-3)"),
        ("agent", "orchestrator (orchestrator-1)"),
        ("human", "bob@acme.example"),
    ]
    assert [h.get("session_id") for h in hops[:2]] == ["s-chain-worker", "s-chain-orchestrator"]
    assert not patch["confused_deputy"]
    facts = {e["fact"] for e in orjson.loads(patch["evidence"])}
    assert {"act_claim", "chain", "origin", "intent", "coverage"} <= facts
    # The worker was told to delete; Bob only asked for the address to be fixed.
    for name in ("mcp crm.delete_customer @03:20", "envoy DELETE /v1/customers/globex @03:20"):
        assert (rows[name]["label"], rows[name]["confused_deputy"]) == (
            vocab.AGENT_DELEGATED,
            True,
        ), name
    orchestrator = rows["mcp crm.get_customer @03:05"]
    assert (orchestrator["label"], orchestrator["origin_principal"]) == (
        vocab.AGENT_DELEGATED,
        "bob@acme.example",
    )


def _stable(row: dict[str, Any]) -> tuple[Any, ...]:
    """What must not depend on arrival order (session ids and the linking key may)."""
    return (
        row["label"],
        row["rule"],
        row["agent"],
        row["origin_type"],
        row["origin_principal"],
        row["confused_deputy"],
        tuple((h["kind"], h["id"]) for h in orjson.loads(row["chain"])),
        tuple(sorted(e["fact"] for e in orjson.loads(row["evidence"]) if e["fact"] != "link")),
    )


@pytest.mark.parametrize("seed", range(12))
def test_shuffling_the_arrival_order_changes_no_label(seed: int) -> None:
    items = scenarios.all_scenarios()
    expected = {k: _stable(v) for k, v in labels(in_order(items)).items()}
    rng = random.Random(seed)
    pieces: list[dict[str, Any] | Envelope] = [d for s in items for d in s.declarations]
    pieces += [e for s in items for e in parse(s)]
    rng.shuffle(pieces)
    steps: list[Step] = []
    batch: list[Envelope] = []
    size = rng.randint(1, 5)
    for piece in pieces:  # batches of one to five events; a declaration is a step of its own
        if isinstance(piece, Envelope):
            batch.append(piece)
            if len(batch) < size:
                continue
        if batch:
            steps.append(batch)
            batch, size = [], rng.randint(1, 5)
        if not isinstance(piece, Envelope):
            steps.append(piece)
    if batch:
        steps.append(batch)
    got = {k: _stable(v) for k, v in labels(steps).items()}
    assert got == expected
    assert len(expected) == 20  # every action of the four scenarios


def test_a_declaration_later_than_the_restitch_window_leaves_the_label_alone() -> None:
    s = scenarios.delegated()
    envelopes = parse(s)
    later = [e for e in parse(scenarios.direct())]
    for env in later:  # an unrelated event an hour on moves the watermark past the window
        env.event.event_time += timedelta(hours=1)
    stitcher = Stitcher(StitchState(restitch=timedelta(minutes=15)))
    rows = labels([envelopes, later, later, *s.declarations], stitcher)
    call = by_action(rows, envelopes)["mcp crm.update_customer @01:15"]
    assert (call["label"], call["rule"]) == (vocab.AGENT_AUTONOMOUS, vocab.RULE_NO_INSTRUCTION)
    # Within the window the same late declaration re-labels it.
    rows = labels([envelopes, *s.declarations])
    call = by_action(rows, envelopes)["mcp crm.update_customer @01:15"]
    assert call["label"] == vocab.AGENT_DELEGATED


def test_relabelling_writes_only_what_changed() -> None:
    s = scenarios.delegated()
    *seen, last = parse(s)  # the API write comes last
    stitcher = Stitcher()
    assert len(stitcher.process(seen).attributions) == 3
    # A new action in a session whose context stays the same is labelled alone.
    again = stitcher.process([last])
    assert [r["action_id"] for r in again.attributions] == [last.event.event_id]
    declared = stitcher.declare(parse_declaration(s.declarations[0]))
    # The session now has the declared id: every row is rewritten, the agent actions with
    # a new label, the person's sign-in and grant with the same one.
    assert sorted(r["label"] for r in declared.attributions) == [
        vocab.AGENT_DELEGATED,
        vocab.AGENT_DELEGATED,
        vocab.DIRECT_USER,
        vocab.DIRECT_USER,
    ]
    assert {r["session_id"] for r in declared.attributions} == {"s-delegated"}
    assert stitcher.declare(parse_declaration(s.declarations[0])).attributions == []


def _agent_call(event_id: str, seconds: float, intent: str, source: str) -> Envelope:
    e = Event(
        event_id,
        "mcp",
        ev.TOOL_CALL,
        T0 + timedelta(seconds=seconds),
        "tools/call",
        f"mcp.jsonl:{seconds}",
        "{}",
        agent_name="support-agent",
        resource="crm.update_customer",
        outcome=ev.PENDING,
        intent=intent,
        keys=[(ev.KEY_TXN, "txn-1")],
        attributes={"intent_source": source},
    )
    return Envelope(e, T0, "b-1")


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_the_token_service_s_purpose_outranks_the_client_s_assertion(
    order: tuple[int, ...],
) -> None:
    calls = [
        _agent_call("c1", 1, "whatever the user said", "mcp_ai_invocation"),
        _agent_call("c2", 2, "update_shipping_address", "txn_token"),
        _agent_call("c3", 3, "something later", "mcp_ai_invocation"),
    ]
    stitcher = Stitcher()
    final: dict[str, dict[str, Any]] = {}
    for i in order:
        for row in stitcher.process([calls[i]]).attributions:
            final[row["action_id"]] = row
    [session] = stitcher.state.sessions.values()
    assert (session.intent, session.intent_source) == ("update_shipping_address", "txn_token")
    assert len(final) == len(calls)  # every call was labelled
    for row in final.values():
        assert row["label"] == vocab.AGENT_DELEGATED
        intent = next(e for e in orjson.loads(row["evidence"]) if e["fact"] == "intent")
        assert intent["source"] == "txn_token"


def test_a_role_session_a_person_was_issued_is_still_the_person_s() -> None:
    ctx = SessionContext("s-1", principal="olivia@acme.example", principal_type="SAMLUser")
    facts = _facts(
        principal="arn:aws:sts::209706995965:assumed-role/SalesOps/olivia@acme.example",
        principal_type="AssumedRole",
        link_key_type=ev.KEY_AWS_ACCESS_KEY,
        link_key="ASIAVHUV4F57FPBEKKLD",
    )
    result = at.attribute(facts, ctx)
    assert (result.label, result.origin_principal) == (vocab.DIRECT_USER, "olivia@acme.example")
    # Reached only through an IdP session id, the same call proves nothing about the key.
    unlinked = at.attribute(
        _facts(
            principal=facts.principal,
            principal_type="AssumedRole",
            link_key_type=ev.KEY_IDP_SESSION,
        ),
        ctx,
    )
    assert unlinked.label == vocab.UNATTRIBUTED


def test_an_agent_known_by_its_spiffe_id_is_named_as_the_session_knows_it() -> None:
    spiffe = "spiffe://acme.example/agents/support-agent/support-agent-7c9"
    ctx = SessionContext(
        "s-1",
        agent="support-agent (support-agent-7c9)",
        agent_ids=("support-agent-7c9", spiffe),
        intent=Intent("anything", "declared"),
        upstream=(ALICE,),
    )
    result = at.attribute(_facts(agent_instance=spiffe, actors=(spiffe,)), ctx)
    assert result.agent == "support-agent (support-agent-7c9)"
    said = next(e["detail"] for e in result.evidence if e["fact"] == "agent")
    assert spiffe in said and "which is support-agent (support-agent-7c9)" in said
