"""Rows the ledger refuses: after a few retries they go to the dead-letter topic with the
ledger's error, the rest of their batch is written, and the stream goes on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import orjson

from kernel.topics import Topics
from ledger.chdb_store import ChdbStore
from processors.verify import DELETED, verify
from tests.integration.conftest import RunningStack, make_settings
from tests.integration.helpers import evidence_keys, ingest, wait_processed, wait_stored
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
    assert letter["position"].startswith(f"{topics.calls}/")  # MCP: the tool traffic lane
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


def test_a_refused_raw_event_keeps_its_place_in_the_chain_through_its_dead_letter(
    tmp_path: Path, chdb_ledger: ChdbStore
) -> None:
    settings = make_settings(tmp_path, digest_interval_s=0.5)
    running = RunningStack(settings, chdb_ledger.with_database(settings.database))
    running.start()
    try:
        store = running.store
        db = store.database
        store.command(
            f"ALTER TABLE {db}.raw_events ADD CONSTRAINT poison CHECK raw NOT LIKE '%{POISON}%'"
        )
        tools = ["crm.get_customer", POISON, "crm.get_order"]
        sent = ingest(running, "mcp", _calls(tmp_path / "a.jsonl", tools, 100, 0), batch="a").events
        wait_stored(store, "a", sent - 1)  # all but the poisoned call
        later = ingest(
            running, "mcp", _calls(tmp_path / "b.jsonl", ["crm.close_case"], 200, 60), batch="b"
        ).events
        wait_stored(store, "b", later)
        wait_processed(running)
        [letter] = wait_for(
            lambda: store.query_rows(
                f"SELECT dead_letter_id, reason, chain_stream, chain_seq FROM {db}.dead_letters "
                "WHERE chain_stream != ''"
            ),
            until=lambda rows: len(rows) == 1,
            timeout=60,
            what="the refused raw event's dead letter in the ledger",
        )
        assert "VIOLATED_CONSTRAINT" in letter["reason"]
        # The chain goes on after it, and a digest covers its position.
        wait_for(
            lambda: store.query_rows(
                f"SELECT max(last_seq) AS last FROM {db}.evidence_digests "
                "WHERE stream = {s:String}",
                {"s": letter["chain_stream"]},
            )[0]["last"],
            until=lambda last: int(last) > int(letter["chain_seq"]),
            timeout=30,
            what="a digest past the refused event's position",
        )
        report = verify(store, evidence_keys(running))
        assert report.ok, report.as_json()
        [check] = [s for s in report.streams if s.stream == letter["chain_stream"]]
        assert [r["dead_letter_id"] for r in check.refused] == [letter["dead_letter_id"]]
        assert check.refused[0]["position"] == int(letter["chain_seq"])

        # Its dead letter is what keeps the place: without it, the record is missing.
        store.command(
            f"ALTER TABLE {db}.dead_letters DELETE WHERE dead_letter_id = "
            f"'{letter['dead_letter_id']}' SETTINGS mutations_sync = 2"
        )
        missing = verify(store, evidence_keys(running))
        assert not missing.ok
        assert (missing.problems[0].kind, missing.problems[0].position) == (
            DELETED,
            int(letter["chain_seq"]),
        )
    finally:
        running.stop()
