"""Attribution through the running stack: raw records and declarations in, labels out.

The same database write, done directly, on request and on an agent's own initiative,
plus a two-agent chain, are ingested as Okta, MCP and Envoy records through the broker and
the worker; one declaration arrives late, after the actions it covers are stored, and the
worker labels them again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from agentledger.render import explain
from kernel.declaration import parse_declaration
from ledger.chdb_store import ChdbStore
from ledger.queries import find_action, list_actions, session_chain
from ledger.session_list import list_sessions
from processors.sink import restore_state
from processors.stitch import Stitcher
from tests import scenarios
from tests.integration.conftest import RunningStack
from tests.integration.helpers import declare, ingest, wait_stored
from tests.polling import wait_for
from tests.scenarios import parse


def _labels(stack: RunningStack) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Label records keyed by (source, tool or operation, time)."""
    out = {}
    for action in list_actions(stack.store, limit=1000):
        what = action["resource"] if action["kind"] == "tool_call" else action["operation"]
        out[(action["source"], what, action["event_time"][14:19])] = action
    return out


def _wait_for(stack: RunningStack, key: tuple[str, str, str], label: str) -> dict[str, Any]:
    return wait_for(
        lambda: _labels(stack).get(key, {}),
        until=lambda found: bool(found) and found["attribution"]["label"] == label,
        timeout=60,
        interval=0.2,
        what=f"{key} labelled {label}",
    )


def test_the_three_scenarios_and_a_chain_from_raw_records(
    stack: RunningStack, tmp_path: Path
) -> None:
    items = scenarios.all_scenarios()
    late = next(s for s in items if s.name == "delegated")
    for scenario in items:
        if scenario is not late:
            for declaration in scenario.declarations:
                declare(stack, declaration)
    total = 0
    for source in ("okta", "mcp", "envoy"):
        path = tmp_path / f"{source}.jsonl"
        records = [r for s in items for r in s.records.get(source, [])]
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        report = ingest(stack, source, path, batch="scenarios")
        assert report.rejected == 0
        total += report.events
    wait_stored(stack.store, "scenarios", total)

    # Stored before its declaration: the agent's write is, so far, its own initiative.
    write = ("envoy", "PATCH /v1/customers/globex", "01:15")
    assert _wait_for(stack, write, "agent_autonomous")["attribution"]["rule"] == "no_instruction"
    declare(stack, late.declarations[0])
    delegated = _wait_for(stack, write, "agent_delegated")
    assert delegated["session"]["session_id"] == "s-delegated"
    assert delegated["origin"]["principal"] == "alice@acme.example"

    labels = _labels(stack)
    assert labels[("envoy", "PATCH /v1/customers/globex", "00:41")]["attribution"]["label"] == (
        "direct_user"
    )
    assert labels[("envoy", "PATCH /v1/customers/globex", "02:20")]["attribution"]["label"] == (
        "agent_autonomous"
    )
    worker_write = labels[("envoy", "PATCH /v1/customers/globex", "03:15")]
    assert worker_write["attribution"]["label"] == "agent_delegated"
    assert [(h["kind"], h["id"]) for h in worker_write["origin"]["chain"]][-1] == (
        "human",
        "bob@acme.example",
    )
    deleted = labels[("envoy", "DELETE /v1/customers/globex", "03:20")]
    assert deleted["attribution"]["confused_deputy"] is True

    # Filters, and the words an analyst reads.
    autonomous = list_actions(stack.store, label="agent_autonomous")
    assert {a["action_id"] for a in autonomous} == {
        a["action_id"] for a in labels.values() if a["attribution"]["label"] == "agent_autonomous"
    }
    in_session = list_actions(stack.store, session_id="s-delegated")
    assert {a["source"] for a in in_session} == {"okta", "mcp", "envoy"}
    record = find_action(stack.store, delegated["action_id"][:10])
    assert record["action_id"] == delegated["action_id"]
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(explain(record))
    words = console.export_text()
    assert "agent_delegated" in words and "an agent doing what it was asked" in words
    assert "Update the shipping address of customer globex" in words

    sessions = {s["session_id"]: s for s in list_sessions(stack.store)}
    assert int(sessions["s-autonomous"]["autonomous_actions"]) == 2
    assert int(sessions["s-chain-worker"]["confused_deputy_actions"]) == 2
    assert int(sessions["s-delegated"]["autonomous_actions"]) == 0

    chain = session_chain(stack.store, "s-chain-worker")
    assert [h["session_id"] for h in chain.upstream] == ["s-chain-orchestrator"]
    assert chain.upstream[0]["origin_principal"] == "bob@acme.example"


def test_a_restarted_worker_still_relabels_the_actions_within_the_window(
    chdb_ledger: ChdbStore,
) -> None:
    """The open actions come back from the ledger: a declaration that arrives after a
    restart labels them again, and a restart alone writes nothing."""
    store = chdb_ledger.with_database(f"t_{uuid.uuid4().hex[:10]}")
    store.ensure_schema()
    scenario = scenarios.delegated()
    before = Stitcher()
    for table, rows in before.process(parse(scenario)).tables():
        store.insert_rows(table, rows)

    after = Stitcher(restore_state(store, timedelta(minutes=30), timedelta(minutes=15)))
    assert len(after.state.facts) == 4
    output = after.declare(parse_declaration(scenario.declarations[0]))
    for table, rows in output.tables():
        store.insert_rows(table, rows)
    labels = {a["operation"]: a["attribution"]["label"] for a in list_actions(store)}
    assert labels == {
        "user.session.start": "direct_user",
        "app.oauth2.as.token.grant.access_token": "direct_user",
        "tools/call": "agent_delegated",
        "PATCH /v1/customers/globex": "agent_delegated",
    }
    # Restored again, nothing differs from what the ledger holds: nothing to write.
    again = Stitcher(restore_state(store, timedelta(minutes=30), timedelta(minutes=15)))
    assert again.declare(parse_declaration(scenario.declarations[0])).attributions == []
