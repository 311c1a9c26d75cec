"""Session counters that a replay cannot double, by construction.

A write goes table by table and the records (``declarations``, then ``raw_events``), which
mark its batches done, go last. A write stopped part-way (a crash, a kill) can leave a
session's row counting events whose raw records the ledger does not hold; after the
restart those events are replayed, stitched again and counted again.

So each ``sessions`` row carries, beside its counters, the counters its session had when
the row's *write* began (``base_event_count``, ``base_action_count``, ``base_failure_count``):

- the stitcher bases each batch's row on the counters of the session's row before it, plus
  those of every session it absorbed in the batch (``processors.sessions.SessionState``);
- when batches are coalesced into one write (``processors.sink``), ``WriteBases`` takes out
  of a later batch's base what the write's earlier batches added to the session and to the
  sessions it absorbed, so that every row of the write is based where the write began;
- a restart restores a row whose version no record carries (its write did not finish) with
  its base instead of its counters (``restored``); the replay counts the write's events
  once more, and the other session fields are set-like, recomputed by the replay.

A second unfinished write right after a restart is based on what the first restore gave,
which is right; so is a write that carried the replay of only part of an unfinished one.
A row whose base equals its counters reads the same either way: rows written before these
columns (their default is the counters), and a rebuild's rows (``finished``).

A write stopped before a new session's row leaves keys that lead to no session; they are
left out (``held_keys``): the replayed events start the session again and register them.

What it cannot see: a write stopped after its ``session_aliases`` rows and before its
``sessions`` rows leaves a merge whose root's row does not count the absorbed session yet.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping
from dataclasses import replace
from typing import Any

from ledger.projections import StitchRows
from ledger.rows import Row, StitchOutput

COUNTERS = ("event_count", "action_count", "failure_count")
BASES = tuple(f"base_{name}" for name in COUNTERS)
Counts = tuple[int, ...]
_NONE: Counts = (0, 0, 0)


def restored(rows: StitchRows, recorded: Callable[[Collection[int]], set[int]]) -> StitchRows:
    """The rows to restore from: each ``sessions`` row whose write did not finish (no
    record of its version, ``recorded`` says which versions have one) with its base as its
    counters; keys that lead to no session left out."""
    based = {int(s["version"]) for s in rows.sessions if _base(s) != _counts(s)}
    unfinished = based - recorded(based) if based else set()
    sessions = [dict(s) for s in rows.sessions]
    for session in sessions:
        if int(session["version"]) in unfinished:
            session.update(zip(COUNTERS, _base(session), strict=True))
    return replace(rows, sessions=sessions, keys=held_keys(rows.keys, sessions, rows.aliases))


def finished(rows: Iterable[MutableMapping[str, Any]]) -> None:
    """Base ``sessions`` rows on their own counters: rows that need no records to stand
    (a rebuild's, whose records are already in the ledger)."""
    for row in rows:
        row.update(zip(BASES, _counts(row), strict=True))


class WriteBases:
    """What the batches of one write added so far to each session (by the session now
    holding it), to base a later batch's rows where the write began."""

    def __init__(self) -> None:
        self.added: dict[str, Counts] = {}

    def take(self, later: StitchOutput) -> None:
        """Rebase ``later``'s ``sessions`` rows (a batch, or several, joining this write
        after those taken before) on the write's start."""
        carried: dict[str, Counts] = {}
        aliased = set()
        for alias in later.session_aliases:
            alias_id, root = str(alias["alias_id"]), str(alias["session_id"])
            if alias_id == root:
                continue
            aliased.add(alias_id)
            moved = _plus(self.added.pop(alias_id, _NONE), carried.pop(alias_id, _NONE))
            carried[root] = _plus(carried.get(root, _NONE), moved)
        last: dict[str, Row] = {str(row["session_id"]): row for row in later.sessions}
        bases: dict[str, Counts] = {}
        for sid, row in last.items():
            before = _plus(self.added.pop(sid, _NONE), carried.pop(sid, _NONE))
            bases[sid] = tuple(max(0, b - n) for b, n in zip(_base(row), before, strict=True))
            if sid not in aliased:  # else what it added is its root's now
                self.added[sid] = tuple(
                    c - b for c, b in zip(_counts(row), bases[sid], strict=True)
                )
        for row in later.sessions:
            row.update(zip(BASES, bases[str(row["session_id"])], strict=True))


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


def _counts(row: Mapping[str, Any]) -> Counts:
    return tuple(int(row[name]) for name in COUNTERS)


def _base(row: Mapping[str, Any]) -> Counts:
    """A row's base; one read without the columns is based on its own counters."""
    return tuple(int(row.get(base, row[name])) for base, name in zip(BASES, COUNTERS, strict=True))


def _plus(a: Counts, b: Counts) -> Counts:
    return tuple(x + y for x, y in zip(a, b, strict=True))


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
