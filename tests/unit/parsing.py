"""What the parser tests share: frame a sample file as ingest does, parse every record,
and the invariants every accepted event must satisfy whatever the source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from ingest.base import Source
from ingest.framing import Framed, Unframed, frame_lines
from kernel.errors import RecordError
from kernel.events import KEY_TYPES, KINDS, OUTCOMES, Event

HEX = frozenset("0123456789abcdef")


@dataclass
class Run:
    events: dict[str, Event] = field(default_factory=dict)  # by position
    framed: dict[str, Framed] = field(default_factory=dict)
    rejected: dict[str, RecordError] = field(default_factory=dict)
    unframed: list[Unframed] = field(default_factory=list)

    def rejected_by_field(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for error in self.rejected.values():
            counts[error.field] = counts.get(error.field, 0) + 1
        return counts


def run(source: Source, path: Path) -> Run:
    """Frame a sample file as ingest does, and parse every record (one event each)."""
    result = Run()
    with path.open(encoding="utf-8") as lines:
        for item in frame_lines(source, lines, path.name):
            if isinstance(item, Unframed):
                result.unframed.append(item)
                continue
            result.framed[item.position] = item
            try:
                events = source.parse(item.record, position=item.position, raw=item.raw)
            except RecordError as error:
                result.rejected[item.position] = error
                continue
            assert len(events) == 1
            result.events[item.position] = events[0]
    return result


def check_event(source: Source, event: Event, framed: Framed) -> None:
    """What every accepted event must satisfy, whatever the record."""
    assert event.source == source.name
    assert event.event_time.utcoffset() == timedelta(0)
    assert len(event.event_id) == 32 and HEX.issuperset(event.event_id)
    assert event.raw == framed.raw
    assert event.position == framed.position
    assert event.kind in KINDS and event.outcome in OUTCOMES
    assert all(key_type in KEY_TYPES and value for key_type, value in event.keys)
    assert len(set(event.keys)) == len(event.keys)
    assert all(isinstance(v, str) and v for v in event.attributes.values())
    replayed = source.parse(orjson.loads(framed.raw), position="elsewhere", raw=framed.raw)
    assert replayed[0].event_id == event.event_id


def source_ids(result: Run, expected: Callable[[Any], Any]) -> list[str]:
    """Every accepted event's source id, each checked to be ``expected(record)`` of its
    framed record (the record as redacted, what the parser read), or "" where that is no
    text: the parser never makes one up."""
    found = []
    for position, event in result.events.items():
        value = expected(result.framed[position].record)
        assert event.source_id == (value if isinstance(value, str) else ""), position
        found.append(event.source_id)
    return found
