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


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_what_survives_a_batch_is_frozen() -> None:
    collector = BatchCollector(full_every=1_000)
    state = [Node() for _ in range(100)]
    before = gc.get_freeze_count()
    collector.after_batch(10)
    assert gc.get_freeze_count() >= before + len(state)


def test_a_full_pass_frees_cycles_among_frozen_state() -> None:
    collector = BatchCollector(full_every=100)
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    gone = weakref.ref(a)
    collector.after_batch(10)  # frozen with the rest
    del a, b
    gc.collect()
    assert gone() is not None  # frozen: not collected
    collector.after_batch(90)  # the full pass, every 100 events
    assert gone() is None
    assert collector.since_full == 0
