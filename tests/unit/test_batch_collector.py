"""The worker keeps what outlives a batch out of the garbage collector, and still frees
cycles let go since, at each full pass."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from processors.sink_parts import BatchCollector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def _cycle() -> weakref.ref[Node]:
    """Two nodes that refer to each other and to nothing else: only the collector frees
    them. A weak reference to one of them tells when it has."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture(autouse=True)
def thawed(collector_on: None) -> Iterator[None]:
    # Automatic collections on for each test, as a worker process starts (``collector_on``).
    yield
    gc.unfreeze()


def test_what_survives_a_batch_is_frozen() -> None:
    collector = BatchCollector(full_every=1_000)
    state = [Node() for _ in range(100)]
    before = gc.get_freeze_count()
    collector.after_batch(10)
    assert gc.get_freeze_count() >= before + len(state)


def test_a_full_pass_waits_for_an_idle_stream_and_frees_cycles_among_frozen_state() -> None:
    collector = BatchCollector(full_every=100, forced_every=1_000)
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    gone = weakref.ref(a)
    collector.after_batch(10)  # frozen with the rest
    del a, b
    gc.collect()
    assert gone() is not None  # frozen: not collected
    collector.when_idle()  # idle, but only 10 events since the last pass: not due
    assert gone() is not None and collector.passes == 0
    collector.after_batch(90)  # due now, but the stream is busy: no pause for it
    assert gone() is not None and collector.passes == 0
    collector.when_idle()
    assert gone() is None
    assert (collector.since_full, collector.passes) == (0, 1)


def test_a_stream_that_never_idles_gets_its_full_pass_at_forced_every() -> None:
    collector = BatchCollector(full_every=100, forced_every=1_000)
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    collector.after_batch(10)
    del a, b
    for _ in range(98):
        collector.after_batch(10)
    assert gone() is not None and collector.passes == 0
    collector.after_batch(10)  # the thousandth event
    assert gone() is None and collector.passes == 1 and collector.since_full == 0


def test_while_running_there_are_no_automatic_collections_and_after_it_as_before() -> None:
    collector = BatchCollector()
    assert gc.isenabled()
    with collector.running():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_while_running_nothing_is_collected_until_the_full_pass() -> None:
    collector = BatchCollector(full_every=100, forced_every=1_000)
    with collector.running():
        gone = _cycle()
        # Kept alive, allocations that would have started collections.
        built = [Node() for _ in range(100_000)]
        assert gone() is not None  # nothing collected on its own
        collector.after_batch(100)  # frozen with the batch's state
        assert gone() is not None and gc.get_freeze_count() >= len(built)
        collector.when_idle()  # due: the full pass frees it
        assert gone() is None and collector.passes == 1


def test_an_idle_stream_collects_what_its_polls_let_go() -> None:
    collector = BatchCollector(full_every=1_000)
    with collector.running():
        gone = _cycle()
        collector.when_idle()  # no full pass due: the young objects only
        assert gone() is None and collector.passes == 0


def test_a_due_full_pass_waits_while_a_write_is_in_hand() -> None:
    """The last batches' write and commit are not held back by the pass: it runs at the
    first idle look once the writer has nothing in hand."""
    collector = BatchCollector(full_every=100, forced_every=1_000)
    with collector.running():
        gone = _cycle()
        collector.after_batch(100)  # due
        collector.when_idle(writing=True)
        assert gone() is not None and collector.passes == 0 and collector.since_full == 100
        collector.when_idle(writing=False)
        assert gone() is None and collector.passes == 1
