"""``codec.EventEncoder`` (``kernel.avro_write``), the ingest's writer: the same bytes as
``codec.encode`` (fastavro) for every event, and fastavro's own answer for anything its
layout does not expect."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import orjson
import pytest

from agentledger.sampledata import iter_records
from ingest.framing import Framed, frame_lines
from ingest.registry import get_source
from kernel import avro_write, codec, envelope, native
from kernel.codec import Envelope, EventEncoder, decode, encode
from kernel.events import Event
from tests.unit.test_codec import full_envelope, minimal_envelope

INGESTED = datetime(2026, 11, 20, 9, 0, 5, 250_001, tzinfo=UTC)


def same_as_fastavro(
    event: Event, raw_ref: tuple[str, int, int] | None, batch: str = "b-1"
) -> None:
    fast = EventEncoder(INGESTED, batch).encode(event, raw_ref)
    assert fast == encode(Envelope(event, INGESTED, batch, raw_ref))
    assert decode(fast) == Envelope(event, INGESTED, batch, raw_ref)


def test_the_layout_is_the_current_schemas() -> None:
    assert avro_write._fast_layout() is not None


@pytest.mark.parametrize("envelope", [full_envelope(), minimal_envelope()])
@pytest.mark.parametrize(
    "raw_ref",
    [None, ("ledger.raw.mcp", 0, 0), ("ledger.raw.mcp", 63, 64), ("t", 2**31 - 1, 2**63 - 1)],
)
def test_the_bytes_are_fastavros(envelope: Envelope, raw_ref: tuple[str, int, int] | None) -> None:
    same_as_fastavro(envelope.event, raw_ref)
    same_as_fastavro(envelope.event, raw_ref, batch="")


def test_long_and_non_ascii_strings_times_and_counts_are_fastavros() -> None:
    event = dataclasses.replace(
        full_envelope().event,
        event_time=datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        raw="é€😀\u2028" * 5_000,  # a length past every small-number table
        principal="",
        intent="x" * 63,
        outcome_detail="y" * 64,
        scopes=[f"scope-{i}" for i in range(200)],
        keys=[("jti", f"AT.{i}") for i in range(70)],
        attributes={f"attr.{i}": "ü" * i for i in range(130)},
    )
    same_as_fastavro(event, ("ledger.raw.okta", 5, 12_345_678_901))
    late = dataclasses.replace(event, event_time=datetime(2299, 12, 31, 23, 59, 59, tzinfo=UTC))
    same_as_fastavro(late, None)
    offset = datetime(2026, 1, 1, 12, tzinfo=UTC).astimezone(UTC) + timedelta(microseconds=-1)
    same_as_fastavro(dataclasses.replace(event, event_time=offset), None)


def test_every_sample_event_is_fastavros() -> None:
    encoder = EventEncoder(INGESTED, "bench-1")
    count = 0
    for offset, sample in enumerate(iter_records(600, run_id="codec")):
        source = get_source(sample.source)
        for item in frame_lines(source, [orjson.dumps(sample.record).decode()], "s"):
            assert isinstance(item, Framed)
            for event in source.parse(item.record, position=item.position, raw=item.raw):
                ref = (f"ledger.raw.{sample.source}", offset % 4, offset)
                expected = encode(Envelope(event, INGESTED, "bench-1", ref))
                assert encoder.encode(event, ref) == expected
                count += 1
    assert count >= 600


def _error(call: Any) -> tuple[type[BaseException], str]:
    with pytest.raises(Exception) as caught:
        call()
    return type(caught.value), str(caught.value)


def _changed(event: Event, **change: Any) -> Event | None:
    """``event`` with ``change``; ``None`` where the compiled hot path refuses the change: its
    Event holds only values of the declared types (``principal=42``, a tuple for a list), so
    a wrong type is refused where the event is made, before any encoder sees it. The plain
    Python run of the unit tests (``bin/test``) checks the encoder itself on those."""
    try:
        return dataclasses.replace(event, **change)
    except TypeError:
        assert native.STATUS.active, "only compiled events refuse a field's type"
        return None


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "no_such_kind"},
        {"outcome": "maybe"},
        {"principal": 42},
        {"attributes": {"tool": 7}},
        {"keys": [("jti",)]},
        {"raw": b"bytes"},
    ],
    ids=["kind", "outcome", "principal", "attribute", "key", "raw"],
)
def test_what_fastavro_refuses_is_refused_as_fastavro_refuses_it(change: dict[str, Any]) -> None:
    event = _changed(full_envelope().event, **change)
    if event is None:
        return
    ref = ("ledger.raw.mcp", 1, 2)
    expected = _error(lambda: encode(Envelope(event, INGESTED, "b", ref)))
    assert _error(lambda: EventEncoder(INGESTED, "b").encode(event, ref)) == expected


def test_shapes_outside_the_layout_are_written_by_fastavro() -> None:
    event = _changed(full_envelope().event, scopes=("a", "b"), keys=(("jti", "x"),))
    if event is None:
        return
    ref = ("ledger.raw.mcp", 1, 2)
    fast = EventEncoder(INGESTED, "b").encode(event, ref)
    assert fast == encode(Envelope(event, INGESTED, "b", ref))


def test_a_schema_whose_types_differ_from_the_layout_is_written_by_fastavro(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = orjson.loads(orjson.dumps(codec.load_schema()))
    for item in schema["fields"]:
        if item["name"] == "source_id":
            item["type"] = ["null", "string"]  # same names, another type
    monkeypatch.setattr(avro_write, "load_schema", lambda version=2: schema)
    monkeypatch.setattr(envelope, "load_schema", lambda version=2: schema)
    avro_write._fast_layout.cache_clear()
    try:
        assert avro_write._fast_layout() is None
        event = full_envelope().event
        written = EventEncoder(INGESTED, "b").encode(event, None)
        assert written == encode(Envelope(event, INGESTED, "b", None))
    finally:
        monkeypatch.undo()
        avro_write._fast_layout.cache_clear()
    assert avro_write._fast_layout() is not None


LONGS = [0, 1, -1, 63, 64, -64, -65, 2**48 - 1, 2**48, -(2**48), -(2**48) - 1, 2**55 - 1]
LONGS += [2**55, -(2**55), -(2**55) - 1, 2**62, 2**63 - 1, -(2**63), 1_795_165_220_000_000]
LONGS += [-2_208_988_800_000_000, 10_413_791_999_000_000]  # 1900 and 2299 in microseconds


@pytest.mark.parametrize("value", LONGS)
def test_a_long_is_written_as_fastavro_writes_it(value: int) -> None:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, "long", value)
    assert avro_write._varint(value) == buf.getvalue()
