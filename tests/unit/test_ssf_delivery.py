"""Delivering SETs: what a push reply means, when to try again, poll acknowledgements, and
one SET per contraction and stream however often a contraction arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from enforce import ssf_delivery
from enforce.ssf import SetSigner, set_jti, signing_key, verify_set
from enforce.ssf_delivery import (
    OutgoingSet,
    PollRequest,
    RetryPolicy,
    Step,
    Verdict,
    after_attempt,
    push_verdict,
)
from enforce.ssf_transmitter import MemoryOutbox, Transmitter, UnknownStream, decode_batch
from kernel.config import SsfReceiver
from ledger import signals as ledger_signals
from ledger.signals import ACKED, DELIVERED, FAILED, PENDING
from tests.unit.test_rows import schema_columns
from tests.unit.test_ssf import contraction

T = TypeVar("T")
PUSH = SsfReceiver(name="idp", audience="https://idp.example", url="https://idp.example/ssf")
POLL = SsfReceiver(name="broker", audience="https://broker.example", delivery="poll")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_outbox_rows_have_exactly_the_tables_columns() -> None:
    item = OutgoingSet("idp", "c1", "j1", "s1", "push", "a.b.c", contraction().decided_at)
    row = ledger_signals.write_row(item.row(contraction().decided_at), 7)
    assert list(row) == schema_columns("ssf_sets")


# -- push replies and retries --------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (202, b"", "delivered"),
        (200, b"", "delivered"),
        (400, b'{"err": "invalid_audience", "description": "not ours"}', "refused"),
        (400, b"not json", "refused"),
        (401, b"", "refused"),
        (404, b"", "refused"),
        (302, b"", "refused"),
        (408, b"", "retry"),
        (429, b"", "retry"),
        (500, b"", "retry"),
        (503, b"", "retry"),
        (None, b"", "retry"),
    ],
)
def test_push_verdicts(status: int | None, body: bytes, outcome: str) -> None:
    assert push_verdict(status, body, error="ConnectError").outcome == outcome


def test_a_400_names_the_receivers_error() -> None:
    verdict = push_verdict(400, b'{"err": "invalid_audience", "description": "not ours"}')
    assert verdict.detail == "HTTP 400 invalid_audience: not ours"


def test_backoff_doubles_to_its_cap_and_stops_after_the_last_attempt() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=10.0, attempts=6)
    delays = [policy.delay_after(n) for n in range(1, 7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, None]
    assert policy.delay_after(3, jitter=0.5) == 2.0


def test_after_an_attempt() -> None:
    policy = RetryPolicy(base_s=2.0, cap_s=60.0, attempts=3)
    assert after_attempt(Verdict("delivered"), 1, policy, 1.0) == Step(DELIVERED)
    assert after_attempt(Verdict("refused", "HTTP 400"), 1, policy, 1.0) == Step(FAILED)
    assert after_attempt(Verdict("retry"), 1, policy, 1.0) == Step(PENDING, 2.0)
    assert after_attempt(Verdict("retry"), 2, policy, 1.0) == Step(PENDING, 4.0)
    assert after_attempt(Verdict("retry"), 3, policy, 1.0) == Step(FAILED)


# -- the transmitter -----------------------------------------------------------------------
class ScriptedReceiver:
    """A push receiver's answers, in order (then 202), and every SET it was sent."""

    def __init__(self, *answers: Verdict) -> None:
        self.answers = list(answers)
        self.tokens: list[str] = []
        self.arrived = asyncio.Event()

    async def __call__(self, receiver: SsfReceiver, token: str) -> Verdict:
        self.tokens.append(token)
        self.arrived.set()
        return self.answers.pop(0) if self.answers else Verdict("delivered")


def transmitter(
    tmp_path: Path,
    post: ScriptedReceiver,
    outbox: MemoryOutbox,
    receivers: tuple[SsfReceiver, ...] = (PUSH, POLL),
    policy: RetryPolicy | None = None,
) -> Transmitter:
    return Transmitter(
        SetSigner(signing_key(tmp_path)),
        "https://ledger.example",
        receivers,
        outbox,
        post=post,
        policy=policy or RetryPolicy(base_s=0.01, cap_s=0.05, attempts=3),
        poll_wait_s=0.05,
    )


