"""Session counters that a replay cannot double.

A write goes table by table and ``raw_events``, which marks a batch done, goes last. A
write stopped part-way (a crash, a kill) can leave a session's row counting events whose
raw records the ledger does not hold; after the restart those events are replayed,
stitched again and counted again: ``event_count``, ``action_count`` and ``failure_count``
would hold them twice.

Before the state is restored, this takes back from each session what the unfinished write
counted in it, as the ledger shows it: its ``actions`` rows without a raw event
(``ledger.projections.unfinished_actions``). The ``actions`` rows go before the ``sessions``
rows (``ledger.rows.StitchOutput.tables``), so a session row that counts an action never
lands without that action's row; whether it does count it is told by the versions, each
batch writing its rows with its own: a session row at least as new as the action's batch
was written by that batch or a later one of the same write.

Why not count every restored session's events again from ``raw_events``: the counters are
the stitcher's, and the ledger cannot give them back exactly (a result stored before its
request arrived has no session in ``raw_events``; a rebuild links events anew while the raw
rows keep the session they were first stitched into), and that count reads the whole
record table at every start. This reads one write's rows, and leaves a finished ledger's
counters exactly as the stitcher made them.

A write stopped before a new session's row leaves keys that lead to no session; they are
left out (``held_keys``): the replayed events start the session again and register them.

What it cannot see: a JSON-RPC request other than a tool call (its row carries no
outcome) answered inside the same unfinished write still counts its result twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from kernel import events as ev
from ledger.projections import StitchRows


def without_unfinished(rows: StitchRows, unfinished: Iterable[Mapping[str, Any]]) -> StitchRows:
    """The rows to restore from, less what an unfinished write left in them."""
    sessions = uncount_unfinished(rows.sessions, rows.aliases, unfinished)
    return replace(rows, sessions=sessions, keys=held_keys(rows.keys, sessions, rows.aliases))


def held_keys(
    keys: Iterable[Mapping[str, Any]],
    sessions: Iterable[Mapping[str, Any]],
    aliases: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """``session_keys`` rows that lead to a session the ledger has a row of (directly or
    through a merge)."""
    held = {str(s["session_id"]) for s in sessions}
    merged = _merged(aliases)
    return [dict(k) for k in keys if _root(str(k["session_id"]), merged) in held]


def uncount_unfinished(
    sessions: Iterable[Mapping[str, Any]],
    aliases: Iterable[Mapping[str, Any]],
    unfinished: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """``sessions`` rows (read with FINAL) less what ``unfinished`` actions (rows a write
    left without their raw events) counted in them; ``aliases`` resolve merged sessions."""
    rows = [dict(s) for s in sessions]
    by_id = {str(r["session_id"]): r for r in rows}
    merged = _merged(aliases)
    for action in unfinished:
        session = by_id.get(_root(str(action["session_id"]), merged))
        # A tool call's row is written again (version + 1) when its result pairs with it.
        if session is None or int(session["version"]) < int(action["version"]) - 1:
            continue  # the write stopped before this session's row: it counts none of it
        # The event itself, and the result paired with it in the same write: both are
        # replayed and both counted again.
        answered = action["kind"] == ev.TOOL_CALL and bool(action.get("outcome_event_id"))
        session["action_count"] = max(0, int(session["action_count"]) - 1)
        session["event_count"] = max(0, int(session["event_count"]) - 1 - answered)
        if action.get("outcome") == ev.FAILURE:
            session["failure_count"] = max(0, int(session["failure_count"]) - 1)
    return rows


def _merged(aliases: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {
        str(a["alias_id"]): str(a["session_id"])
        for a in aliases
        if a["alias_id"] != a["session_id"]
    }


def _root(session_id: str, merged: Mapping[str, str]) -> str:
    seen = {session_id}
    while session_id in merged and merged[session_id] not in seen:
        session_id = merged[session_id]
        seen.add(session_id)
    return session_id
