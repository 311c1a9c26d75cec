"""Rebuild every projection from the ledger's records: ``declarations`` and ``raw_events``.

Declarations are applied again, then each raw record is parsed again by its source's
parser (so a parser fix or a new field reaches old events too) and stitched again in
time order. Run it with the workers
stopped: they hold stitching state that a rebuild replaces.

A rebuild starts only from records that verify (``processors.verify``): projections rebuilt
from edited records would carry the edits as fact. ``public_keys=None`` rebuilds from an
unverified ledger, as asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ingest.base import parse_time
from ingest.registry import get_source
from kernel import codec
from kernel.declaration import parse_declaration
from kernel.errors import EvidenceError, RecordError
from kernel.events import Event
from ledger.projections import truncate_projections
from ledger.replay import raw_event_pages, recorded_declarations
from ledger.rows import StitchOutput
from ledger.store import LedgerStore
from processors.recount import finished
from processors.sessions import StitchState
from processors.stitch import Stitcher
from processors.verify import verify


@dataclass(slots=True)
class RebuildReport:
    events: int = 0
    declarations: int = 0
    unparseable: int = 0
    sessions: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "events": self.events,
            "declarations": self.declarations,
            "unparseable": self.unparseable,
            "sessions": self.sessions,
        }


def reparse(row: dict[str, Any]) -> codec.Envelope:
    """The event of one ``raw_events`` row, from its raw record."""
    source = get_source(row["source"])
    record = orjson.loads(row["raw"])
    events = source.parse(record, position=row["position"], raw=row["raw"])
    event = next((e for e in events if e.event_id == row["event_id"]), None)
    if event is None:
        raise RecordError(
            "the parser no longer yields this event", source=row["source"], position=row["position"]
        )
    # The time the event was first stitched at stays authoritative (bare MCP messages are
    # timed when observed, which a second parse cannot know).
    event.event_time = parse_time(row["event_time"], "event_time")
    ref = (row["raw_topic"], int(row["raw_partition"]), int(row["raw_offset"]))
    return codec.Envelope(
        event, parse_time(row["ingested_at"], "ingested_at"), row["ingest_batch"], ref
    )


def reparsed(rows: Iterable[dict[str, Any]]) -> list[tuple[Event, str]]:
    """The event of each ``raw_events`` row with the session it is stored under; a row
    that no longer parses is left out, and logged."""
    found = []
    for row in rows:
        try:
            found.append((reparse(row).event, str(row["session_id"])))
        except (RecordError, orjson.JSONDecodeError) as exc:
            logging.getLogger(__name__).warning(
                "%s %s not parsed again: %s", row["kind"], row["event_id"], exc
            )
    return found


def rebuild(
    store: LedgerStore,
    *,
    public_keys: Mapping[str, Ed25519PublicKey] | None,
    window: timedelta = timedelta(minutes=30),
    restitch: timedelta = timedelta(minutes=15),
    batch: int = 20_000,
    on_progress: Callable[[int], None] | None = None,
) -> RebuildReport:
    """Rebuild the projections; refuses a ledger whose records do not verify against the
    digests signed with ``public_keys`` (``None``: rebuild without checking)."""
    if public_keys is not None:
        checked = verify(store, public_keys)
        if not checked.ok:
            raise EvidenceError(
                f"the ledger's records do not verify: {checked.problems[0].describe()} "
                f"({len(checked.problems)} problem(s); `agentledger verify` lists them). "
                "Rebuild from them anyway with --unverified"
            )
    truncate_projections(store)
    stitcher = Stitcher(StitchState(window, restitch))
    report = RebuildReport()
    # Declarations are records too. Applied first, their bindings lead each event to its
    # declared session directly; the live path reaches the same chains by merging.
    for text in recorded_declarations(store):
        _insert(store, stitcher.declare(parse_declaration(orjson.loads(text))))
        report.declarations += 1
    for rows in raw_event_pages(store, batch):
        envelopes = []
        for row in rows:
            try:
                envelopes.append(reparse(row))
            except (RecordError, orjson.JSONDecodeError):
                report.unparseable += 1
        _insert(store, stitcher.process(envelopes))
        report.events += len(envelopes)
        if on_progress is not None:
            on_progress(len(rows))
    # The records are all there is, as a worker whose stream went idle takes them to be:
    # the token exchanges some session's token accounts for are decided now.
    _insert(store, stitcher.settle_idle())
    report.sessions = len(stitcher.state.sessions)
    return report


def _insert(store: LedgerStore, output: StitchOutput) -> None:
    """The projections' rows of ``output``; its records are in the ledger already."""
    finished(output.sessions)
    for table, table_rows in output.tables():
        if table not in ("raw_events", "declarations"):  # records are never rewritten
            store.insert_rows(table, table_rows)
