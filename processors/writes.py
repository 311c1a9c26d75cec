"""A batch's ledger write, and what becomes of rows the ledger refuses.

Two kinds of failure look alike from the sink and need opposite answers:

- an outage (the ledger unreachable, a timeout, TOO_MANY_PARTS, MEMORY_LIMIT_EXCEEDED, a 5xx
  without a data error): the rows are good, so the write waits for the ledger for as long as
  it takes; the pipeline pauses and the batch's offsets stay uncommitted;
- a refusal (``kernel.errors.RefusedError``, decided in ``ledger.store``: the engine judged
  the rows themselves, a violated constraint, a value it cannot parse or store): sending the
  same rows again cannot help. After ``REFUSAL_RETRIES`` short retries the write is split,
  table by table in the usual order (``raw_events`` last), each refused set of rows halved
  until the rows the ledger refuses stand alone; those go to the dead-letter topic with the
  ledger's error, and the rest of the batch is written and committed.

A ``LedgerWrite`` is resumable: a table the ledger took, or the part of a table already
written while splitting it, is not sent again when the write is retried after an outage, so
a retry never stores a raw event twice. The insert that was under way when the ledger went
away may have reached it all the same (the answer was lost, not the rows): its raw events
are sent again only if the ledger does not hold them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from ingest.deadletter import dead_letter
from kernel.errors import RecordError, RefusedError, StoreError
from kernel.evidence import CHAIN_FIELDS, RECORD_FIELDS
from ledger.rows import Row
from ledger.store import LedgerStore

log = logging.getLogger(__name__)

REFUSAL_RETRIES = 3  # retries of a refused write, whole, before it is split
REFUSAL_BACKOFF_S = 0.2  # times the retry's number: 0.2 s, 0.4 s, 0.6 s
OUTAGE_FIRST_DELAY_S = 0.5  # doubled after each failed try, up to OUTAGE_MAX_DELAY_S
OUTAGE_MAX_DELAY_S = 30.0
# The column that names a refused row, by table, for its dead letter (the first found).
_ROW_IDS = ("event_id", "action_id", "contraction_id", "credential_id", "alias_id", "session_id")
_EVENT_IDS = ("event_id", "action_id", "cause_action_id")
T = TypeVar("T")


@dataclass(slots=True)
class Refused:
    """A row the ledger refused on its own, and the ledger's reason."""

    table: str
    row: Row
    reason: str
    code: int | None = None
    name: str | None = None


@dataclass(slots=True)
class LedgerWrite:
    """One write's rows, table by table in order, resumable across retries."""

    tables: Sequence[tuple[str, Sequence[Row]]]
    # A table's rows as Arrow columns built beforehand (``processors.sink_parts.Pending``),
    # sent instead of converting the rows, unless the rows are split or filtered.
    prebuilt: Mapping[str, Any] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)
    taken: int = 0  # tables the ledger holds
    # While a table is split: its rows not written yet, as chunks in order.
    _chunks: list[Sequence[Row]] | None = None
    # The last insert got no answer: the ledger may hold its rows all the same.
    _unanswered: bool = False

    def attempt(self, store: LedgerStore, *, split: bool) -> None:
        """Insert what the ledger does not hold yet. Raises ``StoreError`` on an outage,
        and ``RefusedError`` on a refusal unless ``split`` (the refused rows are then set
        aside in ``refused`` and the rest written)."""
        while self.taken < len(self.tables):
            table, rows = self.tables[self.taken]
            if rows:
                if split or self._chunks is not None:
                    self._split_insert(store, table, rows)
                else:
                    self._insert(store, table, rows, self.prebuilt.get(table))
            self.taken += 1
            self._chunks = None

    def _split_insert(self, store: LedgerStore, table: str, rows: Sequence[Row]) -> None:
        """Insert ``rows``, halving each refused chunk until the refused rows stand alone.
        A chunk the ledger takes is dropped from the list at once: an outage midway leaves
        only what is still to write for the next attempt."""
        if self._chunks is None:
            self._chunks = [rows]
        chunks = self._chunks
        while chunks:
            chunk = chunks[0]
            try:
                self._insert(store, table, chunk)
            except RefusedError as exc:
                if len(chunk) > 1:
                    half = len(chunk) // 2
                    chunks[0:1] = [chunk[:half], chunk[half:]]
                    continue
                self._set_aside(Refused(table, dict(chunk[0]), str(exc), exc.code, exc.name))
                log.warning(
                    "the ledger refused a row of %s (%s), %s: it goes to the dead-letter topic",
                    table,
                    exc.name,
                    row_id(chunk[0]),
                )
            del chunks[0]

    def _insert(
        self, store: LedgerStore, table: str, rows: Sequence[Row], columns: Any = None
    ) -> None:
        """Insert ``rows`` (sent as ``columns`` when those were built from them beforehand).
        An insert that got no answer may have failed only to answer (the ledger took the
        rows, then went away before replying): sent again, its raw events would be stored
        twice, so those the ledger holds are left out. (The other tables' rows replace
        their own.)"""
        if self._unanswered and table == "raw_events":
            held = store.existing_event_ids([str(row["event_id"]) for row in rows])
            rows = [row for row in rows if row["event_id"] not in held]
            columns = None
        try:
            if columns is not None:
                store.insert_arrow(table, columns)
            else:
                store.insert_rows(table, rows)
        except RefusedError:
            self._unanswered = False  # the engine answered: none of it is in
            raise
        except StoreError:
            self._unanswered = True
            raise
        self._unanswered = False

    def _set_aside(self, refused: Refused) -> None:
        """Keep a refused row; of one id's rows in a table (a tool call written again with
        its result), only the last, the one the ledger would have kept."""
        name = row_id(refused.row)
        if name:
            self.refused = [
                r for r in self.refused if (r.table, row_id(r.row)) != (refused.table, name)
            ]
        self.refused.append(refused)


