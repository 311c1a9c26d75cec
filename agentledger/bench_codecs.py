"""What each record-batch codec costs: ``agentledger bench --codecs``.

The run's generated records are parsed and encoded as ingest produces them (each raw record,
and each event as Avro), then, for every codec ``AGENTLEDGER_KAFKA_COMPRESSION`` offers,
packed into record batches by the project's own producer (``kernel.kafka.producer``: its
batch size, the codec's level as aiokafka sets it) and read back out of those batches as a
consumer does. Both are CPU seconds in this process, the least of ``REPEAT`` runs; no broker
is involved, so the figures are the codec's alone, apart from the machine's other work.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, get_args

from ingest.framing import frame_lines
from ingest.pipeline import IngestReport, Parsed, parse_all
from ingest.registry import get_source
from kernel import codec
from kernel.config import Settings
from kernel.events import now_utc
from kernel.kafka import producer
from kernel.tokens import use_fingerprint_key

REPEAT = 3
CODECS: tuple[str, ...] = get_args(Settings.model_fields["kafka_compression"].annotation)


def parsed_records(files: Iterable[tuple[str, Path]]) -> Iterator[tuple[str, Parsed]]:
    """The records in ``files`` (``(source, path)`` of JSON lines) parsed as ingest parses
    them, in order, with their source's name; records that do not parse are left out."""
    for name, path in files:
        source = get_source(name)
        lines = path.read_text().split("\n")
        report = IngestReport()
        for item in parse_all(source, frame_lines(source, lines, str(path)), report):
            if isinstance(item, Parsed):
                yield name, item


def produced_values(files: Iterable[tuple[str, Path]]) -> list[bytes]:
    """What ingest sends for the records in ``files``: each raw record, then its events as
    Avro, in order."""
    values: list[bytes] = []
    encode = codec.EventEncoder(now_utc(), "bench-codecs").encode
    for name, item in parsed_records(files):
        values.append(item.framed.raw.encode())
        ref = (f"ledger.raw.{name}", 0, len(values))
        values.extend(encode(event, ref) for event in item.events)
    return values


def build_batches(values: list[bytes], compression: str) -> list[bytes]:
    """``values`` in record batches as the project's producer builds them."""

    async def build() -> list[bytes]:
        settings = Settings.model_validate({"kafka_compression": compression})
        made = producer("127.0.0.1:1", settings)  # never started: only its batch builder
        try:
            batches: list[bytes] = []
            batch = made.create_batch()
            for value in values:
                if batch.append(key=None, value=value, timestamp=None, headers=[]) is None:
                    batches.append(bytes(batch._build()))
                    batch = made.create_batch()
                    if batch.append(key=None, value=value, timestamp=None, headers=[]) is None:
                        raise ValueError(f"a record of {len(value):,} bytes fits no batch")
            if batch.record_count():
                batches.append(bytes(batch._build()))
            return batches
        finally:
            await made.stop()  # it never connected: this only marks it closed

    return asyncio.run(build())


def read_batches(batches: list[bytes]) -> int:
    """The records in ``batches``, read as a consumer reads them (decompressed)."""
    from aiokafka.record.memory_records import MemoryRecords

    records = 0
    for data in batches:
        memory = MemoryRecords(data)
        while (batch := memory.next_batch()) is not None:
            for record in batch:
                records += record.value is not None
    return records


def _least_cpu(work: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(REPEAT):
        began = time.process_time()
        result = work()
        best = min(best, time.process_time() - began)
    return best, result


def codec_figures(values: list[bytes], codecs: Iterable[str] = CODECS) -> dict[str, Any]:
    """Per codec: CPU seconds to build the batches and to read them back, bytes sent."""
    if not values:
        raise ValueError("no records to measure the codecs on")
    plain = sum(map(len, values))
    figures: dict[str, Any] = {}
    for compression in codecs:
        produce_s, batches = _least_cpu(partial(build_batches, values, compression))
        read_s, records = _least_cpu(partial(read_batches, batches))
        if records != len(values):
            raise RuntimeError(f"{compression}: {records} records read of {len(values)} sent")
        sent = sum(map(len, batches))
        figures[compression] = {
            "produce_cpu_s": round(produce_s, 3),
            "read_cpu_s": round(read_s, 3),
            "bytes": sent,
            "ratio": round(plain / sent, 2),
        }
    return {"messages": len(values), "bytes_uncompressed": plain, "codecs": figures}


def run_codec_bench(events: int) -> dict[str, Any]:
    """Generate ``events`` records' worth of traffic and time every codec on it."""
    from agentledger.bench import spool_by_source

    # Parsing fingerprints tokens: with a key of this run's own, as nothing it makes is kept.
    use_fingerprint_key(secrets.token_bytes(32))
    with tempfile.TemporaryDirectory(prefix="agentledger-codecs-") as directory:
        values = produced_values(spool_by_source(events, "codecs", Path(directory)))
    return {"events": events, **codec_figures(values)}
