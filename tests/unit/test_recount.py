"""What a restart takes back from the sessions a write stopped part-way had counted."""

from __future__ import annotations

from typing import Any

from processors.recount import held_keys, uncount_unfinished


def _session(session_id: str, version: int, events: int, actions: int, failures: int = 0) -> Any:
    return {
        "session_id": session_id,
        "version": version,
        "event_count": events,
        "action_count": actions,
        "failure_count": failures,
    }


def _action(session_id: str, version: int, kind: str = "api_call", **row: Any) -> Any:
    base = {"action_id": f"a-{version}", "session_id": session_id, "version": version}
    return base | {"kind": kind, "outcome": "success", "outcome_event_id": ""} | row


def _counts(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    return {
        r["session_id"]: (r["event_count"], r["action_count"], r["failure_count"]) for r in rows
    }


def test_what_actions_without_raw_events_counted_is_taken_back_where_it_was_counted() -> None:
    sessions = [
        _session("s-counted", 200, 10, 6, 1),
        _session("s-root", 300, 8, 5),
        _session("s-before", 100, 4, 4),
    ]
    aliases = [{"alias_id": "s-merged", "session_id": "s-root"}]
    unfinished = [
        _action("s-counted", 200, outcome="failure"),
        # A tool call answered in the same write (its row written again, version + 1).
        _action("s-counted", 201, "tool_call", outcome_event_id="r-1"),
        _action("s-merged", 250),  # counted in the session it merged into
        _action("s-before", 150),  # the write stopped before this session's row
    ]
    assert _counts(uncount_unfinished(sessions, aliases, unfinished)) == {
        "s-counted": (7, 4, 0),
        "s-root": (7, 4, 0),
        "s-before": (4, 4, 0),
    }


def test_nothing_unfinished_leaves_the_counters_as_they_are() -> None:
    sessions = [_session("s-1", 5, 3, 2)]
    assert uncount_unfinished(sessions, [], []) == sessions


def test_keys_that_lead_to_no_session_row_are_left_out() -> None:
    keys = [
        {"key_type": "jti", "key_value": "a", "session_id": "s-1"},
        {"key_type": "jti", "key_value": "b", "session_id": "s-merged"},
        {"key_type": "jti", "key_value": "c", "session_id": "s-new"},  # its row never landed
    ]
    aliases = [{"alias_id": "s-merged", "session_id": "s-1"}]
    kept = held_keys(keys, [_session("s-1", 1, 1, 1)], aliases)
    assert [k["key_value"] for k in kept] == ["a", "b"]