async def retrying(fn: Callable[[], T], what: str, stop: asyncio.Event) -> T:
    """Run ``fn`` in a thread until the ledger takes it: an unreachable or failing ledger
    pauses the pipeline (offsets stay uncommitted) instead of killing the worker."""
    delay = 0.5
    while True:
        try:
            return await asyncio.to_thread(fn)
        except StoreError as exc:
            if stop.is_set():
                raise
            log.warning("%s failed, retrying in %.1fs: %s", what, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def write_until_taken(
    write: LedgerWrite, store: LedgerStore, stop: asyncio.Event
) -> list[Refused]:
    """Run ``write`` until the ledger holds all of it but the rows it refuses, which are
    returned. An outage is waited out for ever (raised only once ``stop`` is set, the
    batch then uncommitted); a refusal is retried ``REFUSAL_RETRIES`` times, then the write
    is split to find the refused rows."""
    refusals = 0
    delay = OUTAGE_FIRST_DELAY_S
    while True:
        try:
            await asyncio.to_thread(write.attempt, store, split=refusals > REFUSAL_RETRIES)
            return write.refused
        except RefusedError as exc:
            if stop.is_set():
                raise
            refusals += 1
            if refusals > REFUSAL_RETRIES:
                log.warning(
                    "the ledger refused a write %d times (%s): splitting it to find the "
                    "refused rows; the others are written",
                    refusals,
                    exc.name,
                )
            else:
                log.warning(
                    "the ledger refused a write (%s), retry %d: %s", exc.name, refusals, exc
                )
                await asyncio.sleep(REFUSAL_BACKOFF_S * refusals)
        except StoreError as exc:
            if stop.is_set():
                raise
            log.warning("ledger write failed, retrying in %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, OUTAGE_MAX_DELAY_S)


def prebuilt_of(
    tables: Sequence[tuple[str, Sequence[Row]]], columns: Mapping[str, Sequence[Any]]
) -> dict[str, Any]:
    """Each table of a write whose rows ``columns`` (Arrow tables built batch by batch,
    ``processors.sink_parts.Pending.build_columns``) hold in full, as one Arrow table."""
    from ledger.columns import joined  # pyarrow: only where rows are written

    prebuilt = {}
    for table, rows in tables:
        parts = columns.get(table)
        data = joined(parts, len(rows)) if parts else None
        if data is not None:
            prebuilt[table] = data
    return prebuilt


def row_id(row: Mapping[str, Any]) -> str:
    """What names a row in its table (its event, action, session… id)."""
    return next((str(row[k]) for k in _ROW_IDS if row.get(k)), "")


def refused_entry(refused: Refused, where: Mapping[str, tuple[str, int, int]]) -> dict[str, Any]:
    """The dead-letter entry (``ingest.deadletter``) of a refused row: where its event was
    read (topic/partition/offset, else the table and the row's id), the
    ledger's error as the reason, and the record: a raw event's raw record, any other
    row as JSON. ``table`` and ``event_id`` say which row of which event it was."""
    row = refused.row
    event_id = next((str(row[k]) for k in _EVENT_IDS if row.get(k)), "")
    at = where.get(event_id)
    position = f"{at[0]}/{at[1]}/{at[2]}" if at else f"{refused.table}:{row_id(row)}"
    chained: dict[str, Any] = {}
    if refused.table == "raw_events":
        record = str(row.get("raw", ""))
        if row.get("chain_stream"):
            # Its place in its stream's hash chain, and what its record hash covers: the
            # chain goes on through the dead letter (``ledger.evidence.refused_links``).
            chained = {name: row[name] for name in CHAIN_FIELDS}
            chained["chained_record"] = orjson.dumps(
                {name: row[name] for name in RECORD_FIELDS}, default=str
            ).decode()
    else:
        record = orjson.dumps(row, default=str).decode()
    source = str(row.get("source") or "ledger")
    error = RecordError(refused.reason, source=source, position=position)
    entry = dead_letter(error, record)
    entry["table"] = refused.table
    entry["event_id"] = event_id
    entry.update(chained)
    return entry


async def send_until_taken(
    producer: Any, topic: str, entries: Sequence[Mapping[str, Any]], stop: asyncio.Event
) -> None:
    """Produce dead letters and wait until the broker holds every one, trying again for as
    long as it refuses (a dead letter is never dropped: the caller commits the offsets of
    their batch only after this returns). Sent again after a failure, an entry may land
    twice; the ledger keeps it once (``ingest.deadletter.dead_letter_row``)."""
    from aiokafka.errors import KafkaError

    delay = OUTAGE_FIRST_DELAY_S
    while True:
        try:
            sent = [await producer.send(topic, orjson.dumps(entry)) for entry in entries]
            await asyncio.gather(*sent)
            return
        except (KafkaError, OSError, TimeoutError) as exc:
            if stop.is_set():
                raise
            log.warning(
                "%d dead letters not taken by the broker, retrying in %.1fs: %s",
                len(entries),
                delay,
                exc,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, OUTAGE_MAX_DELAY_S)
