"""Split a byte stream into JSON records: JSON Lines, one JSON document, or a JSON array.

Every record keeps its position (``file:line``, ``file:line[i]`` inside an array) so that a
dead-letter entry points at the exact place. Secrets are replaced here, before anything
else sees the record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ingest.base import Source
from ingest.redact import redact
from kernel.errors import RecordError
from kernel.events import canonical_json
from kernel.tokens import find_secrets, fingerprint


@dataclass(slots=True)
class Framed:
    """One record: its position, its decoded (redacted) value and canonical JSON text."""

    position: str
    record: Any
    raw: str


@dataclass(slots=True)
class Unframed:
    """Text that is not a record; ``text`` has secrets masked by pattern."""

    error: RecordError
    text: str


_TEXT_LIMIT = 64 * 1024  # characters of an unkeepable record's text kept in its dead letter
_NON_JSON_NUMBER = re.compile(r"\b(?:NaN|Infinity)\b")
_ESCAPED_CHAR = re.compile(r"\\u00([2-7][0-9a-fA-F])")
_UNESCAPED = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.+/=:@ ")


def _unescape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNESCAPED else match.group()  # never a quote or a backslash


def mask_text(text: str) -> str:
    """Mask secrets in text that could not be parsed as JSON (it still goes to the DLQ).

    The same shape rules as for strings in records, on JSON source as written: an escaped
    printable character (``\\u0061``) is unescaped first so that it cannot hide a secret.
    """
    if "\\u00" in text:
        text = _ESCAPED_CHAR.sub(_unescape, text)
    parts: list[str] = []
    last = 0
    for start, end, _, _ in find_secrets(text, raw=True):
        parts += (text[last:start], fingerprint(text[start:end]))
        last = end
    return "".join(parts) + text[last:]


def _prepare(value: Any) -> tuple[Any, str]:
    # Every record is walked: a pre-check over the raw text for everything redaction looks
    # for costs more per character than the walk (keys are classified once per name, strings
    # found clean once are not scanned again), so it could only slow the hot path down.
    value = redact(value)
    return value, canonical_json(value)


# What a decoded value can hold that no record can be kept as: orjson reads 1,024 levels of
# nesting but writes 254, and redaction walks by recursion (RecursionError); a value built
# outside orjson may hold a lone surrogate. Caught, not checked for: free on the hot path.
_UNKEEPABLE = (RecursionError, orjson.JSONEncodeError)


def _unkept(source: Source, position: str, exc: Exception, text: str | bytes) -> Unframed:
    """The dead letter of a value that decoded but cannot be kept as a record; ``text`` is
    what it was read from (cut to ``_TEXT_LIMIT``), if any."""
    what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
    if "Recursion limit" in what:
        what = "nested too deeply"
    error = RecordError(f"cannot be kept as JSON: {what}", source=source.name, position=position)
    if isinstance(text, bytes):
        text = text[:_TEXT_LIMIT].decode("utf-8", errors="replace")
    return Unframed(error, mask_text(text[:_TEXT_LIMIT]))


def _framed(source: Source, value: Any, position: str, text: str | bytes) -> Framed | Unframed:
    try:
        record, raw = _prepare(value)
    except _UNKEEPABLE as exc:
        return _unkept(source, position, exc, text)
    return Framed(position, record, raw)


def _expand(
    source: Source, value: Any, position: str, text: str | bytes = ""
) -> Iterator[Framed | Unframed]:
    """The records of a decoded value; ``text``: what it was decoded from (for a dead letter)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _expand(source, item, f"{position}[{i}]", text)
        return
    inner = source.unwrap(value)
    if inner is not None:
        yield from _unwrapped(source, inner, position, text)
        return
    yield _framed(source, value, position, text)


def _unwrapped(
    source: Source, inner: list[Any], position: str, text: str | bytes
) -> Iterator[Framed | Unframed]:
    for i, item in enumerate(inner):
        yield _framed(source, item, f"{position}[{i}]", text)


def frame_value(source: Source, value: Any, name: str) -> Iterator[Framed | Unframed]:
    """Records of one JSON value that arrived decoded and whole (an HTTP request's body),
    split, redacted and positioned as the same document read from a file would be."""
    return _expand(source, value, name)


