"""Avro encoding of events for ``ledger.events`` (fastavro, schemaless: one record a message).

The writer schema's version travels in the ``ledger-schema`` message header, so a reader
always resolves old-writer data against its own (newer) schema. Every version's schema stays
in ``schemas/``: v2 added ``source_id``, which v1 data reads as "".
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import orjson

from kernel.errors import RecordError
from kernel.events import Event

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
CURRENT_VERSION = 2
SCHEMA_HEADER = "ledger-schema"


def schema_name(version: int) -> str:
    return f"ledger.Event.v{version}"


@cache
def load_schema(version: int = CURRENT_VERSION) -> Any:
    path = SCHEMA_DIR / f"{schema_name(version)}.avsc"
    return fastavro.parse_schema(orjson.loads(path.read_bytes()))


@dataclass(frozen=True, slots=True)
class Envelope:
    """An event with what the ingest added around it."""

    event: Event
    ingested_at: datetime
    ingest_batch: str = ""
    raw_ref: tuple[str, int, int] | None = None


def to_record(env: Envelope) -> dict[str, Any]:
    e = env.event
    return {
        "event_id": e.event_id,
        "source": e.source,
        "kind": e.kind,
        "event_time": e.event_time,
        "ingested_at": env.ingested_at,
        "operation": e.operation,
        "position": e.position,
        "raw_ref": (
            None
            if env.raw_ref is None
            else {"topic": env.raw_ref[0], "partition": env.raw_ref[1], "offset": env.raw_ref[2]}
        ),
        "ingest_batch": env.ingest_batch,
        "raw": e.raw,
        "source_id": e.source_id,
        "principal": e.principal,
        "principal_type": e.principal_type,
        "client_id": e.client_id,
        "agent_name": e.agent_name,
        "agent_version": e.agent_version,
        "agent_instance": e.agent_instance,
        "service": e.service,
        "resource": e.resource,
        "outcome": e.outcome,
        "outcome_detail": e.outcome_detail,
        "intent": e.intent,
        "scopes": e.scopes,
        "keys": [{"type": t, "value": v} for t, v in e.keys],
        "attributes": e.attributes,
    }


def from_record(r: dict[str, Any]) -> Envelope:
    ref = r.get("raw_ref")
    event = Event(
        event_id=r["event_id"],
        source=r["source"],
        kind=r["kind"],
        event_time=r["event_time"],
        operation=r["operation"],
        position=r["position"],
        raw=r["raw"],
        principal=r["principal"],
        principal_type=r["principal_type"],
        client_id=r["client_id"],
        agent_name=r["agent_name"],
        agent_version=r["agent_version"],
        agent_instance=r["agent_instance"],
        service=r["service"],
        resource=r["resource"],
        outcome=r["outcome"],
        outcome_detail=r["outcome_detail"],
        intent=r["intent"],
        scopes=r["scopes"],
        keys=[(k["type"], k["value"]) for k in r["keys"]],
        attributes=r["attributes"],
        source_id=r["source_id"],
    )
    return Envelope(
        event=event,
        ingested_at=r["ingested_at"],
        ingest_batch=r["ingest_batch"],
        raw_ref=None if ref is None else (ref["topic"], ref["partition"], ref["offset"]),
    )


def encode(env: Envelope) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, load_schema(), to_record(env))
    return buf.getvalue()


# -- encoding many events: the ingest's hot path ---------------------------------------------
#
# ``schemaless_writer`` costs ~25 µs an event, most of it fastavro choosing union branches and
# dispatching on type names field by field. ``EventEncoder`` writes the current schema's binary
# layout directly (the Avro spec's: zig-zag varints, length-prefixed UTF-8, unions as a branch
# index, arrays and maps as one counted block and a 0) and gives the same bytes as
# ``encode``, several times faster. The layout is written for ``_LAYOUT`` alone: a schema whose
# fields differ, or a value this writer does not expect, goes through fastavro instead.

_LAYOUT = [
    "event_id",
    "source",
    "kind",
    "event_time",
    "ingested_at",
    "operation",
    "position",
    "raw_ref",
    "ingest_batch",
    "raw",
    "source_id",
    "principal",
    "principal_type",
    "client_id",
    "agent_name",
    "agent_version",
    "agent_instance",
    "service",
    "resource",
    "outcome",
    "outcome_detail",
    "intent",
    "scopes",
    "keys",
    "attributes",
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NULL = b"\x00"  # a union's branch 0 (null), a long 0, an array's or map's end
_SOME = b"\x02"  # a union's branch 1


def _varint(n: int) -> bytes:
    """An Avro ``long``: zig-zag, then 7 bits a byte, low group first."""
    n = (n << 1) ^ (n >> 63)
    if 1 << 49 <= n < 1 << 56:  # eight groups: every timestamp from 1987 to 2541, unrolled
        return bytes(
            (
                n & 0x7F | 0x80,
                n >> 7 & 0x7F | 0x80,
                n >> 14 & 0x7F | 0x80,
                n >> 21 & 0x7F | 0x80,
                n >> 28 & 0x7F | 0x80,
                n >> 35 & 0x7F | 0x80,
                n >> 42 & 0x7F | 0x80,
                n >> 49,
            )
        )
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = tuple(_varint(n) for n in range(8_192))  # string lengths, counts, partitions


def _long(n: int) -> bytes:
    return _SMALL[n] if 0 <= n < 8_192 else _varint(n)


def _symbols(schema: Any, field: str) -> dict[str, bytes]:
    for item in schema["fields"]:
        if item["name"] == field:
            return {name: _long(i) for i, name in enumerate(item["type"]["symbols"])}
    raise KeyError(field)


@cache
def _fast_layout() -> tuple[dict[str, bytes], dict[str, bytes]] | None:
    """The enum symbols' encodings, or ``None`` when the current schema is not ``_LAYOUT``:
    its fields are checked by name, and their types by writing two probe events both ways."""
    schema = load_schema(CURRENT_VERSION)
    if [item["name"] for item in schema["fields"]] != _LAYOUT:
        return None
    layout = _symbols(schema, "kind"), _symbols(schema, "outcome")
    kinds, outcomes = (list(symbols) for symbols in layout)
    when = datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=UTC)
    bare = Event("id", "src", kinds[-1], when, "op", "pos", "{}")
    full = Event(
        *("é", "s", kinds[0], when, "o", "p", "r", "p1", "p2", "c", "a", "v", "i", "s", "r"),
        outcome=outcomes[-1],
        outcome_detail="d",
        intent="n",
        scopes=["x", "y"],
        keys=[("k", "v")],
        attributes={"a": "b"},
        source_id="id",
    )
    for event, ref in ((bare, None), (full, ("t", 3, 300))):
        probe = EventEncoder(when, "batch", layout)
        try:
            written = probe._write(event, ref, *layout)  # not encode(): it falls back
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        if written != encode(Envelope(event, when, "batch", ref)):
            return None
    return layout


class EventEncoder:
    """Avro for many events that share their ingest time and batch, as ``encode`` writes them.

    ``encode(event, raw_ref)`` gives exactly ``encode(Envelope(event, ingested_at,
    ingest_batch, raw_ref))``.
    """

    __slots__ = ("_batch", "_ingest_batch", "_ingested", "_ingested_at", "_layout")

    def __init__(
        self,
        ingested_at: datetime,
        ingest_batch: str = "",
        layout: tuple[dict[str, bytes], dict[str, bytes]] | None = None,
    ) -> None:
        self._ingested_at = ingested_at
        self._ingest_batch = ingest_batch
        self._layout = layout or _fast_layout()
        self._ingested = b""
        self._batch = b""
        if self._layout is not None and ingested_at.tzinfo is not None:
            self._ingested = _varint((ingested_at - _EPOCH) // _MICROSECOND)
            batch = ingest_batch.encode()
            self._batch = _long(len(batch)) + batch
        else:
            self._layout = None

    def encode(self, event: Event, raw_ref: tuple[str, int, int] | None = None) -> bytes:
        if self._layout is not None:
            try:
                return self._write(event, raw_ref, *self._layout)
            except (AttributeError, KeyError, TypeError, ValueError):
                pass  # not what the layout expects: fastavro writes it, or says what is wrong
        return encode(Envelope(event, self._ingested_at, self._ingest_batch, raw_ref))

    def _write(
        self,
        e: Event,
        raw_ref: tuple[str, int, int] | None,
        kinds: dict[str, bytes],
        outcomes: dict[str, bytes],
    ) -> bytes:
        if (
            e.event_time.tzinfo is None
            or type(e.scopes) is not list
            or type(e.keys) is not list
            or type(e.attributes) is not dict
        ):
            raise TypeError("not the shapes this writer knows")
        if raw_ref is None:
            ref = _NULL
        else:
            topic, partition, offset = raw_ref
            if not (-(1 << 31) <= partition < 1 << 31 and -(1 << 63) <= offset < 1 << 63):
                raise ValueError("raw_ref out of range")
            ref = b"".join((_SOME, _text(topic), _long(partition), _long(offset)))
        parts = [
            _text(e.event_id),
            _name(e.source),
            kinds[e.kind],
            _varint((e.event_time - _EPOCH) // _MICROSECOND),
            self._ingested,
            _name(e.operation),
            _text(e.position),
            ref,
            self._batch,
            _text(e.raw),
            _text(e.source_id),
            _optional(e.principal),
            _optional(e.principal_type),
            _optional(e.client_id),
            _optional(e.agent_name),
            _optional(e.agent_version),
            _optional(e.agent_instance),
            _optional(e.service),
            _optional(e.resource),
            outcomes[e.outcome],
            _optional(e.outcome_detail),
            _optional(e.intent),
        ]
        put = parts.append
        scopes = e.scopes
        if scopes:
            put(_long(len(scopes)))
            parts += map(_text, scopes)
        put(_NULL)
        keys = e.keys
        if keys:
            put(_long(len(keys)))
            for key_type, value in keys:
                put(_name(key_type))
                put(_text(value))
        put(_NULL)
        attributes = e.attributes
        if attributes:
            put(_long(len(attributes)))
            for name, value in attributes.items():
                put(_name(name))
                put(_text(value))
        put(_NULL)
        return b"".join(parts)


def _text(value: str) -> bytes:
    """An Avro ``string``: its UTF-8 length, then the bytes."""
    data = value.encode()
    size = len(data)
    return (_SMALL[size] if size < 8_192 else _varint(size)) + data


def _optional(value: str | None) -> bytes:
    """A ``["null", "string"]`` union; who acted, with which client and agent, on what
    service repeat from event to event, so recent encodings are kept (a bounded set)."""
    if value is None:
        return _NULL
    found = _OPTIONALS.get(value)
    if found is None:
        found = _SOME + _text(value)
        if len(_OPTIONALS) >= _OPTIONALS_MAX:
            _OPTIONALS.clear()
        _OPTIONALS[value] = found
    return found


_OPTIONALS: dict[str, bytes] = {}
_OPTIONALS_MAX = 16_384


# Names from a small vocabulary (sources, operations, key types, attribute names) repeat on
# every event: their encodings are kept, up to a bound (a source may name operations freely).
_NAMES: dict[str, bytes] = {}
_NAMES_MAX = 4_096


def _name(value: str) -> bytes:
    found = _NAMES.get(value)
    if found is None:
        found = _text(value)
        if len(_NAMES) < _NAMES_MAX:
            _NAMES[value] = found
    return found


def decode(data: bytes, writer_version: int = CURRENT_VERSION) -> Envelope:
    """Decode with the writer's schema, resolved against the current reader schema."""
    if writer_version == CURRENT_VERSION and _fast_read_fits():
        try:
            return _read_current(data)
        except (_NotRead, IndexError, UnicodeDecodeError, OverflowError, ValueError):
            pass  # not read cleanly: fastavro below gives the event, or the reason
    try:
        writer = load_schema(writer_version)
        reader = None if writer_version == CURRENT_VERSION else load_schema(CURRENT_VERSION)
        record = fastavro.schemaless_reader(io.BytesIO(data), writer, reader)
    except Exception as exc:  # fastavro raises several unrelated types for corrupt input
        raise RecordError(f"cannot decode Avro event (writer v{writer_version}): {exc}") from exc
    return from_record(record)  # type: ignore[arg-type]


