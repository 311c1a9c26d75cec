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

A merge in a cut write: the aliases go after the sessions, so a merge the ledger holds is
always counted in its root's row. A write stopped between the two leaves the merged
sessions without their alias rows: the root's row names them (``base_merged``), and each
is taken out of the root's base, to stand alone as the write began, and be merged again by
the replay.

What it cannot tell: a batch whose raw events the ledger refused, every one, leaves no
record of its version, so its rows are restored with their base at every restart.
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
_NOTHING: tuple[Counts, list[str]] = ((0, 0, 0), [])


def restored(rows: StitchRows, recorded: Callable[[Collection[int]], set[int]]) -> StitchRows:
    """The rows to restore from: each ``sessions`` row whose write did not finish (no
    record of its version, ``recorded`` says which versions have one) with its base as its
    counters, less the sessions merged into it in that write whose merge the ledger does
    not hold (they stand alone again and the replay merges them again); keys that lead to
    no session left out."""
    based = {int(s["version"]) for s in rows.sessions if _based(s)}
    unfinished = based - recorded(based) if based else set()
    sessions = {str(s["session_id"]): dict(s) for s in rows.sessions}
    merged = _merged(rows.aliases)
    done: dict[str, Counts] = {}

    def counts(sid: str) -> Counts:
        """What the session counted when the unfinished write began, on its own."""
        if sid not in done:
            row = sessions[sid]
            done[sid] = _counts(row)  # a cycle of merges cannot recurse for ever
            if int(row["version"]) in unfinished:
                alone = [
                    m
                    for m in row.get("base_merged") or ()
                    if m in sessions and _root(m, merged) != sid
                ]
                total = _base(row)
                for member in alone:
                    total = tuple(t - n for t, n in zip(total, counts(member), strict=True))
                done[sid] = tuple(max(0, n) for n in total)
        return done[sid]

    for sid, row in sessions.items():
        row.update(zip(COUNTERS, counts(sid), strict=True))
    return replace(
        rows,
        sessions=list(sessions.values()),
        keys=held_keys(rows.keys, sessions.values(), rows.aliases),
    )


def finished(rows: Iterable[MutableMapping[str, Any]]) -> None:
    """Base ``sessions`` rows on their own counters: rows that need no records to stand
    (a rebuild's, whose records are already in the ledger)."""
    for row in rows:
        row.update(zip(BASES, _counts(row), strict=True))
        row["base_merged"] = []


class WriteBases:
    """What the batches of one write added so far to each session (by the session now
    holding it), to base a later batch's rows where the write began."""

    def __init__(self) -> None:
        # session -> what the write's batches so far added to it, and merged into it
        self.added: dict[str, tuple[Counts, list[str]]] = {}

    def take(self, later: StitchOutput) -> None:
        """Rebase ``later``'s ``sessions`` rows (a batch, or several, joining this write
        after those taken before) on the write's start."""
        carried: dict[str, tuple[Counts, list[str]]] = {}
        aliased = set()
        for alias in later.session_aliases:
            alias_id, root = str(alias["alias_id"]), str(alias["session_id"])
            if alias_id == root:
                continue
            aliased.add(alias_id)
            moved = _join(self.added.pop(alias_id, _NOTHING), carried.pop(alias_id, _NOTHING))
            carried[root] = _join(carried.get(root, _NOTHING), moved)
        last: dict[str, Row] = {str(row["session_id"]): row for row in later.sessions}
        bases: dict[str, tuple[Counts, list[str]]] = {}
        for sid, row in last.items():
            before, merged = _join(self.added.pop(sid, _NOTHING), carried.pop(sid, _NOTHING))
            base = tuple(max(0, b - n) for b, n in zip(_base(row), before, strict=True))
            bases[sid] = base, list(dict.fromkeys([*merged, *row.get("base_merged", ())]))
            if sid not in aliased:  # else what it added is its root's now
                added = tuple(c - b for c, b in zip(_counts(row), base, strict=True))
                self.added[sid] = added, bases[sid][1]
        for row in later.sessions:
            base, merged = bases[str(row["session_id"])]
            row.update(zip(BASES, base, strict=True))
            row["base_merged"] = merged


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


def _based(row: Mapping[str, Any]) -> bool:
    """Whether restoring ``row`` with its base could differ from its counters."""
    return _base(row) != _counts(row) or bool(row.get("base_merged"))


def _join(a: tuple[Counts, list[str]], b: tuple[Counts, list[str]]) -> tuple[Counts, list[str]]:
    return tuple(x + y for x, y in zip(a[0], b[0], strict=True)), a[1] + b[1]


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
