"""Which events a sink asks the ledger about: none it stitched lately, none newer than all
the ledger may hold, and, after a take-over, every one a previous owner may be writing
still (``processors.sink_parts.RecentIds``, ``processors.sink.EventSink.keys_of``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel.topics import Topics
from processors.sink import EventSink
from processors.sink_parts import ALWAYS, NEVER, RecentIds
from processors.stitch import Stitcher


def test_before_a_take_over_everything_not_stitched_lately_is_asked() -> None:
    recent = RecentIds()
    recent.add_all(["a"], newest=10)
    assert recent.through == ALWAYS
    assert list(recent.unheld([("a", 10), ("b", 5), None, ("c", 10**15)])) == [
        ("b", 5),
        ("c", 10**15),
    ]


def test_after_a_take_over_only_events_no_newer_than_the_ledger_held_are_asked() -> None:
    recent = RecentIds()
    recent.took_over(1_000)
    assert list(recent.unheld([("old", 999), ("same", 1_000), ("new", 1_001)])) == [
        ("old", 999),
        ("same", 1_000),
    ]


def test_an_empty_ledger_is_asked_about_nothing() -> None:
    recent = RecentIds()
    recent.took_over(None)
    assert recent.through == NEVER
    assert list(recent.unheld([("a", 0), ("b", -(10**12))])) == []


def test_ids_let_go_raise_the_time_through_which_events_are_asked() -> None:
    recent = RecentIds(capacity=4)
    recent.took_over(100)
    recent.add_all(["a", "b"], newest=200)
    recent.add_all(["c", "d"], newest=300)
    assert recent.through == 100 and len(recent) == 4
    recent.add_all(["e"], newest=400)  # "a" goes: its batch's others are still here
    assert "a" not in recent and recent.through == 100
    recent.add_all(["f"], newest=500)  # "b" goes: all of the first batch is gone
    assert recent.through == 200
    # "a", let go, is asked about again; a newer event not stitched is not.
    assert list(recent.unheld([("a", 150), ("c", 250), ("g", 201)])) == [("a", 150)]


def test_an_id_added_again_is_counted_once() -> None:
    recent = RecentIds(capacity=2)
    recent.took_over(None)
    recent.add_all(["a", "a", "b"], newest=20)
    recent.add_all(["b"], newest=30)  # already here: no new entry to let go later
    recent.add_all(["c"], newest=40)
    assert "a" not in recent and recent.through == NEVER  # "b" of the first batch is here
    recent.add_all(["d"], newest=50)
    assert recent.through == 20


@dataclass
class _Message:
    topic: str
    partition: int
    offset: int


def _sink() -> EventSink:
    return EventSink(store=None, topics=Topics("t"), stitcher=Stitcher())  # type: ignore[arg-type]


def test_a_previous_owner_s_span_is_asked_whatever_its_time() -> None:
    sink = _sink()
    sink.took_over(1_000, replay_span=3)
    # The first offset read on a partition since the take-over is where the span begins.
    assert [sink.from_last_owner("t.events", 0, o) for o in (40, 41, 42, 43)] == [
        True,
        True,
        True,
        False,
    ]
    assert sink.from_last_owner("t.events", 1, 7) and not sink.from_last_owner("t.events", 1, 10)
    keys = [("new-1", 5_000), ("old", 900), ("new-2", 6_000)]
    assert sink.keys_to_ask(keys[:2], replays=[keys[2]]) == [("new-2", 6_000), ("old", 900)]


def test_keys_of_messages_asks_a_previous_owner_s_span_and_what_the_ledger_may_hold(
    monkeypatch: Any,
) -> None:
    keys = {41: ("replayed", 9_000), 44: ("fresh", 9_001), 45: ("older", 10)}
    monkeypatch.setattr(
        "processors.sink.event_key_of_message", lambda message: keys.get(message.offset)
    )
    sink = _sink()
    sink.took_over(1_000, replay_span=2)
    messages = [_Message("t.events.calls", 0, offset) for offset in (40, 41, 44, 45)]
    # Offset 40 has no key off the bytes (the decode reads it); 41 is in the span.
    assert sink.keys_of(messages) == ([("replayed", 9_000), ("older", 10)], 1)
    sink.recent.add_all(["replayed"], newest=9_000)
    assert sink.keys_of(messages).keys == [("older", 10)]


def test_a_batch_with_nothing_to_ask_is_not_handed_to_a_thread() -> None:
    sink = _sink()  # no tamper evidence: no chain heads to read
    assert sink.nothing_to_look_up([], [])
    assert not sink.nothing_to_look_up([], [("a", 1)])


def test_the_span_ends_where_the_partition_ended_when_first_read() -> None:
    sink = _sink()
    sink.took_over(1_000, replay_span=100)
    # The old owner read, at most, what the partition held: its end at the first fetch.
    assert sink.from_last_owner("t.events.calls", 0, 40, end=42)
    assert sink.from_last_owner("t.events.calls", 0, 41)
    assert not sink.from_last_owner("t.events.calls", 0, 42)
    # Read to its end already: nothing of it is the old owner's; a long one stops at the span.
    assert not sink.from_last_owner("t.events.calls", 1, 9, end=9)
    assert sink.from_last_owner("t.events", 0, 0, end=10_000)
    assert sink.from_last_owner("t.events", 0, 99) and not sink.from_last_owner("t.events", 0, 100)
    # A new take-over begins the spans again.
    sink.took_over(2_000, replay_span=100)
    assert sink.from_last_owner("t.events.calls", 0, 50, end=51)


def test_keys_of_messages_reads_each_partition_s_end_once(monkeypatch: Any) -> None:
    monkeypatch.setattr(
        "processors.sink.event_key_of_message", lambda message: (f"e{message.offset}", 5_000)
    )
    ends = []

    def end_of(topic: str, partition: int) -> int:
        ends.append((topic, partition))
        return 12

    sink = _sink()
    sink.took_over(1_000, replay_span=100)
    messages = [_Message("t.events.calls", 0, offset) for offset in (10, 11, 12, 13)]
    assert sink.keys_of(messages, end_of) == ([("e10", 5_000), ("e11", 5_000)], 0)
    assert ends == [("t.events.calls", 0)]
