"""Walk one stream's hash chain row by row, and name the first row that does not hold its
place (``processors.verify`` drives it over the ledger, page by page).

A row holds its place by two hashes: its own (``hash``, over the one before it and its
record) and the one before it (``prev``). The first row that does not hold is named, and how:

- **edited**: its record no longer gives its hash (a byte of it changed);
- **deleted**: the row it was chained after is nowhere in the stream;
- **inserted**: two rows chained after the same one, of which the one nothing was chained
  after is the stranger;
- **reordered**: it was chained after a row that comes later in the stream, or its record
  is the one chained at another position.

The walk holds one row at a time; naming a problem asks a ``Lookup`` about other rows of
the stream (the ledger, or a list in tests), once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kernel.evidence import link

EDITED, DELETED, INSERTED, REORDERED, DIGEST = (
    "edited",
    "deleted",
    "inserted",
    "reordered",
    "digest",
)
Row = dict[str, Any]  # seq, event_id, prev, hash, record (the record's hash computed afresh)


@dataclass(frozen=True, slots=True)
class Problem:
    stream: str
    position: int
    event_id: str
    kind: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "position": self.position,
            "event_id": self.event_id,
            "kind": self.kind,
            "detail": self.detail,
        }

    def describe(self) -> str:
        where = f"{self.stream} position {self.position}" if self.stream else "no stream"
        event = f", event {self.event_id}" if self.event_id else ""
        return f"{self.kind.upper()} at {where}{event}: {self.detail}"


class Lookup(Protocol):
    """Other rows of the stream, asked about when a row does not hold its place."""

    def with_hash(self, chain_hash: str) -> list[Row]: ...
    def successors(self, chain_hash: str) -> int: ...
    def between(self, after: Row, before: Row) -> list[Row]: ...
    def fitting(self, record: str, event_id: str) -> Row | None: ...


def _key(row: Row) -> tuple[int, str]:
    return int(row["seq"]), str(row["event_id"])


class RowsLookup:
    """A ``Lookup`` over rows in memory, in position order."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = rows

    def with_hash(self, chain_hash: str) -> list[Row]:
        return [r for r in self.rows if r["hash"] == chain_hash]

    def successors(self, chain_hash: str) -> int:
        return sum(1 for r in self.rows if r["prev"] == chain_hash)

    def between(self, after: Row, before: Row) -> list[Row]:
        return [r for r in self.rows if _key(after) < _key(r) < _key(before)]

    def fitting(self, record: str, event_id: str) -> Row | None:
        return next(
            (
                r
                for r in self.rows
                if r["event_id"] != event_id and links(r["prev"], record, r["hash"])
            ),
            None,
        )


def links(previous: str, record: str, chain_hash: str) -> bool:
    try:
        return link(bytes.fromhex(previous), bytes.fromhex(record)).hex() == chain_hash
    except ValueError:
        return False


class ChainWalk:
    """One stream's rows, fed in position order (``seq``, then event id)."""

    def __init__(self, name: str, start_hash: str, start: int, lookup: Lookup) -> None:
        self.name = name
        self.start_hash = start_hash
        self.start = start
        self.lookup = lookup
        self.previous = start_hash
        self.last: Row | None = None  # the last row that held its place
        self.first: Row | None = None

    def step(self, row: Row) -> Problem | None:
        """``None`` when ``row`` holds its place (it is then the chain's last)."""
        if not links(row["prev"], row["record"], row["hash"]):
            return self._edited_or_moved(row)
        if row["prev"] != self.previous:
            return self._out_of_place(row)
        self.previous = row["hash"]
        self.last = row
        if self.first is None:
            self.first = row
        return None

    def _problem(self, row: Row, kind: str, detail: str) -> Problem:
        return Problem(self.name, int(row["seq"]), str(row["event_id"]), kind, detail)

    def _edited_or_moved(self, row: Row) -> Problem:
        """Its record does not give its hash: changed, or another position's (records
        swapped between rows)."""
        other = self.lookup.fitting(row["record"], row["event_id"])
        if other is not None:
            return self._problem(
                row,
                REORDERED,
                f"its record is the one chained at position {other['seq']} "
                f"(event {other['event_id']})",
            )
        return self._problem(row, EDITED, "its record no longer gives the hash it was chained with")

    def _out_of_place(self, row: Row) -> Problem:
        """Its record gives its hash, but it was not chained after the row before it."""
        seq, event_id = int(row["seq"]), str(row["event_id"])
        found = self.lookup.with_hash(row["prev"])
        later = [r for r in found if _key(r) > _key(row)]
        if later:
            return self._problem(
                row,
                REORDERED,
                f"it was chained after event {later[0]['event_id']}, which is at position "
                f"{later[0]['seq']}, after it",
            )
        earlier = [r for r in found if _key(r) < _key(row)]
        between: list[Row] = []
        if earlier:
            between = self.lookup.between(earlier[-1], row)
        elif row["prev"] == self.start_hash and self.first is not None:
            between = [self.first, *self.lookup.between(self.first, row)]
        if between:
            if all(self.lookup.successors(r["hash"]) == 0 for r in between):
                stranger = between[0]
                return Problem(
                    self.name,
                    int(stranger["seq"]),
                    str(stranger["event_id"]),
                    INSERTED,
                    f"nothing is chained after it; event {event_id} (position {seq}) is "
                    "chained to the row before it",
                )
            return self._problem(
                row,
                INSERTED,
                f"chained after the same row as event {between[0]['event_id']} "
                f"(position {between[0]['seq']}), which the chain goes on from",
            )
        last = self.last
        gone = int(last["seq"]) + 1 if last else self.start
        after = f"after event {last['event_id']}" if last else "at the start"
        return Problem(
            self.name,
            gone,
            "",
            DELETED,
            f"the row {after} is gone: event {event_id} (position {seq}) was chained after "
            "a row the stream no longer holds",
        )
