"""Ingest files or stdin into a running ledger: the body of ``agentledger ingest``."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from ingest.framing import frame_lines
from ingest.pipeline import IngestReport, ingest_stream
from ingest.registry import get_source
from kernel.config import Settings
from kernel.kafka import BatchSender
from kernel.kafka import producer as make_producer
from kernel.topics import Topics


def new_batch_id(prefix: str = "ingest") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def ingest_paths(
    bootstrap: str,
    topics: Topics,
    source_name: str,
    paths: Iterable[str],
    *,
    ingest_batch: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> IngestReport:
    """Read each path (``-`` is stdin) as ``source_name`` records and produce them.

    The process must have its fingerprint key set (``client.use_fingerprint_key``);
    ``settings`` carry a Kafka cluster's SASL/TLS options.
    """
    source = get_source(source_name)
    batch = ingest_batch or new_batch_id()
    report = IngestReport()
    producer = make_producer(bootstrap, settings)
    await producer.start()
    sender = BatchSender(producer)
    try:
        for path in paths:
            if path == "-":
                items = frame_lines(source, sys.stdin, "stdin")
                await ingest_stream(
                    sender,
                    topics,
                    source,
                    items,
                    ingest_batch=batch,
                    report=report,
                    on_progress=on_progress,
                )
                continue
            with Path(path).open(encoding="utf-8", errors="replace") as handle:
                items = frame_lines(source, handle, path)
                await ingest_stream(
                    sender,
                    topics,
                    source,
                    items,
                    ingest_batch=batch,
                    report=report,
                    on_progress=on_progress,
                )
        await producer.flush()
    finally:
        await producer.stop()
    return report
