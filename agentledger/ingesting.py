"""``agentledger ingest``: read inputs (``ingest.files``) into a running ledger, with a
progress bar on a terminal."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import TYPE_CHECKING

from ingest.files import IngestProgress, InputFile, collect_inputs, frame_input
from ingest.pipeline import IngestReport, ingest_stream
from ingest.registry import get_source
from kernel.config import Settings
from kernel.kafka import BatchSender
from kernel.kafka import producer as make_producer
from kernel.lag import SentRanges
from kernel.topics import Topics

if TYPE_CHECKING:
    from rich.console import Console


def new_batch_id(prefix: str = "ingest") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def ingest_inputs(
    bootstrap: str,
    topics: Topics,
    source_name: str,
    inputs: Sequence[InputFile],
    *,
    ingest_batch: str | None = None,
    progress: IngestProgress | None = None,
    settings: Settings | None = None,
    report: IngestReport | None = None,
    sent: SentRanges | None = None,
) -> IngestReport:
    """Read ``inputs`` (from ``collect_inputs``) as ``source_name`` records and produce them,
    as one stream: records of many small files share their batches to the broker.

    The process must have its fingerprint key set (``client.use_fingerprint_key``);
    ``settings`` carry a Kafka cluster's SASL/TLS options. ``report`` and ``sent`` (where
    each batch the broker took went) are filled as the records go, so a caller that stops
    this half-way still knows what the broker holds.
    """
    source = get_source(source_name)
    report = report if report is not None else IngestReport()
    producer = make_producer(bootstrap, settings)
    await producer.start()
    try:
        await ingest_stream(
            BatchSender(producer, sent),
            topics,
            source,
            chain.from_iterable(frame_input(source, item, progress) for item in inputs),
            ingest_batch=ingest_batch or new_batch_id(),
            report=report,
            on_progress=progress.records_sent if progress is not None else None,
        )
        await producer.flush()
    finally:
        await producer.stop()
    return report


class _RecordsOnly:
    """Progress for callers that count records only."""

    def __init__(self, on_records: Callable[[int], None]) -> None:
        self._on_records = on_records

    def records_sent(self, count: int) -> None:
        self._on_records(count)

    def file_started(self, item: InputFile) -> None:
        pass

    def bytes_read(self, count: int) -> None:
        pass


async def ingest_paths(
    bootstrap: str,
    topics: Topics,
    source_name: str,
    paths: Iterable[str],
    *,
    ingest_batch: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
    sent: SentRanges | None = None,
) -> IngestReport:
    """Read each path (a file, a directory, ``-`` for stdin) as ``source_name`` records and
    produce them; ``on_progress`` is told how many records were sent, ``sent`` where each
    record batch went."""
    return await ingest_inputs(
        bootstrap,
        topics,
        source_name,
        collect_inputs(paths),
        ingest_batch=ingest_batch,
        progress=_RecordsOnly(on_progress) if on_progress is not None else None,
        settings=settings,
        sent=sent,
    )


class ProgressBar:
    """A rich progress bar over the inputs' bytes on disk, with files and records counted;
    for a terminal (the command line shows none with ``--json`` or when stderr is no TTY)."""

    def __init__(self, console: Console, inputs: Sequence[InputFile]) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        sizes = [item.size for item in inputs]
        total = None if None in sizes else sum(s or 0 for s in sizes)
        self._files = len(inputs)
        self._progress = Progress(
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[done]}/{task.fields[files]} files"),
            TextColumn("{task.fields[records]:,} records"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[name]}", style="dim", markup=False),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(
            "ingest", total=total, done=0, files=len(inputs), records=0, name=""
        )
        self._done = -1
        self._records = 0

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def file_started(self, item: InputFile) -> None:
        self._done += 1
        self._progress.update(self._task, done=self._done, name=item.name[-60:])

    def bytes_read(self, count: int) -> None:
        self._progress.advance(self._task, count)

    def records_sent(self, count: int) -> None:
        self._records += count
        self._progress.update(self._task, records=self._records)
