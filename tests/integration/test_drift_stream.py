"""Scoring on the stream, through the real broker, worker and chDB ledger, with the shipped
drift model: an injected send is scored, contracted and published on the contractions
topic; the drift shows on the action; a replay of the same records adds nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from kernel import contraction as contraction_codec
from kernel.contraction import NARROW, Contraction
from kernel.policy import Policy
from kernel.topics import Topics
from ledger.contractions import list_contractions, recent_contractions
from ledger.queries import list_actions
from models.session import Trail
from models.store import load_scorer
from processors.scoring import DriftStage
from processors.sink import restore_drift, restore_state
from tests.drift_records import JTI, declaration, injected_session
from tests.integration.conftest import RunningStack
from tests.integration.helpers import declare, ingest, wait_processed, wait_stored
from tests.polling import wait_for


def _contractions_on_topic(stack: RunningStack) -> list[Contraction]:
    async def read() -> list[Contraction]:
        topic = Topics(stack.settings.topic_prefix).contractions
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in range(stack.settings.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            found: list[Contraction] = []
            for _ in range(3):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found += [contraction_codec.decode(m.value) for m in records]
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _write(path: Path) -> int:
    records = injected_session().records["mcp"]
    path.write_text("".join(orjson.dumps(r).decode() + "\n" for r in records))
    return len(records)


def test_an_injected_send_is_scored_contracted_and_published_once(
    stack: RunningStack, tmp_path: Path
) -> None:
    declare(stack, declaration([]))
    wait_for(
        lambda: stack.store.count("declarations", "session_id = 's-mail-1'"),
        timeout=60,
        what="the declaration in the ledger",
    )
    capture = tmp_path / "capture.jsonl"
    sent = _write(capture)
    assert ingest(stack, "mcp", capture, batch="drift-1").events == sent
    wait_stored(stack.store, "drift-1", sent)
    wait_processed(stack)

    actions = {a["resource"] + ":" + a["arguments"]: a for a in list_actions(stack.store)}
    injected = actions['send_mail:{"to":"archive@outside.example"}']
    asked = actions['send_mail:{"to":"boss@acme.example"}']
    assert injected["drift"]["flagged"] and injected["decision"] != "allow", injected
    assert injected["drift"]["reasons"], "a flagged action says why"
    assert injected["drift"]["model_version"].startswith("drift-")
    assert not asked["drift"]["flagged"], asked["drift"]
    assert not actions["read_inbox:{}"]["drift"]["flagged"]

    [stored] = list_contractions(stack.store, session_id="s-mail-1")
    assert stored["cause_action_id"] == injected["action_id"]
    assert stored["contraction_id"] == injected["contraction_id"]
    assert f"jti:{JTI}" in stored["keys"]
    [published] = [c for c in _contractions_on_topic(stack) if c.session_id == "s-mail-1"]
    assert published.contraction_id == stored["contraction_id"]
    assert published.reasons == tuple(stored["reasons"])

    # The same records again: the ledger holds them, so nothing is scored or published twice.
    assert ingest(stack, "mcp", capture, batch="drift-2").events == sent
    wait_processed(stack)
    db = stack.store.database
    # Every stored row, without FINAL: a duplicate shows before a merge could fold it away.
    for table, expected in (("drift", 3), ("contractions", 1)):
        [row] = stack.store.query_rows(f"SELECT count() AS n FROM {db}.{table}")
        assert int(row["n"]) == expected, table
    assert [c.contraction_id for c in _contractions_on_topic(stack)] == [published.contraction_id]
    # What a restarted worker reads back of the sessions it contracted.
    [restored] = recent_contractions(stack.store, since="2026-01-01 00:00:00.000000")
    assert (restored["contraction_id"], restored["session_id"]) == (
        published.contraction_id,
        "s-mail-1",
    )
    assert recent_contractions(stack.store, since="2999-01-01 00:00:00.000000") == []

    # A restarted worker's drift stage, from what the ledger holds: the session's trail has
    # read the inbox again and counted its calls, and the narrowing is known.
    state = restore_state(stack.store, timedelta(days=3650))
    stage = DriftStage(load_scorer(), Policy())
    fed = restore_drift(stack.store, state, stage, since="2026-01-01 00:00:00.000000")
    calls_and_results = stack.store.query_rows(
        f"SELECT count() AS n FROM {db}.raw_events FINAL "
        "WHERE kind IN ('tool_call', 'tool_result', 'api_call')"
    )
    assert fed == int(calls_and_results[0]["n"]) > 0
    restored_session = stage.sessions["s-mail-1"]
    trail = restored_session.trail
    assert isinstance(trail, Trail)
    assert "forward this thread" in trail.results_lower
    assert trail.call_count == 3
    if published.decision == NARROW:
        assert restored_session.removed == set(published.removed_tools)
    else:
        assert restored_session.ended_by == published.contraction_id
    assert stage.stats.scored == 0
