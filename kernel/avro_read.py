"""Avro of the current schema read straight into an ``Envelope``, the worker's hot path; the
codec falls back to fastavro for older writers and for anything not read cleanly."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson

from kernel.envelope import CURRENT_VERSION, SCHEMA_DIR, Envelope, schema_name
from kernel.events import Event

# -- the hot path's reader ----------------------------------------------------------------------
# The worker decodes every event; fastavro's generic reader walks the schema for each record
# (about three quarters of the decode time). ``_read_current`` reads the current schema's
# binary layout straight into an ``Envelope``, and only while the schema file is the one it was
# written for (``_FAST_SCHEMA_SHA256``, its text without docs). Anything it does not read cleanly
# (truncated or corrupt data) goes to fastavro, which gives the event or the reason, as before.

_FAST_SCHEMA_SHA256 = "9682ccf3ce7d5f7ad057c215059e3d5e989575d279f93fff0954469cfb739fef"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # as fastavro reads ``timestamp-micros``
_KINDS = ("identity", "token_grant", "tool_call", "tool_result", "mcp_message", "api_call")
_OUTCOMES = ("success", "failure", "pending", "unknown")


class NotRead(Exception):
    """The fast reader stops; fastavro reads the record instead."""


def _without_docs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_docs(v) for k, v in node.items() if k != "doc"}
    if isinstance(node, list):
        return [_without_docs(v) for v in node]
    return node


def schema_digest(version: int = CURRENT_VERSION) -> str:
    """SHA-256 of a schema's JSON without its docs (what ``_read_current`` was written for)."""
    path = SCHEMA_DIR / f"{schema_name(version)}.avsc"
    text = orjson.dumps(_without_docs(orjson.loads(path.read_bytes())), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()


@cache
def fast_read_fits() -> bool:
    return schema_digest(CURRENT_VERSION) == _FAST_SCHEMA_SHA256


def _long(buf: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint at ``pos``, and the position after it."""
    byte = buf[pos]
    pos += 1
    n = byte & 0x7F
    shift = 7
    while byte & 0x80:
        byte = buf[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), pos


def _size(buf: bytes, pos: int) -> tuple[int, int]:
    """A string's or block's length of more than one byte (never negative here)."""
    size, pos = _long(buf, pos)
    if size < 0:
        raise NotRead
    return size, pos


def _str(buf: bytes, pos: int) -> tuple[str, int]:
    # Past the end, a slice is short and the next read fails; ``_read_current`` checks that
    # the last one ended inside the data.
    byte = buf[pos]
    if byte < 0x80 and not byte & 1:  # most strings: a one-byte length
        end = pos + 1 + (byte >> 1)
        return buf[pos + 1 : end].decode(), end
    size, pos = _size(buf, pos)
    end = pos + size
    return buf[pos:end].decode(), end


def _opt_str(buf: bytes, pos: int) -> tuple[str | None, int]:
    branch = buf[pos]
    if branch == 0:
        return None, pos + 1
    if branch != 2:
        raise NotRead
    return _str(buf, pos + 1)


def _block_count(buf: bytes, pos: int) -> tuple[int, int]:
    count, pos = _long(buf, pos)
    if count < 0:  # a block with its size in bytes after the count
        count = -count
        _, pos = _long(buf, pos)
    return count, pos


_TIMES: dict[int, datetime] = {}  # microseconds -> datetime: a batch repeats many times


def _time(micros: int) -> datetime:
    at = _TIMES.get(micros)
    if at is None:
        if len(_TIMES) >= 65_536:
            _TIMES.clear()
        at = _TIMES[micros] = _EPOCH + timedelta(0, 0, micros)
    return at


def read_current(data: bytes) -> Envelope:
    """An event written with the current schema (field order as in the schema file).

    Strings are sliced out of the record read once as Latin-1 (one character a byte, so a
    byte offset is a character offset): a slice that is all ASCII is the string itself, and
    only one that is not is decoded again from its bytes as UTF-8. The one-byte lengths
    most strings have are read inline rather than through ``_str``: a function call for
    each of some thirty strings an event was most of the decode's time."""
    buf = bytes(data)
    text = buf.decode("latin-1")
    # -- fixed fields ---------------------------------------------------------------------
    event_id, pos = _text(buf, text, 0)
    source, pos = _text(buf, text, pos)
    kind_index, pos = _long(buf, pos)
    event_time, pos = _long(buf, pos)
    ingested_at, pos = _long(buf, pos)
    operation, pos = _text(buf, text, pos)
    position, pos = _text(buf, text, pos)
    branch, pos = _long(buf, pos)
    raw_ref: tuple[str, int, int] | None = None
    if branch == 1:
        ref_topic, pos = _text(buf, text, pos)
        ref_partition, pos = _long(buf, pos)
        ref_offset, pos = _long(buf, pos)
        raw_ref = (ref_topic, ref_partition, ref_offset)
    elif branch != 0:
        raise NotRead
    ingest_batch, pos = _text(buf, text, pos)
    raw, pos = _text(buf, text, pos)
    source_id, pos = _text(buf, text, pos)
    # -- nine optional strings, the outcome, then two more ----------------------------------
    optional: list[str | None] = []
    outcome_index = -1
    for index in range(11):
        if index == 8:
            outcome_index, pos = _long(buf, pos)
            continue
        branch = buf[pos]
        if branch == 0:
            optional.append(None)
            pos += 1
            continue
        if branch != 2:
            raise NotRead
        byte = buf[pos + 1]
        if byte < 0x80 and not byte & 1:
            end = pos + 2 + (byte >> 1)
            value = text[pos + 2 : end]
            optional.append(value if value.isascii() else buf[pos + 2 : end].decode())
            pos = end
        else:
            value, pos = _str(buf, pos + 1)
            optional.append(value)
    # Arrays and maps come in blocks, each a count then its items, until a count of 0.
    scopes: list[str] = []
    count, pos = _block_count(buf, pos)
    while count:
        for _ in range(count):
            scope, pos = _text(buf, text, pos)
            scopes.append(scope)
        count, pos = _block_count(buf, pos)
    keys: list[tuple[str, str]] = []
    count, pos = _block_count(buf, pos)
    while count:
        for _ in range(count):
            key_type, pos = _text(buf, text, pos)
            key_value, pos = _text(buf, text, pos)
            keys.append((key_type, key_value))
        count, pos = _block_count(buf, pos)
    attributes: dict[str, str] = {}
    count, pos = _block_count(buf, pos)
    while count:
        for _ in range(count):
            # The map's names and values, inline: most of an event's strings are here.
            byte = buf[pos]
            if byte < 0x80 and not byte & 1:
                end = pos + 1 + (byte >> 1)
                name = text[pos + 1 : end]
                if not name.isascii():
                    name = buf[pos + 1 : end].decode()
                pos = end
            else:
                name, pos = _str(buf, pos)
            byte = buf[pos]
            if byte < 0x80 and not byte & 1:
                end = pos + 1 + (byte >> 1)
                value = text[pos + 1 : end]
                if not value.isascii():
                    value = buf[pos + 1 : end].decode()
                pos = end
            else:
                value, pos = _text(buf, text, pos)
            attributes[name] = value
        count, pos = _block_count(buf, pos)
    if pos > len(buf) or not (0 <= kind_index < 6 and 0 <= outcome_index < 4):
        raise NotRead
    (
        principal,
        principal_type,
        client_id,
        agent_name,
        agent_version,
        agent_instance,
        service,
        resource,
        outcome_detail,
        intent,
    ) = optional
    event = Event(
        event_id,
        source,
        _KINDS[kind_index],
        _time(event_time),
        operation,
        position,
        raw,
        principal,
        principal_type,
        client_id,
        agent_name,
        agent_version,
        agent_instance,
        service,
        resource,
        _OUTCOMES[outcome_index],
        outcome_detail,
        intent,
        scopes,
        keys,
        attributes,
        source_id,
    )
    return Envelope(event, _time(ingested_at), ingest_batch, raw_ref)


def read_event_key(data: bytes | None) -> tuple[str, int] | None:
    """The event id and event time (µs since the epoch) of an event written with the current
    schema (its first and fourth fields), read without decoding the rest; ``None`` when they
    cannot be read that way (or a message has no value)."""
    if data is None:
        return None
    try:
        size, pos = _long(data, 0)
        if size < 0 or pos + size > len(data):
            return None
        event_id = bytes(data[pos : pos + size]).decode()
        size, pos = _long(data, pos + size)  # the source
        if size < 0:
            return None
        _, pos = _long(data, pos + size)  # the kind
        event_time, _ = _long(data, pos)
        return event_id, event_time
    except (IndexError, TypeError, UnicodeDecodeError, ValueError):
        return None  # not an event of this schema: its decode says why


def _text(buf: bytes, text: str, pos: int) -> tuple[str, int]:
    """``_str`` with the string sliced from ``text``, ``buf`` read as Latin-1."""
    byte = buf[pos]
    if byte < 0x80 and not byte & 1:
        end = pos + 1 + (byte >> 1)
    else:
        size, pos = _size(buf, pos)
        end = pos + size
        pos -= 1
    value = text[pos + 1 : end]
    if value.isascii():
        return value, end
    return buf[pos + 1 : end].decode(), end
