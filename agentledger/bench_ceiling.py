"""The machine's ceiling for ``agentledger bench``: how fast this machine moves the run's
events through the two steps no pipeline can skip, with nothing else done to them.

* **Bare consume**: an aiokafka consumer reads the run's messages on ``<prefix>.events``
  from the broker, in ``getmany`` batches as the worker reads them, and decodes nothing.
* **Bare insert**: the rows the run left in the ledger, read back, are inserted into a
  scratch database of the same ledger through the same interface the workers write
  through, in writes of the size a worker makes under load (``WRITE_MIN_EVENTS`` events'
  rows, one Arrow batch per table each); the run's own data stays as it was. One insert
  per table of all 200,000 events' rows took the engine 3.6-13.7 s for ``raw_events``
  alone, mostly memory it had to map anew, against 2 s in writes of 10,000: it measured
  an insert no worker makes.

Each step's rate is events a second (the insert's: the run's events over the time to insert
all their rows). A worker does both for every event, so on one core the best it could do is
``1 / (1/consume + 1/insert)``: the two times per event added. That is the ceiling reported,
and the end-to-end figure is given as a share of it. ``min(consume, insert)`` is given too:
the bound if the two overlapped perfectly on cores of their own (the worker does write a
batch while it reads the next, but the broker, the ledger and ingest share the same cores).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

from kernel.config import Settings
from kernel.errors import ConfigError, StackError
from kernel.kafka import batch_consumer, security_options
from ledger.columns import conform
from ledger.factory import open_store
from ledger.queries import batch_rows_arrow
from ledger.schema import TABLES
from ledger.store import LedgerStore
from processors.sink_loop import WRITE_MIN_EVENTS

FORMULA = "1 / (1/consume + 1/insert)"
# A bare read that gets no record for this long has lost the broker.
STALL_S = 30.0


@dataclass(frozen=True, slots=True)
class Ceiling:
    """What the two bare steps took for one run's events."""

    events: int  # the run's events (the insert's rows are theirs)
    topics: list[str]  # the topics the bare consume read
    consumed: int  # messages the bare consume read
    consume_seconds: float
    inserted_rows: dict[str, int]
    insert_seconds: float
    insert_seconds_by_table: dict[str, float]  # each table's inserts, ``write_count`` each


def ceiling_figures(ceiling: Ceiling, end_to_end_events_per_s: float) -> dict[str, Any]:
    """The rates of the two steps, the ceiling they make and the end-to-end share of it."""
    consume = ceiling.consumed / ceiling.consume_seconds
    insert = ceiling.events / ceiling.insert_seconds
    serial = 1 / (1 / consume + 1 / insert)
    return {
        "consume_events_per_s": round(consume, 1),
        "consume_seconds": round(ceiling.consume_seconds, 3),
        "consumed": ceiling.consumed,
        "topics": ceiling.topics,
        "insert_events_per_s": round(insert, 1),
        "insert_seconds": round(ceiling.insert_seconds, 3),
        "inserted_rows": dict(sorted(ceiling.inserted_rows.items())),
        "insert_writes": write_count(ceiling.events),
        "insert_seconds_by_table": {
            table: round(seconds, 3)
            for table, seconds in sorted(ceiling.insert_seconds_by_table.items())
        },
        "events_per_s": round(serial, 1),
        "formula": FORMULA,
        "overlapped_events_per_s": round(min(consume, insert), 1),
        "share": round(end_to_end_events_per_s / serial, 4),
    }


def ceiling_lines(figures: dict[str, Any], end_to_end_events_per_s: float) -> list[str]:
    """The figures as a person reads them (``agentledger bench`` without ``--json``)."""
    rows = figures["inserted_rows"]
    by_table = figures["insert_seconds_by_table"]
    slowest = max(by_table, key=by_table.__getitem__, default=None)
    return [
        f"bare consume {figures['consume_events_per_s']:>9,.0f} events/s  "
        f"{figures['consumed']:,} messages of {', '.join(figures['topics'])} "
        f"in {figures['consume_seconds']} s",
        f"bare insert  {figures['insert_events_per_s']:>9,.0f} events/s  "
        f"{sum(rows.values()):,} rows, {len(rows)} tables, {figures['insert_writes']} writes, "
        f"in {figures['insert_seconds']} s"
        + (f" ({slowest} {by_table[slowest]} s)" if slowest else ""),
        f"ceiling      {figures['events_per_s']:>9,.0f} events/s  {FORMULA}",
        f"overlapped   {figures['overlapped_events_per_s']:>9,.0f} events/s  min(consume, insert)",
        f"end to end   {end_to_end_events_per_s:>9,.0f} events/s  "
        f"{figures['share']:.1%} of the ceiling",
    ]


