"""The one interface every log source implements: turn one raw record into typed events.

Adding a source is one module with one ``Source`` subclass registered in ``ingest.registry``;
framing (files, JSON Lines, arrays), redaction, dead-lettering and producing are shared.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any, ClassVar

from mypy_extensions import mypyc_attr

from kernel.errors import RecordError
from kernel.events import Event, event_id_for

# The ledger's DateTime64 range: a record outside it is refused here, not by the store.
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2299, 12, 31, tzinfo=UTC)
# ISO 8601 in UTC with "Z" and at most 6 fractional digits, ASCII digits only.
_ISO_UTC = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z"
).fullmatch


# A deployment's own sources subclass it in plain Python, compiled hot path or not.
@mypyc_attr(allow_interpreted_subclasses=True)
class Source(ABC):
    """A log source. Subclasses set ``name`` and implement ``parse``."""

    name: ClassVar[str]
    # Its events are agents' tool calls and what they read (MCP): they go to
    # ``<prefix>.events.calls``, which the worker reads ahead of the rest.
    tool_traffic: ClassVar[bool] = False

    def unwrap(self, document: Any) -> list[Any] | None:
        """Records inside one JSON document that wraps several (``{"Records": [...]}``).

        Returns ``None`` when the document is itself one record. A JSON array is always
        split by the framing layer before this is called.
        """
        return None

    def frame_text(self, line: str) -> Any | None:
        """A record for one line that is not JSON, for sources with a text format too
        (Envoy's default access log). ``None``: this source reads JSON only."""
        return None

    @abstractmethod
    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        """Typed events for one record (already redacted); ``raw`` is its canonical JSON.

        Raise ``RecordError`` (with ``field`` where one is to blame) for a record that
        cannot be understood; the caller adds source and position and dead-letters it.
        """

    def partition_key(self, event: Event) -> str | None:
        """What places an event, and the raw record it came from, on a partition: events
        whose order matters to the worker must share it. By default the event's strongest
        key, so that related events share a partition where they share that key."""
        return event.keys[0][1] if event.keys else None

    def event_id(self, raw: str, suffix: str = "") -> str:
        return event_id_for(self.name, raw, suffix)


def require(record: dict[str, Any], field: str) -> Any:
    """``record[field]``, or a ``RecordError`` naming the field."""
    value = record.get(field)
    if value is None or value == "":
        raise RecordError("required field is missing", field=field)
    return value


def require_object(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    return record


def parse_time(value: Any, field: str) -> datetime:
    """A UTC datetime from the timestamp shapes the sources write.

    ISO 8601 with ``Z`` or an offset; Okta's ``2022-03-22 14:21:53.225`` (UTC by the API's
    contract); epoch seconds or milliseconds. Anything else names the field.
    """
    if type(value) is str and _ISO_UTC(value) is not None:
        # The shape nearly every record has, read as it is: the parser takes "Z" as UTC
        # (the same instant and zone as the general path below, which rewrites it first).
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise RecordError(f"not a timestamp: {value!r}", field=field) from exc
        if not MIN_TIME <= parsed <= MAX_TIME:
            raise RecordError(f"timestamp {value!r} is outside 1900–2299", field=field)
        return parsed
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            parsed = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise RecordError(f"timestamp {value!r} is out of range", field=field) from exc
        if not MIN_TIME <= parsed <= MAX_TIME:  # the same range as the text shapes below
            raise RecordError(f"timestamp {value!r} is outside 1900–2299", field=field)
        return parsed
    if not isinstance(value, str) or not value:
        raise RecordError(f"expected a timestamp, got {value!r}", field=field)
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python's parser takes at most 6 fractional digits; Okta writes up to 9.
    head, dot, tail = text.partition(".")
    if dot:
        digits = len(tail) - len(tail.lstrip("0123456789"))
        if digits > 6:
            tail = tail[:6] + tail[digits:]
        text = f"{head}.{tail}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RecordError(f"not a timestamp: {value!r}", field=field) from exc
    if parsed.tzinfo is None:  # the source's contract is UTC
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if not MIN_TIME <= parsed <= MAX_TIME:
        raise RecordError(f"timestamp {value!r} is outside 1900–2299", field=field)
    return parsed
