"""The ceiling of ``agentledger bench``: the two bare steps' rates and what they make."""

from __future__ import annotations

import pytest

from agentledger.bench_ceiling import (
    Ceiling,
    ceiling_figures,
    ceiling_lines,
    write_count,
    write_slices,
)


def _ceiling(consume_seconds: float, insert_seconds: float, consumed: int = 10_000) -> Ceiling:
    return Ceiling(
        events=10_000,
        topics=["ledger.events", "ledger.events.calls"],
        consumed=consumed,
        consume_seconds=consume_seconds,
        inserted_rows={"raw_events": 10_000, "actions": 6_000},
        insert_seconds=insert_seconds,
        insert_seconds_by_table={
            "raw_events": insert_seconds * 0.75,
            "actions": insert_seconds / 4,
        },
    )


def test_the_ceiling_adds_the_two_steps_times_per_event() -> None:
    # 100k/s to read and 25k/s to write: 10 + 40 µs an event, so 20k/s both in turn.
    figures = ceiling_figures(_ceiling(0.1, 0.4), end_to_end_events_per_s=5_000)
    assert figures["consume_events_per_s"] == 100_000
    assert figures["insert_events_per_s"] == 25_000
    assert figures["events_per_s"] == 20_000
    assert figures["overlapped_events_per_s"] == 25_000
    assert figures["share"] == 0.25
    assert figures["formula"] == "1 / (1/consume + 1/insert)"
    assert figures["inserted_rows"] == {"actions": 6_000, "raw_events": 10_000}
    assert figures["insert_seconds_by_table"] == {"actions": 0.1, "raw_events": 0.3}
    assert figures["insert_writes"] == 1  # 10,000 events: one write of a worker under load


def test_the_consume_rate_counts_the_messages_read() -> None:
    # Two reads for every event (say a topic shared with another run) halve the rate.
    figures = ceiling_figures(_ceiling(0.1, 0.1, consumed=5_000), end_to_end_events_per_s=1)
    assert figures["consume_events_per_s"] == 50_000
    assert figures["events_per_s"] == pytest.approx(1 / (1 / 50_000 + 1 / 100_000), abs=0.1)


def test_the_lines_name_the_formula_and_the_share() -> None:
    figures = ceiling_figures(_ceiling(0.1, 0.4), end_to_end_events_per_s=5_000)
    lines = ceiling_lines(figures, 5_000)
    assert lines[0].split()[:4] == ["bare", "consume", "100,000", "events/s"]
    assert "16,000 rows, 2 tables" in lines[1]
    assert lines[1].endswith("in 0.4 s (raw_events 0.3 s)")  # the slowest table's insert
    assert lines[2].split()[1:3] == ["20,000", "events/s"] and lines[2].endswith(
        "1 / (1/consume + 1/insert)"
    )
    assert lines[4].endswith("25.0% of the ceiling")


def test_the_insert_is_cut_into_the_writes_a_worker_makes_under_load() -> None:
    assert write_count(200_000, write_events=10_000) == 20
    assert write_count(200_001, write_events=10_000) == 21
    assert write_count(2_000, write_events=10_000) == 1
    assert write_count(0, write_events=10_000) == 1


@pytest.mark.parametrize(("rows", "writes"), [(10, 3), (9, 3), (2, 3), (0, 3), (1, 1), (7, 20)])
def test_each_row_goes_in_exactly_one_write(rows: int, writes: int) -> None:
    slices = write_slices(rows, writes)
    assert len(slices) <= writes and all(length > 0 for _, length in slices)
    covered = [row for offset, length in slices for row in range(offset, offset + length)]
    assert covered == list(range(rows))
