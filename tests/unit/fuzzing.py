"""What the per-source fuzz tests share: the ingest's whole per-record path without Kafka,
the checks every outcome of it must pass, and the strategies that break records.

``ingest_outcomes`` takes the bytes of one input the three ways they reach the ingest: a file
(``frame_stream``: plain or gzip bytes, decoded, framed line by line or as one document), a
message on a shipper's topic (``frame_message``, without the normalizer's safety net, which
would turn a parser crash into a "parser failed" dead letter) and, for traces, an OTLP/HTTP
body (``decode_request`` then ``frame_value``). Each goes on through ``parse_all`` and what
``produce`` does per record before the broker: the dead letter's JSON, the raw record's UTF-8,
its partition key, and every event's Avro. Nothing is allowed to escape but the documented
``RecordError`` (inside ``parse_all``, which turns it into a dead letter) and, for an OTLP
body, ``OtlpRequestError`` (the HTTP 400 the exporter gets).
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from hypothesis import strategies as st

from ingest.base import MAX_TIME, MIN_TIME, Source
from ingest.deadletter import dead_letter_row
from ingest.files import frame_stream
from ingest.framing import Framed, Unframed, frame_message, frame_value
from ingest.otlp import OtlpRequestError, decode_request
from ingest.pipeline import IngestReport, Parsed, parse_all, partition_key
from kernel import codec
from kernel.events import KEY_TYPES, KINDS, OUTCOMES, Event, now_utc
from tests.unit.test_otlp import _as_protobuf

FILE = "fuzz/capture.jsonl"
MESSAGE = "raw-fuzz/0/17"
REQUEST = "/v1/traces fuzz"
RAW_REF = ("ledger.raw.fuzz", 0, 17)
HEX = frozenset("0123456789abcdef")


@dataclass
class Outcomes:
    """What one input became, by the way it came in."""

    events: list[Event] = field(default_factory=list)
    letters: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # OTLP bodies refused whole (HTTP 400)
    ways: Counter[str] = field(default_factory=Counter)  # way -> items it gave


def check_letter(source: Source, entry: dict[str, Any], name: str) -> None:
    """A dead letter names the source, a position inside the input, and a reason, and
    goes to the DLQ topic and into the ledger's ``dead_letters`` row as it is."""
    assert entry["source"] == source.name, entry
    assert entry["position"].startswith(name), entry
    assert entry["reason"].strip(), entry
    row = dead_letter_row(orjson.loads(orjson.dumps(entry)))  # what produce() sends
    assert (row["source"], row["position"], row["reason"]) == (
        entry["source"],
        entry["position"],
        entry["reason"],
    )


def check_event(source: Source, event: Event, framed: Framed, encoder: Any) -> None:
    """An accepted event is one the ledger can hold, and its Avro reads back the same."""
    assert event.source == source.name
    assert event.event_time.utcoffset() == timedelta(0)
    assert MIN_TIME <= event.event_time <= MAX_TIME, event.event_time
    assert len(event.event_id) == 32 and HEX.issuperset(event.event_id)
    assert event.raw == framed.raw and event.position == framed.position
    assert event.kind in KINDS and event.outcome in OUTCOMES
    assert all(key_type in KEY_TYPES and value for key_type, value in event.keys)
    assert all(isinstance(v, str) for v in event.attributes.values())
    data = encoder.encode(event, RAW_REF)
    envelope = codec.decode(data)
    assert envelope.event == event
    assert envelope.raw_ref == RAW_REF


def _through_pipeline(
    source: Source, items: Iterable[Framed | Unframed], name: str, found: Outcomes, way: str
) -> None:
    encoder = codec.EventEncoder(now_utc(), "fuzz-batch")
    for item in parse_all(source, items, IngestReport()):
        found.ways[way] += 1
        if isinstance(item, Parsed):
            item.framed.raw.encode()  # the raw record's message value
            key = partition_key(source, item.events)
            assert key is None or isinstance(key, bytes)
            for event in item.events:
                check_event(source, event, item.framed, encoder)
            found.events += item.events
        else:
            check_letter(source, item, name)
            found.letters.append(item)


def ingest_outcomes(source: Source, data: bytes, *, otlp: bool = False) -> Outcomes:
    """Everything ``data`` becomes on each way into the ingest (see the module docstring)."""
    found = Outcomes()
    _through_pipeline(source, frame_stream(source, io.BytesIO(data), FILE), FILE, found, "file")
    _through_pipeline(source, frame_message(source, data, MESSAGE), MESSAGE, found, "message")
    for media in ("application/json", "application/x-protobuf") if otlp else ():
        try:
            document = decode_request(data, media)
        except OtlpRequestError as exc:
            assert str(exc)
            found.refused.append(str(exc))
        else:
            items = frame_value(source, document, REQUEST)
            _through_pipeline(source, items, REQUEST, found, f"otlp {media}")
    return found