_VERSIONS: dict[bytes, int] = {}  # header value -> version, as read once


def writer_version(headers: list[tuple[str, bytes]] | None) -> int:
    for name, value in headers or ():
        if name == SCHEMA_HEADER:
            known = _VERSIONS.get(value)
            if known is not None:
                return known
            try:
                text = value.decode()
            except UnicodeDecodeError:
                raise RecordError(f"{SCHEMA_HEADER} header is not UTF-8: {value!r}") from None
            try:
                version = int(text.rsplit(".v", 1)[1])
            except (IndexError, ValueError):
                raise RecordError(f"bad {SCHEMA_HEADER} header {text!r}") from None
            if len(_VERSIONS) < 64:
                _VERSIONS[bytes(value)] = version
            return version
    return CURRENT_VERSION


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


class _NotRead(Exception):
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
def _fast_read_fits() -> bool:
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
        raise _NotRead
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
        raise _NotRead
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


def _read_current(data: bytes) -> Envelope:
    """An event written with the current schema (field order as in the schema file)."""
    buf = bytes(data)
    event_id, pos = _str(buf, 0)
    source, pos = _str(buf, pos)
    kind_index, pos = _long(buf, pos)
    event_time, pos = _long(buf, pos)
    ingested_at, pos = _long(buf, pos)
    operation, pos = _str(buf, pos)
    position, pos = _str(buf, pos)
    branch, pos = _long(buf, pos)
    raw_ref: tuple[str, int, int] | None = None
    if branch == 1:
        ref_topic, pos = _str(buf, pos)
        ref_partition, pos = _long(buf, pos)
        ref_offset, pos = _long(buf, pos)
        raw_ref = (ref_topic, ref_partition, ref_offset)
    elif branch != 0:
        raise _NotRead
    ingest_batch, pos = _str(buf, pos)
    raw, pos = _str(buf, pos)
    source_id, pos = _str(buf, pos)
    principal, pos = _opt_str(buf, pos)
    principal_type, pos = _opt_str(buf, pos)
    client_id, pos = _opt_str(buf, pos)
    agent_name, pos = _opt_str(buf, pos)
    agent_version, pos = _opt_str(buf, pos)
    agent_instance, pos = _opt_str(buf, pos)
    service, pos = _opt_str(buf, pos)
    resource, pos = _opt_str(buf, pos)
    outcome_index, pos = _long(buf, pos)
    outcome_detail, pos = _opt_str(buf, pos)
    intent, pos = _opt_str(buf, pos)
    # Arrays and maps come in blocks, each a count then its items, until a count of 0.
    scopes: list[str] = []
    count, pos = _block_count(buf, pos)
    while count:
        for _ in range(count):
            scope, pos = _str(buf, pos)
            scopes.append(scope)
        count, pos = _block_count(buf, pos)
    keys: list[tuple[str, str]] = []
    count, pos = _block_count(buf, pos)
    while count:
        for _ in range(count):
            key_type, pos = _str(buf, pos)
            key_value, pos = _str(buf, pos)
            keys.append((key_type, key_value))
        count, pos = _block_count(buf, pos)
    attributes: dict[str, str] = {}
    count, pos = _block_count(buf, pos)
    while count:
        for _ in range(count):
            name, pos = _str(buf, pos)
            attributes[name], pos = _str(buf, pos)
        count, pos = _block_count(buf, pos)
    if pos > len(buf) or not (0 <= kind_index < 6 and 0 <= outcome_index < 4):
        raise _NotRead
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
