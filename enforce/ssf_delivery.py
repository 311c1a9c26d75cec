"""Delivering SETs: push (RFC 8935), with bounded exponential backoff, and poll (RFC 8936),
one stream per configured receiver.

Each push stream sends its SETs one at a time in its own task, so a receiver that is down or
slow delays only its own SETs, never another receiver's. What to do after an attempt is a
pure decision (``push_verdict``, ``RetryPolicy``), tested as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from enforce.ssf import SET_MEDIA_TYPE
from kernel.config import SsfReceiver
from kernel.events import ch_ts
from ledger.signals import ACKED, DELIVERED, FAILED, PENDING

log = logging.getLogger(__name__)

DEFAULT_MAX_EVENTS: Final = 100  # a poll that does not say how many gets at most this many
MAX_EVENTS_CAP: Final = 1000
_ERROR_TEXT_MAX: Final = 300
_jitter_source = secrets.SystemRandom()


@dataclass(slots=True)
class OutgoingSet:
    """One signed SET on its way to one stream's receiver, and how far it got."""

    stream: str
    contraction_id: str
    jti: str
    session_id: str
    delivery: str
    token: str
    created_at: datetime
    state: str = PENDING
    attempts: int = 0
    last_error: str = ""

    def row(self, now: datetime) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "contraction_id": self.contraction_id,
            "jti": self.jti,
            "session_id": self.session_id,
            "delivery": self.delivery,
            "token": self.token,
            "state": self.state,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "created_at": ch_ts(self.created_at),
            "updated_at": ch_ts(now),
        }


# Writes state changes to the outbox (the ledger's ``ssf_sets``), awaited before the
# change is acted on or answered.
Recorder = Callable[[list[OutgoingSet]], Awaitable[None]]


# -- push: what a reply means and when to try again --------------------------------------------
@dataclass(frozen=True, slots=True)
class Verdict:
    """What one push attempt came to: ``delivered``, ``refused`` for good, or ``retry``."""

    outcome: str
    detail: str = ""


def _short(text: str) -> str:
    return text if len(text) <= _ERROR_TEXT_MAX else text[:_ERROR_TEXT_MAX] + "…"


def push_verdict(status: int | None, body: bytes = b"", error: str = "") -> Verdict:
    """An HTTP reply (``status``; ``None`` when no reply came, ``error`` saying why) as a
    verdict. RFC 8935: 202 accepts; 400 with ``{"err", "description"}`` refuses the SET for
    good (sending it again would be refused again). A 2xx other than 202 is taken as accepted;
    a redirect is not followed (it would carry the receiver's credential elsewhere); 408, 429
    and 5xx, like a network failure, are worth another try; any other 4xx is not."""
    if status is None:
        return Verdict("retry", _short(error or "no reply"))
    if 200 <= status < 300:
        return Verdict("delivered")
    if status in (408, 429) or status >= 500:
        return Verdict("retry", f"HTTP {status}")
    detail = f"HTTP {status}"
    if status == 400:
        try:
            reply = orjson.loads(body)
            detail += f" {reply.get('err', '?')}: {reply.get('description', '')}".rstrip(": ")
        except (orjson.JSONDecodeError, AttributeError):
            detail += " (no error document)"
    elif 300 <= status < 400:
        detail += " (redirect not followed)"
    return Verdict("refused", _short(detail))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff, bounded: ``base_s`` after the first failure, doubling, at most
    ``cap_s``; after ``attempts`` attempts the SET is recorded as failed."""

    base_s: float = 1.0
    cap_s: float = 300.0
    attempts: int = 10

    def delay_after(self, attempt: int, jitter: float = 1.0) -> float | None:
        """Seconds to wait after attempt number ``attempt`` (from 1) failed; ``None`` when
        no attempt is left. ``jitter`` in (0, 1] spreads the retries of many SETs."""
        if attempt >= self.attempts:
            return None
        return min(self.cap_s, self.base_s * 2.0 ** (attempt - 1)) * jitter


@dataclass(frozen=True, slots=True)
class Step:
    """After an attempt: the SET's new state, and when to try again if it stays pending."""

    state: str
    retry_in: float | None = None


def after_attempt(verdict: Verdict, attempt: int, policy: RetryPolicy, jitter: float) -> Step:
    if verdict.outcome == "delivered":
        return Step(DELIVERED)
    if verdict.outcome == "refused":
        return Step(FAILED)
    delay = policy.delay_after(attempt, jitter)
    return Step(FAILED) if delay is None else Step(PENDING, delay)


# -- push streams ------------------------------------------------------------------------------
Poster = Callable[[SsfReceiver, str], Awaitable[Verdict]]