def frame_lines(source: Source, lines: Iterable[str], name: str) -> Iterator[Framed | Unframed]:
    """Records from ``lines`` (a file or stdin), named ``name`` in positions.

    JSON Lines when the first non-blank line is a whole JSON value; otherwise the input is
    read as one JSON document (pretty-printed objects, arrays, ``{"Records": [...]}``).
    """
    iterator = iter(lines)
    head: list[str] = []
    first = None
    for line in iterator:
        head.append(line)
        if line.strip():
            first = line
            break
    if first is None:
        return
    stripped = first.strip()
    # A source with a text format reads the file line by line when its first line is text.
    line_mode = source.frame_text(first.rstrip("\r\n")) is not None
    if not line_mode and not stripped.startswith("["):
        try:
            orjson.loads(stripped)
            line_mode = True
        except orjson.JSONDecodeError:
            line_mode = False
    if not line_mode:
        text = "".join(head) + "".join(iterator)
        if _looks_like_json_lines(text):
            # A JSON Lines file whose first record is broken: keep every good line after it.
            # Split on "\n" only: str.splitlines would also cut inside JSON strings at
            # U+2028 and friends, which JSON allows unescaped.
            for number, line in enumerate(text.split("\n"), start=1):
                if line.strip():
                    yield from _frame_line(source, line, f"{name}:{number}")
            return
        yield from _frame_document(source, text, name)
        return
    offset = len(head) - 1
    for number, line in enumerate([first], start=offset + 1):
        yield from _frame_line(source, line, f"{name}:{number}")
    # The hot path: what _frame_line does, inline for the common line (one JSON object that
    # wraps no records), without two generators a line.
    loads = orjson.loads
    unwrap = source.unwrap
    for number, line in enumerate(iterator, start=offset + 2):
        if not line or line.isspace():  # what strip() would empty, without a copy
            continue
        try:
            value = loads(line)
        except orjson.JSONDecodeError:
            yield from _frame_line(source, line, f"{name}:{number}")
            continue
        position = f"{name}:{number}"
        if isinstance(value, list):
            yield from _expand(source, value, position, line)
            continue
        inner = unwrap(value)
        if inner is not None:
            yield from _unwrapped(source, inner, position, line)
            continue
        try:
            value = redact(value)
            raw = canonical_json(value)
        except _UNKEEPABLE as exc:
            yield _unkept(source, position, exc, line)
            continue
        yield Framed(position, value, raw)


def _looks_like_json_lines(text: str, sample: int = 50) -> bool:
    """True when the whole text is not one JSON value but most of its lines are objects.

    "Most": a broken pretty-printed document can hold a one-line nested object or two,
    which alone must not turn it into JSON Lines.
    """
    try:
        orjson.loads(text)
        return False
    except orjson.JSONDecodeError:
        pass
    lines = [line.strip() for line in text.split("\n")[: sample + 1] if line.strip()]
    objects = 0
    for line in lines:
        if line.startswith("{") and line.endswith("}"):
            try:
                orjson.loads(line)
                objects += 1
            except orjson.JSONDecodeError:
                continue
    return objects >= 2 and objects * 2 >= len(lines)


def _frame_line(source: Source, line: str, position: str) -> Iterator[Framed | Unframed]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        text_line = line.rstrip("\r\n")
        text_record = source.frame_text(text_line)
        if text_record is not None:
            # A text format's line is redacted as a record holding it, by the same rules
            # (a gateway's request line carries ?access_token=… as often as a JSON log).
            yield _framed(source, text_record, position, line)
            return
        reason = f"invalid JSON: {exc}"
        yield Unframed(RecordError(reason, source=source.name, position=position), mask_text(line))
        return
    yield from _expand(source, value, position, line)


def _frame_document(source: Source, text: str, name: str) -> Iterator[Framed | Unframed]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as refused:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            error = RecordError(
                f"invalid JSON: {exc.msg} (column {exc.colno})",
                source=source.name,
                position=f"{name}:{exc.lineno}",
            )
            yield Unframed(error, mask_text(text))
            return
        except RecursionError:  # deeper than Python's parser goes: orjson's reason stands
            pass
        # Python's parser takes NaN and Infinity (and lone surrogates); JSON does not.
        found = _NON_JSON_NUMBER.search(text)
        line = text.count("\n", 0, found.start()) + 1 if found else refused.lineno
        reason = "NaN or Infinity is not JSON" if found else refused.msg
        error = RecordError(
            f"invalid JSON: {reason}", source=source.name, position=f"{name}:{line}"
        )
        yield Unframed(error, mask_text(text))
        return
    yield from _expand(source, value, f"{name}:1", text)


def frame_message(source: Source, value: bytes, name: str) -> Iterator[Framed | Unframed]:
    """Records of one Kafka message, named ``name`` (``topic/partition/offset``) in positions.

    A message holds what a file of the source would: one record, a batch document (a JSON
    array, ``{"Records": [...]}``, an OTLP export request), JSON Lines, or a line of a text
    format. Framing is the file's, so the same record gets the same canonical text (and so
    the same event ids) whichever way it came. Positions: ``name`` for a message holding one
    record, ``name[i]`` inside a batch, ``name:line`` in JSON Lines. An empty message (a
    tombstone, say) holds no record.
    """
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        text = value.decode("utf-8", errors="replace")
        if not text.strip():
            return
        body = text.strip("\r\n")
        if "\n" not in body:  # one line that is no JSON: a text-format record, or a dead letter
            yield from _frame_line(source, body, name)
            return
        yield from frame_lines(source, [line + "\n" for line in body.split("\n")], name)
        return
    yield from _expand(source, document, name, value)
