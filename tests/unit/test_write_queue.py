"""The worker's queue of batches waiting for their ledger write: bounded by the events they
hold, so that many small batches (a drifting call read alone) do not fill it."""

from __future__ import annotations

import asyncio

from processors.sink_loop import WRITE_MIN_EVENTS, WRITES_IN_FLIGHT, uncommitted_most
from processors.sink_parts import Pending, WriteQueue


def _batch(events: int, offset: int = 0) -> Pending:
    pending = Pending({("t", 0): offset})
    pending.events = events
    return pending


def test_small_batches_fit_where_a_count_of_batches_would_not() -> None:
    queue = WriteQueue(most_events=100)
    # Forty one-event batches: eight would have filled a queue bounded by batches.
    assert all(queue.put_nowait(_batch(1, n)) for n in range(40))
    assert queue.events == 40
    assert queue.put_nowait(_batch(60)) is True
    assert queue.put_nowait(_batch(1)) is False  # 101 events would not fit
    assert queue.events == 100


def test_a_batch_larger_than_the_bound_goes_in_alone() -> None:
    queue = WriteQueue(most_events=10)
    assert queue.put_nowait(_batch(25)) is True
    assert queue.put_nowait(_batch(1)) is False
    assert queue.get_nowait() is not None
    assert queue.empty() and queue.events == 0
    assert queue.put_nowait(_batch(1)) is True


def test_batches_come_out_in_order_and_the_end_marker_counts_nothing() -> None:
    queue = WriteQueue(most_events=10)
    for n in range(3):
        assert queue.put_nowait(_batch(3, n))
    assert queue.put_nowait(None) is True  # the end goes in even with the queue near full
    taken = [queue.get_nowait() for _ in range(4)]
    assert [p.offsets[("t", 0)] for p in taken if p is not None] == [0, 1, 2]
    assert taken[-1] is None
    assert queue.events == 0


def test_a_put_waits_for_room_and_a_get_for_a_batch() -> None:
    async def scenario() -> list[str]:
        queue = WriteQueue(most_events=5)
        seen: list[str] = []

        async def writer() -> None:
            while (item := await queue.get()) is not None:
                seen.append(f"wrote {item.events}")
                await asyncio.sleep(0.01)

        task = asyncio.create_task(writer())
        await asyncio.sleep(0)  # the writer waits on an empty queue
        await queue.put(_batch(4))
        await queue.put(_batch(4))  # waits until the first is taken
        seen.append(f"queued, {queue.events} waiting")
        await queue.put(None)
        await asyncio.wait_for(task, 5)
        return seen

    seen = asyncio.run(scenario())
    assert seen == ["wrote 4", "queued, 4 waiting", "wrote 4"]


def test_the_take_over_span_covers_everything_a_worker_holds_uncommitted() -> None:
    batch_max = 2_500
    # The write under way (up to WRITE_MIN_EVENTS, plus the batch that took it past),
    # the queue, the batch being stitched, a lane batch taken between its slices and the
    # batch read ahead.
    held = (WRITE_MIN_EVENTS - 1 + batch_max) + WRITES_IN_FLIGHT * batch_max + 3 * batch_max
    assert uncommitted_most(batch_max) >= held


def test_a_batch_waits_for_every_acknowledgement_its_slices_and_joined_batches_carry() -> None:
    async def run() -> list[str]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        first, second, third = (loop.create_future() for _ in range(3))
        batch = _batch(2)
        batch.acks = [first]
        later = _batch(3)
        later.acks = [second, third]
        batch.absorb(later)  # two batches in one write: all three contractions
        waiting = asyncio.ensure_future(batch.published())
        for future, name in ((first, "a"), (third, "c")):
            future.set_result(name)
            await asyncio.sleep(0)
            seen.append(f"done={waiting.done()}")
        second.set_result("b")
        await waiting
        seen.append(f"done={waiting.done()}")
        await batch.published()  # nothing left to wait for
        return seen

    assert asyncio.run(run()) == ["done=False", "done=False", "done=True"]


def test_a_contraction_the_broker_refused_stops_its_batch_from_being_written() -> None:
    async def run() -> str:
        refused = asyncio.get_running_loop().create_future()
        refused.set_exception(ConnectionError("broker gone"))
        batch = _batch(1)
        batch.acks = [refused]
        try:
            await batch.published()
        except ConnectionError as exc:
            return str(exc)
        return "written"

    assert asyncio.run(run()) == "broker gone"
