"""Session counters a replay after a part-way write cannot double: each row's base, the
counters its session had when the row's write began, and what a restart restores."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel import events as ev
from kernel.codec import Envelope
from kernel.events import Event
from ledger.projections import StitchRows
from ledger.rows import StitchOutput
from processors.recount import WriteBases, held_keys, restored
from processors.stitch import Stitcher

pytestmark = pytest.mark.unit

T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)


def _session(
    session_id: str, version: int, counts: tuple[int, int, int], base: tuple[int, int, int]
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "version": version,
        "event_count": counts[0],
        "action_count": counts[1],
        "failure_count": counts[2],
        "base_event_count": base[0],
        "base_action_count": base[1],
        "base_failure_count": base[2],
    }


def _counts(rows: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    return {
        r["session_id"]: (r["event_count"], r["action_count"], r["failure_count"]) for r in rows
    }


def _bases(rows: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    last = {r["session_id"]: r for r in rows}
    return {
        sid: (r["base_event_count"], r["base_action_count"], r["base_failure_count"])
        for sid, r in last.items()
    }


def _rows(sessions: list[dict[str, Any]], keys: list[dict[str, Any]] | None = None) -> StitchRows:
    return StitchRows(keys or [], [], sessions, [], [], [], [])


def test_a_row_whose_write_left_no_record_is_restored_with_its_base() -> None:
    sessions = [
        _session("s-done", 100, (5, 4, 1), (2, 2, 0)),  # its batch's records are there
        _session("s-cut", 200, (9, 6, 2), (4, 3, 1)),  # they are not
        _session("s-same", 200, (3, 3, 0), (3, 3, 0)),  # touched by no count of the cut write
        _session("s-old", 7, (8, 8, 0), (8, 8, 0)),  # written before the base columns
    ]
    asked: list[Collection[int]] = []

    def recorded(versions: Collection[int]) -> set[int]:
        asked.append(set(versions))
        return {100} & set(versions)

    rows = restored(_rows(sessions), recorded)
    assert _counts(rows.sessions) == {
        "s-done": (5, 4, 1),
        "s-cut": (4, 3, 1),
        "s-same": (3, 3, 0),
        "s-old": (8, 8, 0),
    }
    # Only rows whose base differs from their counters are looked up.
    assert asked == [{100, 200}]


def test_a_row_read_without_the_base_columns_keeps_its_counters() -> None:
    row = {"session_id": "s-1", "version": 3, "event_count": 4, "action_count": 2}
    row["failure_count"] = 0
    rows = restored(_rows([row]), lambda versions: set())
    assert _counts(rows.sessions) == {"s-1": (4, 2, 0)}


def test_keys_that_lead_to_no_session_row_are_left_out() -> None:
    keys = [
        {"key_type": "jti", "key_value": "a", "session_id": "s-1"},
        {"key_type": "jti", "key_value": "b", "session_id": "s-merged"},
        {"key_type": "jti", "key_value": "c", "session_id": "s-new"},  # its row never landed
    ]
    aliases = [{"alias_id": "s-merged", "session_id": "s-1"}]
    sessions = [_session("s-1", 1, (1, 1, 0), (1, 1, 0))]
    kept = held_keys(keys, sessions, aliases)
    assert [k["key_value"] for k in kept] == ["a", "b"]


def test_later_batches_of_a_write_are_based_where_the_write_began() -> None:
    bases = WriteBases()
    first = StitchOutput(
        sessions=[
            _session("s-a", 1, (5, 3, 0), (2, 1, 0)),
            _session("s-b", 1, (7, 7, 1), (6, 6, 1)),
        ]
    )
    bases.take(first)
    # The second batch merges s-b into s-a: its row of s-a is based on both sessions'
    # counters as that batch began.
    second = StitchOutput(
        sessions=[_session("s-a", 2, (14, 12, 1), (12, 10, 1))],
        session_aliases=[{"alias_id": "s-b", "session_id": "s-a"}],
    )
    bases.take(second)
    assert _bases(second.sessions) == {"s-a": (2 + 6, 1 + 6, 0 + 1)}
    third = StitchOutput(sessions=[_session("s-a", 3, (15, 12, 1), (14, 12, 1))])
    bases.take(third)
    assert _bases(third.sessions) == {"s-a": (8, 7, 1)}


def _call(n: int, trace: str, outcome: str = ev.SUCCESS) -> Envelope:
    event = Event(
        event_id=f"e-{n}",
        source="api_gateway",
        kind=ev.API_CALL,
        event_time=T0 + timedelta(seconds=n),
        operation="GET",
        position=f"api.jsonl:{n}",
        raw=f'{{"id":"e-{n}"}}',
        principal="ann@acme.example",
        principal_type="User",
        keys=[(ev.KEY_TRACE, trace)],
        outcome=outcome,
    )
    return Envelope(event, ingested_at=T0, ingest_batch="b")


def test_the_stitcher_bases_each_batch_row_on_the_row_before_and_what_it_absorbed() -> None:
    stitcher = Stitcher()
    first = stitcher.process([_call(1, "t-1"), _call(2, "t-2", ev.FAILURE)])
    assert {b for b in _bases(first.sessions).values()} == {(0, 0, 0)}
    second = stitcher.process([_call(3, "t-1")])
    [row] = second.sessions
    assert (row["event_count"], row["base_event_count"]) == (2, 1)
    # Rows coalesced into one write: the later batch's row is based where the write began.
    bases = WriteBases()
    bases.take(first)
    bases.take(second)
    assert (row["event_count"], row["base_event_count"]) == (2, 0)


def test_a_merge_the_ledger_does_not_hold_leaves_the_merged_sessions_standing_alone() -> None:
    """The cut write merged s-b (which had merged s-c in the same write) into s-a; its
    sessions rows landed, its alias rows did not: each stands alone again, as when the
    write began, and the replay merges them again."""
    a = _session("s-a", 9, (20, 15, 2), (12, 9, 1)) | {"base_merged": ["s-b", "s-c"]}
    b = _session("s-b", 8, (7, 5, 1), (6, 4, 1)) | {"base_merged": ["s-c"]}
    c = _session("s-c", 3, (2, 2, 0), (2, 2, 0))
    rows = restored(_rows([a, b, c]), lambda versions: set())
    assert _counts(rows.sessions) == {"s-a": (6, 5, 0), "s-b": (4, 2, 1), "s-c": (2, 2, 0)}
    # Had the alias rows landed, the merge stands and s-a's base holds all three.
    aliases = [{"alias_id": m, "session_id": "s-a"} for m in ("s-b", "s-c")]
    held = StitchRows([], aliases, [a, b, c], [], [], [], [])
    assert _counts(restored(held, lambda versions: set()).sessions)["s-a"] == (12, 9, 1)


def test_coalesced_batches_carry_what_merged_in_earlier_ones() -> None:
    bases = WriteBases()
    first = StitchOutput(
        sessions=[_session("s-b", 1, (5, 5, 0), (3, 3, 0)) | {"base_merged": ["s-c"]}]
    )
    bases.take(first)
    second = StitchOutput(
        sessions=[_session("s-a", 2, (9, 9, 0), (8, 8, 0)) | {"base_merged": ["s-b"]}],
        session_aliases=[
            {"alias_id": "s-b", "session_id": "s-a"},
            {"alias_id": "s-c", "session_id": "s-a"},
        ],
    )
    bases.take(second)
    [row] = second.sessions
    assert (row["base_event_count"], row["base_merged"]) == (8 - 2, ["s-c", "s-b"])
