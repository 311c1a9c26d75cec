"""The Shared Signals transmitter: contractions in, one signed SET per contraction and receiver
stream out, by push or poll; and the ``ledger.contractions`` consumer that feeds it.

What survives a restart: every SET is written to the ledger's ``ssf_sets`` outbox, signed,
before it is offered to its receiver, and the topic's offsets are committed only after that
write. On start the transmitter reads back the SETs still pending (not yet delivered by push,
or not yet acknowledged by poll) and offers them again, the same tokens with the same ``jti``.
A contraction read again (a replay, or the topic from its start after a restart) finds its SET
in the outbox and adds nothing. A push in flight when the process stops may reach its
receiver twice; receivers drop a ``jti`` they already have (RFC 8417).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from enforce.ssf import SetSigner, discovery_document, set_jti
from enforce.ssf_delivery import (
    OutgoingSet,
    PollRequest,
    PollStream,
    Poster,
    PushStream,
    RetryPolicy,
)
from ingest.base import parse_time
from kernel import contraction as contraction_codec
from kernel.config import SsfReceiver
from kernel.contraction import Contraction
from kernel.errors import LedgerError, RecordError
from kernel.events import now_utc
from ledger import signals
from ledger.store import LedgerStore

log = logging.getLogger(__name__)

KNOWN_IN_MEMORY: Final = (
    100_000  # (stream, contraction) pairs remembered; older: asked of the outbox
)


class UnknownStream(LedgerError):
    """A poll for a stream no receiver is configured as."""


class Outbox(Protocol):
    """Where SETs and their states are kept (the ledger's ``ssf_sets``, or memory in tests)."""

    async def known(self, stream: str, contraction_ids: Sequence[str]) -> set[str]: ...

    async def write(self, items: list[OutgoingSet]) -> None: ...

    async def open_sets(self) -> list[OutgoingSet]: ...


class LedgerOutbox:
    """The outbox in the ledger; its calls run off the event loop (chDB blocks)."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    async def known(self, stream: str, contraction_ids: Sequence[str]) -> set[str]:
        return await asyncio.to_thread(
            signals.known_contractions, self.store, stream, list(contraction_ids)
        )

    async def write(self, items: list[OutgoingSet]) -> None:
        now = now_utc()
        await asyncio.to_thread(signals.write_sets, self.store, [i.row(now) for i in items])

    async def open_sets(self) -> list[OutgoingSet]:
        rows = await asyncio.to_thread(signals.open_sets, self.store)
        return [
            OutgoingSet(
                stream=r["stream"],
                contraction_id=r["contraction_id"],
                jti=r["jti"],
                session_id=r["session_id"],
                delivery=r["delivery"],
                token=r["token"],
                created_at=parse_time(r["created_at"], "created_at"),
                state=r["state"],
                attempts=int(r["attempts"]),
                last_error=r["last_error"],
            )
            for r in rows
        ]


class MemoryOutbox:
    """An outbox that lasts as long as the process: for tests, and the shape to match."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], OutgoingSet] = {}
        self.writes: list[tuple[str, str]] = []  # (jti, state) in write order

    async def known(self, stream: str, contraction_ids: Sequence[str]) -> set[str]:
        return {c for c in contraction_ids if (stream, c) in self.rows}

    async def write(self, items: list[OutgoingSet]) -> None:
        for item in items:
            self.rows[(item.stream, item.contraction_id)] = item
            self.writes.append((item.jti, item.state))

    async def open_sets(self) -> list[OutgoingSet]:
        return [i for i in self.rows.values() if i.state == signals.PENDING]


class Transmitter:
    """Builds, keeps and delivers the SETs of every configured receiver stream."""

    def __init__(
        self,
        signer: SetSigner,
        issuer: str,
        receivers: Sequence[SsfReceiver],
        outbox: Outbox,
        *,
        post: Poster,
        policy: RetryPolicy,
        poll_wait_s: float,
    ) -> None:
        self.signer = signer
        self.issuer = issuer.rstrip("/")
        self.receivers = list(receivers)
        self.outbox = outbox
        self.push_streams = {
            r.name: PushStream(r, post, outbox.write, policy, now=now_utc)
            for r in receivers
            if r.delivery == "push"
        }
        self.poll_streams = {
            r.name: PollStream(r, outbox.write, poll_wait_s)
            for r in receivers
            if r.delivery == "poll"
        }
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()  # one batch at a time: a replay inside a batch adds nothing

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Offer again what the outbox holds pending, then start the push streams."""
        dropped: list[OutgoingSet] = []
        for item in await self.outbox.open_sets():
            self._remember(item.stream, item.contraction_id)
            dropped += self._offer(item)
        if dropped:
            await self.outbox.write(dropped)
        self._tasks = [
            asyncio.create_task(stream.run(), name=f"ssf-push-{name}")
            for name, stream in self.push_streams.items()
        ]

    async def stop(self) -> None:
        for poll in self.poll_streams.values():
            poll.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- contractions in ---------------------------------------------------------------------
    def _remember(self, stream: str, contraction_id: str) -> None:
        self._known[(stream, contraction_id)] = None
        if len(self._known) > KNOWN_IN_MEMORY:
            self._known.popitem(last=False)

    def _offer(self, item: OutgoingSet) -> list[OutgoingSet]:
        """Hand ``item`` to its stream; returns the SETs a full poll queue let go."""
        if item.stream in self.push_streams:
            self.push_streams[item.stream].add(item)
        elif item.stream in self.poll_streams:
            return self.poll_streams[item.stream].add(item)
        else:  # a receiver since removed from the settings: its SETs stay in the outbox
            log.info("SET %s is for stream %s, no longer configured", item.jti, item.stream)
        return []

    async def accept(self, contractions: Sequence[Contraction], now: datetime | None = None) -> int:
        """Sign a SET for each stream and contraction new to it, keep them all in the outbox,
        then offer them; returns how many SETs were made (a replay makes none)."""
        async with self._lock:
            now = now or now_utc()
            made: list[OutgoingSet] = []
            for receiver in self.receivers:
                fresh: dict[str, Contraction] = {}
                for c in contractions:
                    if (receiver.name, c.contraction_id) not in self._known:
                        fresh.setdefault(c.contraction_id, c)  # the first of a batch's repeats
                stored = await self.outbox.known(receiver.name, list(fresh))
                for cid in stored:
                    self._remember(receiver.name, cid)
                made += [
                    self._sign(receiver, c, now) for cid, c in fresh.items() if cid not in stored
                ]
            if made:
                await self.outbox.write(made)
            dropped: list[OutgoingSet] = []
            for item in made:
                self._remember(item.stream, item.contraction_id)
                dropped += self._offer(item)
            if dropped:
                await self.outbox.write(dropped)
            return len(made)

    def _sign(self, receiver: SsfReceiver, c: Contraction, now: datetime) -> OutgoingSet:
        token = self.signer.build(
            c,
            issuer=self.issuer,
            stream=receiver.name,
            audience=receiver.audience,
            now=int(now.timestamp()),
        )
        return OutgoingSet(
            stream=receiver.name,
            contraction_id=c.contraction_id,
            jti=set_jti(c.contraction_id, receiver.name),
            session_id=c.session_id,
            delivery=receiver.delivery,
            token=token,
            created_at=now,
        )

    # -- what the API serves -----------------------------------------------------------------
    def poll_stream(self, name: str) -> PollStream:
        try:
            return self.poll_streams[name]
        except KeyError:
            raise UnknownStream(f"no poll stream {name!r} is configured") from None

    async def poll(self, name: str, request: PollRequest) -> dict[str, Any]:
        return await self.poll_stream(name).poll(request)

    def jwks(self) -> dict[str, Any]:
        return self.signer.jwks()

    def discovery(self) -> dict[str, Any]:
        return discovery_document(self.issuer, self.poll_streams)

    def waiting(self) -> dict[str, int]:
        """Per stream, the SETs held in memory for delivery or acknowledgement."""
        streams: dict[str, PushStream | PollStream] = {**self.push_streams, **self.poll_streams}
        return {name: stream.waiting for name, stream in streams.items()}


def decode_batch(messages: Sequence[Any]) -> list[Contraction]:
    """The contractions of a fetched batch; one that cannot be decoded is logged (with its
    topic, partition and offset) and passed over: it could never become a SET."""
    decoded = []
    for message in messages:
        try:
            decoded.append(contraction_codec.decode(message.value))
        except RecordError as exc:
            log.error(
                "%s[%d]@%d is not a contraction: %s",
                message.topic,
                message.partition,
                message.offset,
                exc,
            )
    return decoded


async def consume_contractions(
    transmitter: Transmitter,
    consumer: Any,
    *,
    retry_s: float = 2.0,
    on_batch: Callable[[int, int], None] | None = None,
) -> None:
    """Read ``ledger.contractions`` (a started ``kernel.kafka.batch_consumer``) into the
    transmitter until cancelled; offsets are committed once the batch's SETs are kept. When
    the outbox cannot take them, the batch is read again from the committed offsets."""
    while True:
        batches = await consumer.getmany(timeout_ms=500, max_records=1000)
        if not batches:
            continue
        messages = [m for part in batches.values() for m in part]
        try:
            made = await transmitter.accept(decode_batch(messages))
        except LedgerError as exc:
            log.error("cannot keep the SETs of %d contraction(s): %s", len(messages), exc)
            await asyncio.sleep(retry_s)
            await consumer.seek_to_committed()
            continue
        await consumer.commit()
        if on_batch is not None:
            on_batch(len(messages), made)