def holds_no_record(source: Source, data: bytes) -> bool:
    """Whether ``data`` is blank, or a batch with nothing in it (``[]``, ``{"Records": []}``):
    the only inputs that may give neither an event nor a dead letter."""
    text = data.decode("utf-8", errors="replace")
    if not text.strip():
        return True
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return _empty(source, value)


def _empty(source: Source, value: Any) -> bool:
    if isinstance(value, list):
        return all(_empty(source, item) for item in value)
    return source.unwrap(value) == []


# -- breaking records ------------------------------------------------------------------------

# Written into the JSON text once serialized: what orjson will not write itself.
SURROGATE = "\x00fuzz-surrogate\x00"  # a lone surrogate's escape
HUGE = "\x00fuzz-huge\x00"  # a number past a double's range
LONG = "\x00fuzz-long\x00"  # an integer past 64 bits
DEEP = "\x00fuzz-deep\x00"  # nesting deeper than orjson writes (it reads 1,024 levels)
DEEPER = "\x00fuzz-deeper\x00"  # nesting deeper than orjson reads
_SPLICED = {
    SURROGATE: b'"a\\ud800b"',
    HUGE: b"1" + b"0" * 400,
    LONG: b"-" + b"9" * 30,
    DEEP: b"[" * 600 + b"]" * 600,
    DEEPER: b'{"a":' * 1100 + b"1" + b"}" * 1100,
}
TIME_NAMES = ("time", "Time", "published", "ts", "timestamp", "created_at", "UnixNano")
BAD_TIMES = [
    "",
    "not a time",
    "2024-13-45T99:99:99Z",
    "2024-02-30T00:00:00Z",
    "0000-00-00T00:00:00Z",
    "1899-12-31T23:59:59Z",
    "2300-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "+275760-09-13T00:00:00Z",
    "2024-01-01T00:00:00+25:00",
    "2024-01-01T00:00:00.1234567890123Z",
    "２０２４-01-01T00:00:00Z",
    "NaN",
    "-1",
    "1e400",
    "18446744073709551616",
    "9" * 5000,
]
NASTY_NUMBERS = [
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    10**18,
    -(10**18),
    1e308,
    -1e308,
    5e-324,
    -0.0,
    253402300800000,
    -62135596800,
    1e11,
    1e20,
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a decoded record that holds a value (object members, list items)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*prefix, i)
            yield from _paths(item, (*prefix, i))


