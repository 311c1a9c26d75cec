"""Waiting for ingested events by the workers' commits (``agentledger.ingest_wait.wait_held``,
what `agentledger demo` and `bench` wait with): a record repeated in the input is one event
to the ledger, skipped as held, and the wait still ends, where a count of the rows stored
would never reach the records sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentledger.ingest_wait import wait_held
from agentledger.ingesting import ingest_paths
from agentledger.sampledata import generate_sessions, write_files
from kernel.lag import SentRanges
from kernel.topics import Topics
from ledger.queries import stored_count
from tests.integration.conftest import RunningStack


def test_the_wait_ends_when_a_repeated_record_is_skipped(
    stack: RunningStack, tmp_path: Path
) -> None:
    files = write_files(generate_sessions(3, run_id="wait"), tmp_path / "samples")
    okta = files["okta"]
    lines = okta.read_text().splitlines()
    okta.write_text("\n".join([*lines, lines[0]]) + "\n")  # the first record, once more
    topics = Topics(stack.settings.topic_prefix)
    sent = SentRanges()
    report = asyncio.run(
        ingest_paths(stack.bootstrap, topics, "okta", [str(okta)], ingest_batch="wait", sent=sent)
    )
    assert report.accepted == len(lines) + 1 and report.rejected == 0

    asyncio.run(wait_held(stack.bootstrap, topics, sent, stack.settings, timeout=90))

    # Every event is held once the wait ends, the repeat as the event it repeats.
    assert stored_count(stack.store, "wait") == report.events - 1
