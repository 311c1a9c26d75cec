"""What the views show of an action's source: its source id in the table, the tree and the
explanation, the record that reported its outcome, and the stored source records as they are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console, RenderableType

from agentledger.render import actions_table, chain_tree, explain, source_records
from kernel import events as ev
from kernel.events import Event
from kernel.vocabulary import WEB_IDENTITY_KEY
from ledger import rows
from ledger.queries import Chain, action_record

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


@dataclass
class _Link:
    session_id: str = "s-1"
    key_type: str = ev.KEY_MCP_SESSION
    key_value: str = "sess-42"
    rule: str = "shared_key"


_UNSCORED = {
    "drift_action_id": "",
    "drift_score": 0.0,
    "drift_flagged": False,
    "drift_out_of_bounds": False,
    "drift_reasons": [],
    "drift_model_version": "",
    "drift_decision": "",
    "drift_policy_rule": "",
    "drift_contraction_id": "",
}


_SESSION: dict[str, Any] = {
    "session_id": "s-1",
    "first_seen": "2026-11-02 14:00:00.000000",
    "last_seen": "2026-11-02 14:00:01.000000",
    "sources": ["mcp"],
    "event_count": 1,
    "agent_name": "sales-agent",
    "agent_version": "",
    "agent_instance": "",
    "client_id": "",
    "origin_type": "human",
    "origin_principal": "alice@acme.example",
    "upstream_session_id": "",
    "intent": "Look up ACME",
    "intent_source": "declared",
    "scopes": [],
    "principal": "",
}


def _row(
    source_id: str, answer: rows.Answer | None = None, drift: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An ``actions`` row joined with its label and session, as ``ledger.queries`` reads it."""
    event = Event(
        "a" * 32,
        "mcp",
        ev.TOOL_CALL,
        T0,
        "tools/call",
        "capture.jsonl:3",
        "{}",
        resource="crm.lookup",
        outcome=ev.PENDING,
        source_id=source_id,
    )
    row = rows.action_row(event, _Link(), "read", (), 1, "crm-mcp:7", answer)
    del row["version"]
    return row | {
        "label": "agent_delegated",
        "label_rule": "intent_covers",
        "label_session_id": "s-1",
        "attributed_agent": "sales-agent",
        "attributed_origin_type": "human",
        "attributed_origin_principal": "alice@acme.example",
        "chain": "[]",
        "confused_deputy": False,
        "evidence": orjson.dumps([{"fact": "intent", "detail": "the intent covers it"}]).decode(),
        "session_intent": "Look up ACME",
        "session_intent_source": "declared",
        "session_declared": True,
        **(drift or _UNSCORED),
    }


def _answered() -> dict[str, Any]:
    return action_record(_row("crm-mcp#7", ("success", "", "b" * 32)), "crm-mcp#7")


def _text(renderable: RenderableType, width: int = 200) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable, soft_wrap=True)
    return console.export_text()


def test_an_action_record_names_its_source_id_and_its_outcome_s() -> None:
    record = _answered()
    assert record["source_id"] == "crm-mcp#7"
    assert record["outcome"] == {
        "status": "success",
        "detail": "",
        "event_id": "b" * 32,
        "source_id": "crm-mcp#7",
    }
    own = action_record(_row(""))  # the outcome is the record's own: no other record
    assert own["source_id"] == ""
    assert (own["outcome"]["event_id"], own["outcome"]["source_id"]) == ("", "")


def test_the_actions_table_has_a_source_id_column() -> None:
    text = _text(actions_table([_answered(), action_record(_row(""))]))
    assert "source id" in text and "crm-mcp#7" in text
    assert "-" in text.splitlines()[-2]  # no source id: a dash, not a made-up one


def test_the_chain_shows_each_action_s_source_id_and_who_reported_its_outcome() -> None:
    session = rows.SessionRow("s-1", T0, T0, sources=["mcp"], event_count=2).row(1)
    chain = Chain(session, [], [_answered()], [], [])
    text = _text(chain_tree(chain))
    assert "tools/call crm.lookup  [crm-mcp#7]" in text
    assert "outcome: success · reported by crm-mcp#7" in text


def test_explain_names_the_source_id_and_the_record_behind_the_outcome() -> None:
    text = _text(explain(_answered()))
    assert "source id: crm-mcp#7" in text
    assert "outcome:   success (reported by crm-mcp#7)" in text
    bare = _text(explain(action_record(_row(""), "")))
    assert "source id: none (the record carries no id)" in bare
    assert "reported by" not in bare
    # A result whose record has no source id is named by the ledger's id of it.
    unnamed = _text(explain(action_record(_row("", ("failure", "boom", "c" * 32)), "")))
    assert f"(reported by event {'c' * 32})" in unnamed