async def settle(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def test_one_set_per_contraction_and_stream_however_often_it_arrives(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox, post = MemoryOutbox(), ScriptedReceiver()
        tx = transmitter(tmp_path, post, outbox)
        await tx.start()
        a, b = contraction(), contraction(cause_action_id="act-8")
        assert await tx.accept([a, a, b]) == 4  # 2 contractions x 2 streams
        assert await tx.accept([a, b]) == 0  # replayed
        await settle(lambda: len(post.tokens) == 2)
        # A new transmitter on the same outbox (a restart) knows them too.
        again = transmitter(tmp_path, ScriptedReceiver(), outbox)
        assert await again.accept([b, a]) == 0
        await tx.stop()
        await settle(lambda: outbox.rows[("idp", a.contraction_id)].state == DELIVERED)
        assert {(s, c) for s, c in outbox.rows} == {
            (stream, c.contraction_id) for stream in ("idp", "broker") for c in (a, b)
        }

    run(scenario())


def test_push_retries_then_delivers_and_a_400_is_not_retried(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox = MemoryOutbox()
        post = ScriptedReceiver(Verdict("retry", "HTTP 503"), Verdict("retry", "ConnectError"))
        tx = transmitter(tmp_path, post, outbox, receivers=(PUSH,))
        await tx.start()
        a = contraction()
        await tx.accept([a])
        await settle(lambda: outbox.rows[("idp", a.contraction_id)].state == DELIVERED)
        assert outbox.rows[("idp", a.contraction_id)].attempts == 3
        assert len(set(post.tokens)) == 1  # the same signed SET each time

        post.answers = [Verdict("refused", "HTTP 400 invalid_audience")]
        b = contraction(cause_action_id="act-8")
        await tx.accept([b])
        await settle(lambda: outbox.rows[("idp", b.contraction_id)].state == FAILED)
        await asyncio.sleep(0.1)  # longer than every backoff: nothing more is sent
        assert outbox.rows[("idp", b.contraction_id)].attempts == 1
        assert outbox.rows[("idp", b.contraction_id)].last_error == "HTTP 400 invalid_audience"
        assert len(post.tokens) == 4
        await tx.stop()

    run(scenario())


def test_retries_are_bounded(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox = MemoryOutbox()
        post = ScriptedReceiver(*[Verdict("retry", "HTTP 502")] * 10)
        tx = transmitter(tmp_path, post, outbox, receivers=(PUSH,))
        await tx.start()
        a = contraction()
        await tx.accept([a])
        await settle(lambda: outbox.rows[("idp", a.contraction_id)].state == FAILED)
        await asyncio.sleep(0.1)
        assert len(post.tokens) == 3  # the policy's attempts, no more
        await tx.stop()

    run(scenario())


def test_a_failing_receiver_does_not_hold_up_another(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox = MemoryOutbox()
        other = SsfReceiver(name="other", audience="o", url="https://other.example/ssf")
        answers = {"idp": [Verdict("retry", "HTTP 503")] * 50}
        sent: dict[str, list[str]] = {"idp": [], "other": []}

        async def post(receiver: SsfReceiver, token: str) -> Verdict:
            sent[receiver.name].append(token)
            if receiver.name == "idp":
                await asyncio.sleep(0.05)  # slow as well as failing
            queue = answers.get(receiver.name)
            return queue.pop(0) if queue else Verdict("delivered")

        tx = Transmitter(
            SetSigner(signing_key(tmp_path)),
            "https://ledger.example",
            (PUSH, other),
            outbox,
            post=post,
            policy=RetryPolicy(base_s=1.0, cap_s=1.0, attempts=50),
            poll_wait_s=0.05,
        )
        await tx.start()
        batch = [contraction(cause_action_id=f"act-{n}") for n in range(5)]
        await tx.accept(batch)
        await settle(lambda: len(sent["other"]) == 5, timeout=1.0)
        assert all(outbox.rows[("other", c.contraction_id)].state == DELIVERED for c in batch)
        assert all(outbox.rows[("idp", c.contraction_id)].state == PENDING for c in batch)
        await tx.stop()

    run(scenario())


def test_pending_sets_are_offered_again_after_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox = MemoryOutbox()
        first = ScriptedReceiver(*[Verdict("retry", "HTTP 503")] * 10)
        tx = transmitter(tmp_path, first, outbox, policy=RetryPolicy(5.0, 5.0, 10))
        await tx.start()
        a = contraction()
        await tx.accept([a])
        await settle(lambda: len(first.tokens) == 1)
        await tx.stop()  # stopped while the SET waits for its next attempt

        second = ScriptedReceiver()
        restarted = transmitter(tmp_path, second, outbox)
        await restarted.start()
        await settle(lambda: outbox.rows[("idp", a.contraction_id)].state == DELIVERED)
        assert second.tokens == first.tokens[:1]  # the same SET, the same jti
        reply = await restarted.poll("broker", PollRequest(return_immediately=True))
        assert list(reply["sets"]) == [set_jti(a.contraction_id, "broker")]
        await restarted.stop()

    run(scenario())


# -- poll ----------------------------------------------------------------------------------
def test_poll_hands_out_until_acknowledged(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox = MemoryOutbox()
        tx = transmitter(tmp_path, ScriptedReceiver(), outbox, receivers=(POLL,))
        await tx.start()
        batch = [contraction(cause_action_id=f"act-{n}") for n in range(3)]
        await tx.accept(batch)
        jtis = [set_jti(c.contraction_id, "broker") for c in batch]

        first = await tx.poll("broker", PollRequest(max_events=2, return_immediately=True))
        assert list(first["sets"]) == jtis[:2] and first["moreAvailable"] is True
        for jti, token in first["sets"].items():
            claims = verify_set(token, tx.jwks()).claims
            assert claims["jti"] == jti and claims["aud"] == "https://broker.example"

        # Not acknowledged: handed out again. Acknowledged: gone.
        again = await tx.poll("broker", PollRequest(max_events=2, return_immediately=True))
        assert list(again["sets"]) == jtis[:2]
        acked = await tx.poll(
            "broker", PollRequest(max_events=5, return_immediately=True, ack=tuple(jtis[:2]))
        )
        assert list(acked["sets"]) == jtis[2:] and acked["moreAvailable"] is False
        assert outbox.rows[("broker", batch[0].contraction_id)].state == ACKED

        # maxEvents 0 acknowledges only; setErrs settle a SET as failed.
        errs = {jtis[2]: {"err": "invalid_key", "description": "kid unknown"}}
        last = await tx.poll("broker", PollRequest(max_events=0, set_errs=errs))
        assert last == {"sets": {}, "moreAvailable": False}
        failed = outbox.rows[("broker", batch[2].contraction_id)]
        assert failed.state == FAILED and failed.last_error == "invalid_key: kid unknown"

        # Unknown or already settled jtis are no error.
        await tx.poll("broker", PollRequest(return_immediately=True, ack=("nope", jtis[0])))
        assert outbox.writes.count((jtis[0], ACKED)) == 1
        with pytest.raises(UnknownStream):
            await tx.poll("idp", PollRequest())
        await tx.stop()

    run(scenario())


def test_a_long_poll_returns_when_a_set_arrives(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox = MemoryOutbox()
        tx = Transmitter(
            SetSigner(signing_key(tmp_path)),
            "https://ledger.example",
            (POLL,),
            outbox,
            post=ScriptedReceiver(),
            policy=RetryPolicy(),
            poll_wait_s=30.0,
        )
        await tx.start()
        waiting = asyncio.create_task(tx.poll("broker", PollRequest()))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await tx.accept([contraction()])
        reply = await asyncio.wait_for(waiting, 2.0)
        assert len(reply["sets"]) == 1

        empty = asyncio.create_task(tx.poll("broker", PollRequest(ack=tuple(reply["sets"]))))
        await asyncio.sleep(0.05)
        await tx.stop()  # a stopping transmitter answers its long polls at once
        assert (await asyncio.wait_for(empty, 2.0))["sets"] == {}

    run(scenario())


def test_a_message_that_is_no_contraction_is_passed_over() -> None:
    from typing import NamedTuple

    from kernel import contraction as codec

    class Message(NamedTuple):
        topic: str
        partition: int
        offset: int
        value: bytes

    good = contraction()
    batch = [
        Message("ledger.contractions", 0, 7, b"\x00not avro"),
        Message("ledger.contractions", 0, 8, codec.encode(good)),
    ]
    assert decode_batch(batch) == [good]


def test_a_receiver_that_stops_polling_holds_at_most_the_newest_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssf_delivery, "MAX_POLL_PENDING", 3)

    async def scenario() -> None:
        outbox = MemoryOutbox()
        tx = transmitter(tmp_path, ScriptedReceiver(), outbox, receivers=(POLL,))
        await tx.start()
        batch = [contraction(cause_action_id=f"act-{n}") for n in range(5)]
        assert await tx.accept(batch) == 5
        jtis = [set_jti(c.contraction_id, "broker") for c in batch]
        # The two oldest are let go, kept in the outbox as failed with why; the newest wait.
        for c in batch[:2]:
            item = outbox.rows[("broker", c.contraction_id)]
            assert item.state == FAILED and item.last_error.startswith("not polled")
        waiting = await tx.poll("broker", PollRequest(max_events=10, return_immediately=True))
        assert list(waiting["sets"]) == jtis[2:]
        # After a restart the outbox offers only what is still pending.
        again = transmitter(tmp_path, ScriptedReceiver(), outbox, receivers=(POLL,))
        await again.start()
        offered = await again.poll("broker", PollRequest(max_events=10, return_immediately=True))
        assert list(offered["sets"]) == jtis[2:]
        await tx.stop()
        await again.stop()

    run(scenario())
