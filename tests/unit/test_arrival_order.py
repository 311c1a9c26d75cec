"""A fetched batch is stitched in the order its messages were produced, each partition's in
its own order: a call produced just before a block of other traffic on another partition is
not stitched behind that block."""

from __future__ import annotations

from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from processors.sink_parts import in_arrival_order


class Message(NamedTuple):
    partition: int
    offset: int
    timestamp: int


def _partition(number: int, times: list[int]) -> list[Message]:
    return [Message(number, offset, at) for offset, at in enumerate(times)]


def test_a_call_produced_before_a_block_goes_ahead_of_it() -> None:
    block = _partition(0, [1_004] * 500)  # fetched first, produced 4 ms after the call
    call = _partition(3, [1_000])
    ordered = in_arrival_order({("calls", 0): block, ("calls", 3): call})
    assert ordered[0] == call[0]
    assert ordered[1:] == block


def test_partitions_interleave_by_time() -> None:
    a = _partition(0, [10, 30, 50])
    b = _partition(1, [20, 40])
    ordered = in_arrival_order({"a": a, "b": b})
    assert [m.timestamp for m in ordered] == [10, 20, 30, 40, 50]


def test_one_partition_and_none() -> None:
    a = _partition(0, [30, 10, 20])  # one partition: as fetched, whatever its times
    assert in_arrival_order({"a": a}) == a
    assert in_arrival_order({}) == []
    assert in_arrival_order({"a": [], "b": a}) == a


@given(st.lists(st.lists(st.integers(0, 50), max_size=12), max_size=5))
def test_each_partition_keeps_its_order_and_nothing_is_lost(times: list[list[int]]) -> None:
    # Timestamps within a partition need not rise (producers' clocks differ): its messages
    # still come out in offset order.
    batch = {n: _partition(n, t) for n, t in enumerate(times)}
    ordered = in_arrival_order(batch)
    assert sorted(ordered) == sorted(m for ms in batch.values() for m in ms)
    for n, messages in batch.items():
        assert [m for m in ordered if m.partition == n] == messages
