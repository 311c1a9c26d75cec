"""The offset arithmetic behind `ingest` waiting for the ledger and `down` draining, and the
reports built on it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agentledger.ingest_wait import IngestOutcome, LedgerWait
from agentledger.stack_drain import (
    lag_text,
    read_stop_report,
    request_stop,
    requested_drain_timeout,
    write_stop_report,
)
from ingest.pipeline import IngestReport
from kernel.lag import SentRanges, lag

EVENTS = "p.events"


def test_lag_counts_what_the_group_has_not_committed_past() -> None:
    # Partition 2 was never committed on: all of it is lag; a commit past the end is none.
    assert lag({0: 10, 1: 5, 2: 3}, {0: 4, 1: 7}) == 6 + 0 + 3
    assert lag({}, {0: 5}) == 0


def test_held_counts_only_this_producers_batches_however_others_interleave() -> None:
    sent = SentRanges()
    sent.add(EVENTS, 0, 0, 5)  # offsets 0-4 ours
    sent.add(EVENTS, 0, 10, 5)  # 5-9 someone else's, 10-14 ours
    sent.add(EVENTS, 1, 3, 2)  # 3-4 ours
    sent.add("p.raw.okta", 0, 0, 7)  # another topic: not counted as events
    assert sent.total(EVENTS) == 12
    assert sent.partitions(EVENTS) == [0, 1]
    assert sent.held(EVENTS, {}) == 0
    # Committed up to 8 on partition 0: our first batch, none of the second.
    assert sent.held(EVENTS, {0: 8}) == 5
    # Committed into the middle of the second batch: offsets 10 and 11.
    assert sent.held(EVENTS, {0: 12, 1: 4}) == 5 + 2 + 1
    assert sent.outstanding(EVENTS, {0: 15, 1: 5}) == 0


def test_an_empty_batch_adds_nothing() -> None:
    sent = SentRanges()
    sent.add(EVENTS, 0, 4, 0)
    assert sent.total(EVENTS) == 0 and sent.partitions(EVENTS) == []


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 50)), max_size=20),
    st.dictionaries(st.integers(0, 3), st.integers(0, 2_000)),
)
def test_held_is_between_none_and_all_and_grows_with_the_commit(
    batches: list[tuple[int, int]], committed: dict[int, int]
) -> None:
    sent = SentRanges()
    ends = dict.fromkeys(range(4), 0)
    for partition, count in batches:  # each batch right after the last on its partition
        sent.add(EVENTS, partition, ends[partition], count)
        ends[partition] += count
    held = sent.held(EVENTS, committed)
    assert 0 <= held <= sent.total(EVENTS)
    # With nobody else producing, what is not held is exactly the lag.
    assert sent.outstanding(EVENTS, committed) == lag(ends, committed)
    further = {p: offset + 1 for p, offset in committed.items()}
    assert sent.held(EVENTS, further) >= held


def _report(accepted: int, rejected: int = 0) -> IngestReport:
    return IngestReport(accepted=accepted, rejected=rejected, events=accepted)


def test_the_report_says_in_the_ledger_only_when_every_event_is_held() -> None:
    done = IngestOutcome(_report(40), 40, LedgerWait(40, 40, 1.25), 300)
    assert done.as_json()["in_ledger"] is True
    assert done.as_json()["events_in_ledger"] == 40 and done.as_json()["waited_s"] == 1.25
    assert done.lines()[0].startswith("40 records (40 events) in the ledger")

    late = IngestOutcome(_report(40), 40, LedgerWait(40, 31, 5.0), 5)
    payload = late.as_json()
    assert (payload["in_ledger"], payload["events_not_in_ledger"]) == (False, 9)
    assert "9 of 40 events" in late.lines()[0] and "on the broker" in late.lines()[0]


def test_no_wait_says_the_records_are_only_on_the_broker() -> None:
    outcome = IngestOutcome(_report(7), 7, None, None)
    assert outcome.as_json()["in_ledger"] is False
    assert outcome.as_json()["events_on_broker"] == 7
    assert "only on the broker" in outcome.lines()[0]


def test_down_asks_for_a_drain_timeout_that_only_its_up_reads(tmp_path: Path) -> None:
    request_stop(tmp_path, 4242, 12.5)
    assert requested_drain_timeout(tmp_path, 4242, 60) == 12.5
    assert requested_drain_timeout(tmp_path, 1, 60) == 60  # another process's request


def test_the_stop_report_is_read_back_for_its_own_pid_only(tmp_path: Path) -> None:
    request_stop(tmp_path, 4242, 1)
    write_stop_report(tmp_path, 4242, drained=False, lost={"p.events": 9}, message="lost 9")
    report = read_stop_report(tmp_path, 4242)
    assert report is not None and report["lost"] == {"p.events": 9} and not report["drained"]
    assert read_stop_report(tmp_path, 4243) is None
    # The request is consumed; the next `down` starts from no stale report.
    assert requested_drain_timeout(tmp_path, 4242, 60) == 60
    request_stop(tmp_path, 4242, 1)
    assert read_stop_report(tmp_path, 4242) is None


def test_lag_text_names_only_topics_with_something_left() -> None:
    assert lag_text({"p.events": 3, "p.sessions.declared": 0}) == "3 on p.events"
    assert lag_text({"p.events": 0}) == "nothing"