async def bare_consume(
    bootstrap: str,
    ranges: dict[tuple[str, int], tuple[int, int]],
    settings: Settings,
) -> tuple[int, float]:
    """Read offsets ``[start, end)`` of each ``(topic, partition)`` as the worker reads
    (``getmany`` batches of ``batch_max``), decoding nothing; messages read, and seconds."""
    from aiokafka import TopicPartition

    wanted = {TopicPartition(*where): span for where, span in ranges.items() if span[1] > span[0]}
    if not wanted:
        return 0, 0.0
    consumer = batch_consumer(
        bootstrap,
        None,
        security=security_options(settings),
        fetch_max_wait_ms=settings.fetch_wait_ms,
    )
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        for tp, (start, _) in wanted.items():
            consumer.seek(tp, start)
        left = {tp: end for tp, (_, end) in wanted.items()}
        read = 0
        started = time.perf_counter()
        last_read = started
        while left:
            batch = await consumer.getmany(
                timeout_ms=settings.batch_wait_ms, max_records=settings.batch_max
            )
            for tp, records in batch.items():
                end = left.get(tp)
                if end is None:
                    continue
                read += sum(1 for record in records if record.offset < end)
                if records[-1].offset + 1 >= end:
                    del left[tp]
                    consumer.pause(tp)
            now = time.perf_counter()
            if batch:
                last_read = now
            elif now - last_read > STALL_S:
                raise StackError(f"the bare read got nothing for {STALL_S:.0f}s")
        return read, time.perf_counter() - started
    finally:
        await consumer.stop()


def require_writer(settings: Settings) -> None:
    """Fail unless the settings can write to the ledger: a ClickHouse server's URL, or the
    embedded ledger's writer password."""
    if not settings.clickhouse_url and settings.writer_password is None:
        raise ConfigError(
            "the insert ceiling writes a scratch database, which needs the running ledger's "
            "writer password: set AGENTLEDGER_WRITER_PASSWORD to it, or pass --no-ceiling"
        )


def writer_store(settings: Settings, sql_url: str, database: str) -> LedgerStore:
    """The ledger at ``sql_url`` as its writer, in ``database``: a ClickHouse server's URL
    from the settings, or the embedded ledger's interface with its writer password."""
    require_writer(settings)
    if settings.clickhouse_url:
        return open_store(url=settings.clickhouse_url, database=database)
    from ledger.http_front import WRITER

    assert settings.writer_password is not None
    return open_store(
        url=sql_url,
        database=database,
        username=WRITER,
        password=settings.writer_password.get_secret_value(),
    )


def write_count(events: int, write_events: int = WRITE_MIN_EVENTS) -> int:
    """Writes a worker under load splits ``events`` into: as many as it takes to hold at
    most ``write_events`` each, and at least one."""
    return max(1, math.ceil(events / write_events))


def write_slices(rows: int, writes: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of each write's share of ``rows`` rows: ``writes`` shares at
    most, in order, each row in one of them, none empty."""
    share = max(1, math.ceil(rows / writes))
    return [(offset, min(share, rows - offset)) for offset in range(0, rows, share)][:writes]


def bare_insert(
    reader: LedgerStore, writer: LedgerStore, ingest_batch: str, writes: int
) -> tuple[dict[str, int], float, dict[str, float]]:
    """Insert the rows ``ingest_batch`` left in ``reader``'s tables into ``writer``'s
    (a scratch database, schema made here) in ``writes`` writes, each an Arrow batch of
    every table's next share of its rows, timing the inserts alone; rows inserted per
    table, the seconds in all, and the seconds per table."""
    writer.ensure_schema()
    batches = []
    for table in TABLES:
        data = batch_rows_arrow(reader, table, ingest_batch)
        if data is not None:
            batches.append((table, conform(table, data)))
    by_table = dict.fromkeys((table for table, _ in batches), 0.0)
    started = time.perf_counter()
    slices = [(table, data, write_slices(data.num_rows, writes)) for table, data in batches]
    for write in range(writes):
        for table, data, shares in slices:
            if write >= len(shares):
                continue
            begun = time.perf_counter()
            writer.insert_arrow(table, data.slice(*shares[write]))
            by_table[table] += time.perf_counter() - begun
    seconds = time.perf_counter() - started
    return {table: data.num_rows for table, data in batches}, seconds, by_table


async def measure_ceiling(
    settings: Settings,
    *,
    bootstrap: str,
    ranges: dict[tuple[str, int], tuple[int, int]],
    events: int,
    reader: LedgerStore,
    sql_url: str,
    ingest_batch: str,
) -> Ceiling:
    """Both bare steps for one run, one after the other, with nothing else running."""
    consumed, consume_seconds = await bare_consume(bootstrap, ranges, settings)
    scratch = f"{reader.database}_ceiling_{ingest_batch.replace('-', '_')}"
    writer = writer_store(settings, sql_url, scratch)
    try:
        rows, insert_seconds, by_table = await asyncio.to_thread(
            bare_insert, reader, writer, ingest_batch, write_count(events)
        )
    finally:
        try:
            writer.command(f"DROP DATABASE IF EXISTS {scratch}")
        finally:
            writer.close()
    topics = sorted({topic for (topic, _), (start, end) in ranges.items() if end > start})
    return Ceiling(events, topics, consumed, consume_seconds, rows, insert_seconds, by_table)