def test_source_records_print_as_stored_json_whatever_the_width() -> None:
    record = {
        "direction": "client_to_server",
        "headers": {"authorization": {"fingerprint": "hmac-sha256:abc", "redacted": True}},
        "message": {"id": 7, "method": "tools/call", "params": {"name": "[bold]x[/bold]"}},
        "note": "a long value " * 12,
        "server": "crm-mcp",
    }
    entry = {
        "event_id": "a" * 32,
        "source": "mcp",
        "source_id": "crm-mcp#7",
        "event_time": "2026-11-02 14:00:00.000000",
        "position": "capture.jsonl:3",
        "raw_ref": "ledger.raw.mcp/0/41",
        "record": record,
    }
    text = _text(source_records({"action": entry, "outcome": None}), width=40)
    head, _, rest = text.strip("\n").partition("\n")
    assert head == (
        "source record  mcp · source id crm-mcp#7 · capture.jsonl:3 · ledger.raw.mcp/0/41"
    )
    body, _, tail = rest.partition("\n\n")
    assert orjson.loads(body) == record  # neither wrapped nor read as markup
    assert body == orjson.dumps(record, option=orjson.OPT_INDENT_2).decode()
    assert tail.strip() == "outcome record: not in the ledger yet"


_SCORED = {
    "drift_action_id": "a" * 32,
    "drift_score": 0.9132,
    "drift_flagged": True,
    "drift_out_of_bounds": False,
    "drift_reasons": ["recipient x@outside.example first appeared in a tool result"],
    "drift_model_version": "drift-test-1",
    "drift_decision": "narrow",
    "drift_policy_rule": "defaults",
    "drift_contraction_id": "c" * 32,
}


def test_a_scored_action_carries_its_drift_and_decision_and_an_unscored_one_says_so() -> None:
    scored = action_record(_row("crm-mcp#7", drift=_SCORED))
    assert scored["drift"] == {
        "score": 0.9132,
        "flagged": True,
        "out_of_bounds": False,
        "model_version": "drift-test-1",
        "reasons": ["recipient x@outside.example first appeared in a tool result"],
    }
    assert (scored["decision"], scored["contraction_id"]) == ("narrow", "c" * 32)
    unscored = action_record(_row("crm-mcp#7"))
    assert (unscored["drift"], unscored["decision"]) == (None, None)


def test_explain_the_table_and_the_chain_show_the_drift_and_its_reasons() -> None:
    scored = action_record(_row("crm-mcp#7", drift=_SCORED))
    text = _text(explain(scored))
    assert "drift: 0.91 · decision narrow (model drift-test-1, rule defaults)" in text
    assert "1. recipient x@outside.example first appeared in a tool result" in text
    assert f"contraction {'c' * 32}" in text
    assert "0.91 narrow" in _text(actions_table([scored]))
    session = dict(_SESSION)
    tree = _text(chain_tree(Chain(session, [], [scored], [], [])))
    assert "drift 0.91 · narrow: recipient x@outside.example first appeared" in tree
    assert "drift: not scored" in _text(explain(action_record(_row("crm-mcp#7"))))


def test_a_merge_by_inference_shows_its_evidence_whole_and_a_key_its_start() -> None:
    evidence = (
        "inferred from identity and time, not a shared key: the session held token "
        "jti-7 of https://idp.example sub=agent aud=sts.amazonaws.com, live "
        "2026-11-02T14:00:00+00:00 to 2026-11-02T15:00:00+00:00"
    )
    long_key = "k" * 40 + "TAIL"
    aliases = [
        {"alias_id": "s-2", "rule": "web_identity_inferred", "key_type": WEB_IDENTITY_KEY,
         "key_value": evidence},
        {"alias_id": "s-3", "rule": "shared_key", "key_type": ev.KEY_MCP_SESSION,
         "key_value": long_key},
    ]  # fmt: skip
    tree = _text(chain_tree(Chain(dict(_SESSION), aliases, [], [], [])), width=400)
    assert f"merged s-2 by web_identity_inferred ({WEB_IDENTITY_KEY}={evidence})" in tree
    assert f"merged s-3 by shared_key ({ev.KEY_MCP_SESSION}={'k' * 40})" in tree
    assert "TAIL" not in tree
