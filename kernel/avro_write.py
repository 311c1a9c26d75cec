"""Avro for many events at once, the ingest's hot path: the current schema's binary layout
written directly, byte for byte what fastavro writes (checked against it at first use)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from kernel.envelope import CURRENT_VERSION, Envelope, encode, load_schema
from kernel.events import Event

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
            topic_text = _NAMES.get(topic) or _name(topic)  # one raw topic a source
            ref = b"".join((_SOME, topic_text, _long(partition), _long(offset)))
        # Most fields repeat from event to event: their encodings come from the caches by a
        # dict lookup here (no encoding is empty, so ``or`` only falls back on a miss).
        names = _NAMES.get
        optional = _OPTIONALS.get
        repeated = _REPEATED.get
        parts = [
            _text(e.event_id),
            names(e.source) or _name(e.source),
            kinds[e.kind],
            _varint((e.event_time - _EPOCH) // _MICROSECOND),
            self._ingested,
            names(e.operation) or _name(e.operation),
            _text(e.position),
            ref,
            self._batch,
            _text(e.raw),
            repeated(e.source_id) or _repeated(e.source_id),
            optional(e.principal) or _optional(e.principal),
            optional(e.principal_type) or _optional(e.principal_type),
            optional(e.client_id) or _optional(e.client_id),
            optional(e.agent_name) or _optional(e.agent_name),
            optional(e.agent_version) or _optional(e.agent_version),
            optional(e.agent_instance) or _optional(e.agent_instance),
            optional(e.service) or _optional(e.service),
            optional(e.resource) or _optional(e.resource),
            outcomes[e.outcome],
            optional(e.outcome_detail) or _optional(e.outcome_detail),
            optional(e.intent) or _optional(e.intent),
        ]
        put = parts.append
        scopes = e.scopes
        if scopes:
            put(_long(len(scopes)))
            parts += [repeated(scope) or _repeated(scope) for scope in scopes]
        put(_NULL)
        keys = e.keys
        if keys:
            put(_long(len(keys)))
            for key_type, value in keys:
                put(names(key_type) or _name(key_type))
                put(repeated(value) or _repeated(value))
        put(_NULL)
        attributes = e.attributes
        if attributes:
            put(_long(len(attributes)))
            for name, value in attributes.items():
                put(names(name) or _name(name))
                put(repeated(value) or _repeated(value))
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
            _OPTIONALS[None] = _NULL
        _OPTIONALS[value] = found
    return found


_OPTIONALS: dict[str | None, bytes] = {None: _NULL}
_OPTIONALS_MAX = 16_384


def _repeated(value: str) -> bytes:
    """A ``string`` that recurs from event to event (correlation keys' values, attribute
    values, scopes, source ids): recent encodings are kept (a bounded set)."""
    found = _REPEATED.get(value)
    if found is None:
        found = _text(value)
        if len(_REPEATED) >= _REPEATED_MAX:
            _REPEATED.clear()
        if len(value) <= _REPEATED_LONGEST:
            _REPEATED[value] = found
    return found


_REPEATED: dict[str, bytes] = {}
_REPEATED_MAX = 32_768
_REPEATED_LONGEST = 256  # arguments and long texts are rarely seen twice: not kept


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