def _parent(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        value = value[step]
    return value


def nested(depth: int, leaf: Any) -> Any:
    for i in range(depth):
        leaf = [leaf] if i % 2 else {"a": leaf}
    return leaf


def nasty_values() -> st.SearchStrategy[Any]:
    """Values a parser does not expect where it reads a field."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(NASTY_NUMBERS),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
        st.sampled_from(BAD_TIMES),
        st.sampled_from([SURROGATE, HUGE, LONG, DEEP, DEEPER]),
        st.sampled_from(["\x00", "\u2028", "\ufeff", "\U0010ffff", "-", "unknown", "{}", "[]"]),
    )
    containers = st.one_of(
        st.just({}),
        st.just([]),
        st.lists(scalars, max_size=4),
        st.dictionaries(st.text(max_size=10), scalars, max_size=4),
        # Up to three of these can stack in one record: orjson writes 254 levels at most.
        # Deeper nesting is spliced into the text (DEEP, DEEPER).
        st.builds(nested, st.integers(10, 70), scalars),
    )
    huge = st.builds(
        lambda n, c: c * n, st.sampled_from([10_000, 200_000]), st.text(min_size=1, max_size=3)
    )
    return st.one_of(scalars, containers, huge)


Mutation = Callable[[Any], Any]


@st.composite
def mutated_value(draw: st.DrawFn, bases: list[Any]) -> Any:
    """A valid record with one to three things broken in it, as a decoded JSON value."""
    value = orjson.loads(orjson.dumps(draw(st.sampled_from(bases))))  # a deep copy
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(value))
        how = draw(st.sampled_from(["remove", "replace", "retime", "whole"]))
        if how == "whole" or not paths:
            value = draw(nasty_values())
            continue
        if how == "retime":
            timed = [p for p in paths if isinstance(p[-1], str) and p[-1].endswith(TIME_NAMES)]
            paths = timed or paths
        path = draw(st.sampled_from(paths))
        parent = _parent(value, path)
        if how == "remove":
            del parent[path[-1]]
        elif how == "retime":
            parent[path[-1]] = draw(
                st.one_of(st.sampled_from(BAD_TIMES), st.sampled_from(NASTY_NUMBERS))
            )
        else:
            parent[path[-1]] = draw(nasty_values())
    return value


def serialize(value: Any) -> bytes:
    """A decoded value as JSON text, with ``SURROGATE`` written as a lone surrogate."""
    text = orjson.dumps(value)
    for marker, written in _SPLICED.items():
        text = text.replace(orjson.dumps(marker), written)
    return text


@st.composite
def broken_bytes(draw: st.DrawFn, value_bytes: bytes) -> bytes:
    """The text of a record broken as bytes: cut, spliced, re-encoded, compressed."""
    how = draw(
        st.sampled_from(["truncate", "flip", "insert", "utf16", "latin1", "bom", "gzip", "lines"])
    )
    if how == "truncate":
        return value_bytes[: draw(st.integers(0, max(len(value_bytes) - 1, 0)))]
    if how == "flip":
        at = draw(st.integers(0, max(len(value_bytes) - 1, 0)))
        byte = draw(st.integers(0, 255))
        return value_bytes[:at] + bytes([byte]) + value_bytes[at + 1 :]
    if how == "insert":
        at = draw(st.integers(0, len(value_bytes)))
        junk = draw(
            st.one_of(
                st.binary(min_size=1, max_size=8),
                st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\\ud800", b"\n"]),
            )
        )
        return value_bytes[:at] + junk + value_bytes[at:]
    text = value_bytes.decode("utf-8", errors="replace")
    if how == "utf16":
        return text.encode("utf-16")
    if how == "latin1":
        return (text[:-1] + "é" + text[-1:]).encode("latin-1", errors="replace")
    if how == "bom":
        return b"\xef\xbb\xbf" + value_bytes
    if how == "gzip":
        return gzip.compress(value_bytes, mtime=0)[: draw(st.integers(1, 40))]
    return b"\n\n  \r\n" + value_bytes + b"\r\n\n"


def truncations(value: Any) -> st.SearchStrategy[bytes]:
    """The JSON text of ``value`` cut short: never JSON when ``value`` is an object."""
    raw = orjson.dumps(value)
    return st.integers(1, max(len(raw) - 1, 1)).map(lambda n: raw[:n])


@dataclass(frozen=True)
class Case:
    """One malformed input and what it is known to be."""

    data: bytes
    kind: str  # how it was broken
    must_reject: bool = False  # a record that no parser may accept


def protobuf_cases(bases: list[Any]) -> st.SearchStrategy[Case]:
    """OTLP/HTTP protobuf bodies of valid export requests, broken as bytes."""
    bodies = [bytes(_as_protobuf(base).SerializeToString()) for base in bases]
    return st.sampled_from(bodies).flatmap(broken_bytes).map(lambda b: Case(b, "broken protobuf"))


def cases(
    bases: list[Any],
    required: tuple[str, ...],
    texts: list[str] | None = None,
    extra: st.SearchStrategy[Case] | None = None,
) -> st.SearchStrategy[Case]:
    """Malformed inputs of many kinds for one source, from its valid ``bases``."""
    mutated = mutated_value(bases).map(lambda v: Case(serialize(v), "mutated"))
    broken = (
        st.sampled_from(bases)
        .flatmap(lambda b: broken_bytes(orjson.dumps(b)))
        .map(lambda data: Case(data, "broken bytes"))
    )
    truncated = (
        st.sampled_from(bases)
        .flatmap(truncations)
        .map(lambda data: Case(data, "truncated JSON", must_reject=True))
    )
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ).map(lambda v: Case(orjson.dumps(v), "non-object JSON", must_reject=True))
    missing = st.sampled_from(
        [(b, f) for b in bases for f in required if isinstance(b, dict) and f in b] or [({}, "")]
    ).map(
        lambda pair: Case(
            orjson.dumps({k: v for k, v in pair[0].items() if k != pair[1]}),
            f"without {pair[1]}",
            must_reject=True,
        )
    )
    noise = st.binary(max_size=300).map(lambda data: Case(data, "random bytes"))
    strategies = [mutated, mutated, mutated, broken, truncated, scalar, missing, noise]
    if texts:
        text_cases = (
            st.sampled_from(texts)
            .flatmap(lambda line: broken_bytes(line.encode()))
            .map(lambda data: Case(data, "broken text line"))
        )
        strategies.append(text_cases)
    if extra is not None:
        strategies.append(extra)
    return st.one_of(strategies)