class PushStream:
    """A push receiver's SETs, sent oldest due first, one at a time, each retried on its own
    schedule."""

    def __init__(
        self,
        receiver: SsfReceiver,
        post: Poster,
        record: Recorder,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime],
    ) -> None:
        self.receiver = receiver
        self._post = post
        self._record = record
        self._policy = policy
        self._clock = clock
        self._now = now
        self._due: list[tuple[float, int, OutgoingSet]] = []
        self._order = 0
        self._wake = asyncio.Event()

    @property
    def waiting(self) -> int:
        return len(self._due)

    def add(self, item: OutgoingSet, delay: float = 0.0) -> None:
        self._order += 1
        heapq.heappush(self._due, (self._clock() + delay, self._order, item))
        self._wake.set()

    async def run(self) -> None:
        while True:
            if not self._due:
                self._wake.clear()
                await self._wake.wait()
                continue
            due_at = self._due[0][0]
            wait = due_at - self._clock()
            if wait > 0:
                self._wake.clear()
                # A SET added meanwhile may be due sooner: wake for it too.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            _, _, item = heapq.heappop(self._due)
            await self._attempt(item)

    async def _attempt(self, item: OutgoingSet) -> None:
        item.attempts += 1
        verdict = await self._post(self.receiver, item.token)
        step = after_attempt(verdict, item.attempts, self._policy, _jitter_source.uniform(0.5, 1))
        item.state = step.state
        item.last_error = verdict.detail
        if step.state == FAILED:
            log.warning(
                "SET %s to receiver %s failed for good after %d attempt(s): %s",
                item.jti,
                self.receiver.name,
                item.attempts,
                verdict.detail,
            )
        try:
            await self._record([item])
        except Exception:  # the outbox is down: keep the state in memory, the SET goes on
            log.exception("cannot record the state of SET %s", item.jti)
        if step.retry_in is not None:
            self.add(item, step.retry_in)


def http_poster(client: Any) -> Poster:
    """Push over an ``httpx.AsyncClient`` (its timeout and no redirects are the client's)."""
    import httpx

    async def post(receiver: SsfReceiver, token: str) -> Verdict:
        assert receiver.url is not None  # a push receiver has one (checked by its settings)
        headers = {"Content-Type": SET_MEDIA_TYPE, "Accept": "application/json"}
        if receiver.authorization is not None:
            headers["Authorization"] = receiver.authorization.get_secret_value()
        try:
            reply = await client.post(receiver.url, content=token.encode(), headers=headers)
        except httpx.HTTPError as exc:
            # The exception's text names the URL at most, never a header.
            return push_verdict(None, error=f"{type(exc).__name__}: {exc}")
        return push_verdict(reply.status_code, reply.content)

    return post


# -- poll streams ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PollRequest:
    """An RFC 8936 poll: acknowledgements and errors for SETs received, and how many more
    to send (``0``: acknowledge only), waiting for one (long poll) or not."""

    max_events: int | None = None
    return_immediately: bool = False
    ack: tuple[str, ...] = ()
    set_errs: Mapping[str, Mapping[str, str]] | None = None


# SETs a poll stream keeps waiting for its receiver; beyond, the oldest are let go.
MAX_POLL_PENDING = 10_000


class PollStream:
    """A poll receiver's SETs: each handed out until acknowledged (or reported in
    ``setErrs``), oldest first."""

    def __init__(self, receiver: SsfReceiver, record: Recorder, wait_s: float) -> None:
        self.receiver = receiver
        self._record = record
        self._wait_s = wait_s
        self._pending: dict[str, OutgoingSet] = {}
        self._arrived = asyncio.Event()
        self._closing = False

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def add(self, item: OutgoingSet) -> list[OutgoingSet]:
        """Queue ``item``; returns the oldest SETs let go to keep at most
        ``MAX_POLL_PENDING`` waiting (a receiver that stopped polling would otherwise hold
        every contraction from then on), marked failed with why."""
        self._pending[item.jti] = item
        self._arrived.set()
        dropped = []
        while len(self._pending) > MAX_POLL_PENDING:
            oldest = self._pending.pop(next(iter(self._pending)))
            oldest.state = FAILED
            oldest.last_error = f"not polled: {MAX_POLL_PENDING} newer SETs were waiting"
            dropped.append(oldest)
        if dropped:
            log.warning(
                "poll stream %s: %d SET(s) let go unpolled (%d waiting)",
                self.receiver.name,
                len(dropped),
                MAX_POLL_PENDING,
            )
        return dropped

    def close(self) -> None:
        """Answer the long polls waiting now, and every poll from now on, at once."""
        self._closing = True
        self._arrived.set()

    def _settle(
        self, ack: Iterable[str], errs: Mapping[str, Mapping[str, str]]
    ) -> list[OutgoingSet]:
        settled = []
        for jti in ack:
            item = self._pending.pop(jti, None)
            if item is not None:  # an unknown or already settled jti: nothing to do
                item.state = ACKED
                settled.append(item)
        for jti, err in errs.items():
            item = self._pending.pop(jti, None)
            if item is not None:
                item.state = FAILED
                item.last_error = _short(f"{err.get('err', '?')}: {err.get('description', '')}")
                log.warning(
                    "receiver %s reported SET %s: %s", self.receiver.name, jti, item.last_error
                )
                settled.append(item)
        return settled

    async def poll(self, request: PollRequest) -> dict[str, Any]:
        settled = self._settle(request.ack, request.set_errs or {})
        if settled:
            await self._record(settled)
        wanted = DEFAULT_MAX_EVENTS if request.max_events is None else request.max_events
        wanted = min(wanted, MAX_EVENTS_CAP)
        if wanted and not self._pending and not request.return_immediately:
            self._arrived.clear()
            if not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), self._wait_s)
        handed = list(self._pending.values())[:wanted]
        for item in handed:
            item.attempts += 1
        return {
            "sets": {item.jti: item.token for item in handed},
            "moreAvailable": len(self._pending) > len(handed),
        }
