"""The hot path: decode, de-duplicate, stitch and score batches of events, write the
ledger, then commit (``processors.sink_loop`` reads the batches and drives it).

It reads with aiokafka ``getmany`` below Faust's per-event layer (Faust's per-message
machinery tops out far below the broker); the Faust worker manages it as a service.
Offsets are committed only after the ledger write, and the ledger write skips event ids it
already holds, so a crash between the two replays the batch and adds nothing twice. An
outage pauses the pipeline until the ledger is back; rows the ledger refuses go to the
dead-letter topic and the rest of their batch is written (``processors.writes``); a write
stopped part-way is restored with the counters its sessions had before it
(``processors.recount``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any

import orjson

from ingest.base import parse_time
from ingest.deadletter import dead_letter
from kernel import codec
from kernel.contraction import Contraction
from kernel.errors import RecordError
from kernel.events import ch_ts as ts
from kernel.events import micros
from kernel.topics import Topics
from ledger.contractions import recent_contractions
from ledger.drift_rows import DriftOutput
from ledger.projections import newest_event_time, pairing_rows, recorded_versions, stitch_rows
from ledger.replay import recent_trail_events
from ledger.rows import StitchOutput
from ledger.store import LedgerStore
from processors.evidence import EvidenceChain
from processors.federation import restore_web_identities
from processors.labels import signature
from processors.pairing import restore_pairs
from processors.rebuild import reparse, reparsed
from processors.recount import restored
from processors.scoring import DriftStage
from processors.sessions import StitchState, sweep_mark
from processors.sink_parts import (
    NEVER,
    Asked,
    EventKey,
    RecentIds,
    SinkStats,
    event_key,
    event_key_of_message,
    observed_ids,
)
from processors.stitch import Stitcher
from processors.writes import LedgerWrite, Refused, prebuilt_of

log = logging.getLogger(__name__)
# Requests and results held again for pairing at a restart, at most (the newest of the
# session window; older results stay listed as unpaired).
PAIRING_RESTORE_MAX = 200_000


def restore_state(
    store: LedgerStore, window: timedelta, restitch: timedelta = timedelta(minutes=15)
) -> StitchState:
    """The stitch state the ledger holds, to go on where it stands: what the stitcher that
    wrote it held, for a state holds what its watermark says (``StitchState.advance``)."""
    newest = newest_event_time(store)
    watermark = parse_time(newest, "event_time") if newest is not None else None
    mark = sweep_mark(watermark, restitch) if watermark is not None else None
    rows = restored(
        stitch_rows(store, ts(mark - restitch) if mark is not None else None),
        partial(recorded_versions, store),
    )
    labels = {row["action_id"]: signature(row) for row in rows.open_labels}
    for row in rows.open_actions:
        row["signature"] = labels.get(row["action_id"], 0)
    since = mark - window if mark is not None else None  # pairs held: the session window
    state = StitchState.restore(
        window=window,
        restitch=restitch,
        keys=rows.keys,
        aliases=rows.aliases,
        sessions=rows.sessions,
        pending_actions=[
            row
            for row in rows.pending_actions
            if since is None or parse_time(row["event_time"], "event_time") < since
        ],
        open_actions=rows.open_actions,
    )
    restore_web_identities(state, rows.web_identities, rows.open_actions)
    if since is not None and mark is not None:
        records, calls = pairing_rows(store, ts(since), PAIRING_RESTORE_MAX)
        held = reparsed(records)  # a record that no longer parses is not held again
        restore_pairs(state, held, calls, settled=mark - restitch, given_up=since)
        state.watermark, state.swept_at = watermark, mark
    return state


# The most calls and results read back to restore the drift trails after a restart (the
# newest of the session window; sessions older than those are scored from then on). Each
# carries its raw record, a few KB: this bounds what a start holds in memory at once.
TRAIL_RESTORE_LIMIT = 50_000


def restore_drift(
    store: LedgerStore,
    state: StitchState,
    drift: DriftStage,
    since: str,
    limit: int = TRAIL_RESTORE_LIMIT,
) -> int:
    """What the drift stage knew before a restart, from the ledger: the contractions decided
    since ``since`` and the calls and results its sessions' trails were fed. Returns the
    events fed to the trails."""
    drift.restore(recent_contractions(store, since))
    events = []
    for row in recent_trail_events(store, since, limit):
        try:
            envelope = reparse(row)
        except (RecordError, orjson.JSONDecodeError):
            continue  # counted by a rebuild; a trail goes on without it
        events.append((envelope.event, row["session_id"], row["access"]))
    return drift.restore_trails(state, events)


class EventSink:
    """Decode, de-duplicate, stitch and store batches of Avro events (``run_sink`` drives it)."""

    def __init__(
        self,
        store: LedgerStore,
        topics: Topics,
        stitcher: Stitcher,
        drift: DriftStage | None = None,
        evidence: EvidenceChain | None = None,
    ) -> None:
        self.store = store
        self.topics = topics
        self.stitcher = stitcher
        self.drift = drift
        self.evidence = evidence  # chains each raw event to its stream's last (tamper evidence)
        self.recent = RecentIds()
        self.stats = SinkStats()
        # Since the take-over: where on each (topic, partition) the events a previous owner
        # may have read end, and how far past its last commit it can have read at most
        # (``from_last_owner``).
        self._span_ends: dict[tuple[str, int], int] = {}
        self._replay_span = 0

    def took_over(self, newest: int | None, replay_span: int) -> None:
        """This sink owns the stream now: the ledger held events up to ``newest`` (µs;
        ``None``: none), and a previous owner may have read up to ``replay_span`` messages
        of each partition past its last commit (``from_last_owner``)."""
        self.recent.took_over(newest)
        self._span_ends, self._replay_span = {}, replay_span

    def from_last_owner(
        self, topic: str, partition: int, offset: int, end: int | None = None
    ) -> bool:
        """Whether a message may be one a previous owner read and may be writing still: an
        owner taken for dead while alive writes what it stitched before it knew
        (``docs/scaling.md``), newer than what the ledger held at the take-over; each such
        message is asked about, whatever its time. Reading begins at the last commit, so
        those lie within ``replay_span`` of the first offset read on their partition, and
        below ``end``, the partition's end when it was first read after the take-over (the
        fetch's high watermark; ``None``: unknown): the old owner read what was there."""
        span_end = self._span_ends.get((topic, partition))
        if span_end is None:
            span = self._replay_span if end is None else min(self._replay_span, end - offset)
            span_end = self._span_ends[(topic, partition)] = offset + max(0, span)
        return offset < span_end

    def keys_of(
        self, messages: Iterable[Any], end_of: Callable[[str, int], int | None] | None = None
    ) -> Asked:
        """The events of ``messages`` to ask the ledger about (``keys_to_ask``), read off the
        messages; one whose key only the decode can read is asked about after it.
        ``end_of(topic, partition)``: the partition's end as the consumer last saw it."""
        keys: list[EventKey] = []
        replays: list[EventKey] = []
        span_ends = self._span_ends
        unread = 0
        for message in messages:
            key = event_key_of_message(message)
            if key is None:
                unread += 1
                continue
            topic, partition = message.topic, message.partition
            end = None
            if end_of is not None and (topic, partition) not in span_ends:
                end = end_of(topic, partition)
            if self.from_last_owner(topic, partition, message.offset, end):
                replays.append(key)
            else:
                keys.append(key)
        return Asked(self.keys_to_ask(keys, replays), unread)

    def decode(
        self, messages: Iterable[Any]
    ) -> tuple[list[codec.Envelope], list[dict[str, Any]], dict[str, tuple[str, int, int]]]:
        """Envelopes, dead-letter entries for messages that do not decode, and each event's
        topic, partition and offset (the first, for an event sent twice)."""
        envelopes: list[codec.Envelope] = []
        rejected: list[dict[str, Any]] = []
        where: dict[str, tuple[str, int, int]] = {}
        for msg in messages:
            try:
                version = codec.writer_version(msg.headers)
                envelopes.append(env := codec.decode(msg.value, version))
                where.setdefault(env.event.event_id, (msg.topic, msg.partition, msg.offset))
            except RecordError as exc:
                position = f"{msg.topic}/{msg.partition}/{msg.offset}"
                rejected.append(
                    dead_letter(
                        exc.located(source=msg.topic, position=position),
                        msg.value.hex()[:4096],
                    )
                )
        return envelopes, rejected, where

    def new_events(
        self, envelopes: list[codec.Envelope], assignment: Iterable[Any] = ()
    ) -> list[codec.Envelope]:
        """The envelopes whose events the ledger does not hold yet. Blocking (it reads the
        chain heads of partitions newly in ``assignment`` too). ``run_sink`` takes the same
        steps, asking the ledger while the batch is decoded."""
        keys = self.keys_to_ask([event_key(env) for env in envelopes])
        held = self.own_and_look_up(assignment, keys)
        observed = observed_ids(envelopes, self.recent)
        if observed:
            held |= self.store.existing_event_ids(observed)
        return self.fresh(envelopes, held)

    def keys_to_ask(
        self, keys: Iterable[EventKey | None], replays: Iterable[EventKey] = ()
    ) -> list[EventKey]:
        """The events to ask the ledger about (id and time): each id once, none stitched
        lately; of ``keys`` none newer than all it may hold (``RecentIds.unheld``), of
        ``replays`` (``from_last_owner``) all."""
        asked: dict[str, EventKey] = {}
        recent = self.recent
        for key in replays:
            if key[0] not in recent:
                asked.setdefault(key[0], key)
        for key in recent.unheld(keys):
            asked.setdefault(key[0], key)
        self.stats.asked += len(asked)
        return list(asked.values())

    def nothing_to_look_up(self, assignment: Iterable[Any], keys: list[EventKey]) -> bool:
        """Whether ``own_and_look_up`` would neither read a chain head nor ask the ledger:
        then the caller need not hand it to a thread (a thread's turn at the interpreter,
        which the ledger writes' thread holds at times, costs milliseconds)."""
        return not keys and (self.evidence is None or self.evidence.owns(assignment))

    def own_and_look_up(self, assignment: Iterable[Any], keys: list[EventKey]) -> set[str]:
        """Take the partitions assigned now (the tamper evidence reads a new one's chain
        head), then return which of the events ``keys`` the ledger holds. Blocking; it
        touches nothing the decode does, so it runs in a thread while the batch is decoded."""
        if self.evidence is not None:
            self.evidence.own(assignment)
        return self.store.held_events(keys) if keys else set()

    def fresh(self, envelopes: list[codec.Envelope], held: set[str]) -> list[codec.Envelope]:
        """Each event of ``envelopes`` once, but those the ledger holds (``held``) and those
        stitched lately."""
        fresh: dict[str, codec.Envelope] = {}
        recent = self.recent
        for env in envelopes:
            event_id = env.event.event_id
            if event_id not in fresh and event_id not in recent and event_id not in held:
                fresh[event_id] = env
        self.stats.duplicates += len(envelopes) - len(fresh)
        return list(fresh.values())

    def stitch(
        self, fresh: list[codec.Envelope], where: dict[str, tuple[str, int, int]] | None = None
    ) -> tuple[StitchOutput, DriftOutput, list[Contraction]]:
        """Stitch a batch, then score its actions (when scoring is on). From now on the
        batch's events count as held: its write is retried until the ledger takes it, so a
        replay arriving before that is skipped too."""
        began = time.perf_counter_ns()
        output = self.stitcher.process(fresh)
        self.stats.stitch_ns += time.perf_counter_ns() - began
        if self.evidence is not None and where is not None:
            self.evidence.chain(output.raw_events, where)
        self.recent.add_all(
            (env.event.event_id for env in fresh),
            max((micros(env.event.event_time) for env in fresh), default=NEVER),
        )
        if self.drift is not None:
            scored, contractions = self.drift.score(self.stitcher.state, output, time.time_ns())
        else:
            scored, contractions = DriftOutput(), []
        # What the stage read would keep the batch's events alive while its rows wait.
        output.fed, output.answered = [], {}
        return output, scored, contractions

    def ledger_write(
        self,
        output: StitchOutput,
        scored: DriftOutput | None = None,
        columns: Mapping[str, list[Any]] | None = None,
    ) -> LedgerWrite:
        """Every table's rows as one write (``processors.writes``); safe to repeat (rows
        replace rows of the same id). The drift rows go before the stitch rows, whose
        ``raw_events`` mark a batch done. ``columns``: Arrow tables built from the rows
        batch by batch; a table they cover in full is sent as those."""
        tables = (scored.tables() if scored is not None else []) + output.tables()
        return LedgerWrite(tables, prebuilt=prebuilt_of(tables, columns or {}))

    def written(self, output: StitchOutput, refused: list[Refused]) -> None:
        """The ledger holds ``output`` but the ``refused`` rows. A refused raw event is
        still handed to the tamper evidence: its dead letter keeps its place in the chain
        (``processors.writes.refused_entry``), so its stream's digests go on over it."""
        self.stats.written += len(output.raw_events) - sum(r.table == "raw_events" for r in refused)
        if self.evidence is not None:
            self.evidence.written(output.raw_events)
