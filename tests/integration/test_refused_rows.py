"""Rows the ledger refuses: after a few retries they go to the dead-letter topic with the
ledger's error, the rest of their batch is written, and the stream goes on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import orjson

from kernel.topics import Topics
from tests.integration.conftest import RunningStack
from tests.integration.helpers import ingest, wait_processed, wait_stored
from tests.polling import wait_for
from tests.scenarios import mcp_call, token

POISON = "poison-tool"


def _calls(path: Path, tools: list[str], first_id: int, t0: float) -> Path:
    """An MCP capture: one tools/call and its result for each tool, in one agent session."""
    bearer = token("alice@acme.example", "0oaAgent", f"jti-{first_id}", "crm.read", t0)
    records: list[dict[str, Any]] = []
    for n, tool in enumerate(tools):
        records += mcp_call(bearer, "crm-agent", "1.0", first_id + n, tool, {"n": n}, t0 + n)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


async def _dead_letters(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Everything on the dead-letter topic so far."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=2_000)
        return [orjson.loads(m.value) for records in batch.values() for m in records]
    finally:
        await consumer.stop()


def test_a_refused_row_is_dead_lettered_and_the_rest_written(
    stack: RunningStack, tmp_path: Path
) -> None:
    store = stack.store
    db = store.database
    # A rule the engine enforces on every insert, as an operator might add one.
    store.command(f"ALTER TABLE {db}.actions ADD CONSTRAINT poison CHECK resource != '{POISON}'")

    tools = ["crm.get_customer", "crm.list_orders", POISON, "crm.get_order", "crm.close_case"]
    sent = ingest(stack, "mcp", _calls(tmp_path / "a.jsonl", tools, 100, 0), batch="a").events
    assert sent == 2 * len(tools)
    wait_stored(store, "a", sent)  # every raw event, the poisoned call's too

    actions = store.query_rows(f"SELECT resource FROM {db}.actions FINAL WHERE kind = 'tool_call'")
    assert sorted(a["resource"] for a in actions) == sorted(t for t in tools if t != POISON)

    topics = Topics(stack.settings.topic_prefix)
    letters = wait_for(
        lambda: asyncio.run(_dead_letters(stack.bootstrap, topics.dlq)),
        until=lambda found: any(e.get("table") == "actions" for e in found),
        timeout=60,
        what="the refused action on the dead-letter topic",
    )
    [letter] = [e for e in letters if e.get("table") == "actions"]
    assert "VIOLATED_CONSTRAINT" in letter["reason"]
    assert "poison" in letter["reason"]
    refused = orjson.loads(letter["record"])
    assert refused["resource"] == POISON
    assert letter["event_id"] == refused["action_id"]
    assert letter["position"].startswith(f"{topics.events}/")
    [held] = store.query_rows(
        f"SELECT raw FROM {db}.raw_events WHERE event_id = {{id:String}}",
        {"id": letter["event_id"]},
    )
    assert POISON in held["raw"]

    # The stream goes on: the batch was committed, and later events are written.
    later = ["crm.get_invoice", "crm.update_case"]
    more = ingest(stack, "mcp", _calls(tmp_path / "b.jsonl", later, 200, 60), batch="b").events
    wait_stored(store, "b", more)
    wait_processed(stack)
    assert store.count("actions", "kind = 'tool_call'") == len(tools) - 1 + len(later)
