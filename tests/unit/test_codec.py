"""Avro encoding of events: round trip, the schema header, corrupt input, schema evolution."""

from __future__ import annotations

import copy
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import orjson
import pytest

from kernel import avro_read, codec
from kernel.codec import Envelope, decode, encode, writer_version
from kernel.errors import RecordError
from kernel.events import KEY_JTI, KEY_MCP_RPC, KEY_MCP_SESSION, SUCCESS, TOOL_CALL, Event, micros

SCHEMA_PATH = codec.SCHEMA_DIR / f"{codec.schema_name(codec.CURRENT_VERSION)}.avsc"


def full_envelope() -> Envelope:
    event = Event(
        event_id="0f3c9a1e5b7d4c2a8e6f1b3d5a7c9e0f",
        source="mcp",
        kind=TOOL_CALL,
        event_time=datetime(2025, 3, 14, 9, 0, 0, 123456, tzinfo=UTC),
        operation="tools/call",
        position="capture.jsonl:12",
        raw='{"message":{"id":7,"method":"tools/call"}}',
        principal="alice@example.com",
        principal_type="User",
        client_id="0oa8f5j3ecb5w3dF35d7",
        agent_name="claude-code",
        agent_version="1.0.33",
        agent_instance="agent-7",
        service="github",
        resource="create_issue",
        outcome=SUCCESS,
        outcome_detail="created #12",
        intent="Triage issue #12",
        scopes=["mcp:tools", "repo:write"],
        keys=[(KEY_MCP_SESSION, "1868a90c"), (KEY_JTI, "AT.Zx7"), (KEY_MCP_RPC, "1868a90c:7")],
        attributes={"tool": "create_issue", "arguments": '{"title":"bug"}'},
        source_id="github#7",
    )
    return Envelope(
        event=event,
        ingested_at=datetime(2025, 3, 14, 9, 0, 5, tzinfo=UTC),
        ingest_batch="b-20250314-0001",
        raw_ref=("ledger.raw.mcp", 3, 98765432101),
    )


def minimal_envelope() -> Envelope:
    event = Event(
        event_id="e1",
        source="okta",
        kind="identity",
        event_time=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        operation="user.session.start",
        position="okta.json:1[0]",
        raw="{}",
    )
    return Envelope(event=event, ingested_at=datetime(2025, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("envelope", [full_envelope(), minimal_envelope()])
def test_encode_then_decode_gives_back_the_envelope(envelope: Envelope) -> None:
    decoded = decode(encode(envelope))
    assert decoded == envelope
    assert decoded.event == envelope.event
    assert decoded.event.event_time.utcoffset() == timedelta(0)


def test_the_writer_version_comes_from_the_schema_header() -> None:
    assert writer_version([("trace", b"x"), ("ledger-schema", b"ledger.Event.v1")]) == 1
    assert writer_version([("ledger-schema", b"ledger.Event.v7")]) == 7


def test_the_writer_version_defaults_to_the_current_one() -> None:
    assert writer_version(None) == codec.CURRENT_VERSION == 2
    assert writer_version([]) == 2
    assert writer_version([("content-type", b"avro/binary")]) == 2


@pytest.mark.parametrize("value", [b"ledger.Event", b"ledger.Event.vX", b""])
def test_a_bad_schema_header_is_a_record_error(value: bytes) -> None:
    with pytest.raises(RecordError) as caught:
        writer_version([("ledger-schema", value)])
    assert caught.value.reason == f"bad ledger-schema header {value.decode()!r}"


def test_a_schema_header_that_is_not_utf8_is_a_record_error() -> None:
    with pytest.raises(RecordError):
        writer_version([("ledger-schema", b"ledger.Event.v\xff")])


@pytest.mark.parametrize(
    "data",
    [b"", encode(full_envelope())[:-7], b"\x02"],
    ids=["empty", "truncated", "one-byte"],
)
def test_corrupt_bytes_are_a_record_error(data: bytes) -> None:
    with pytest.raises(RecordError) as caught:
        decode(data)
    assert caught.value.reason.startswith("cannot decode Avro event (writer v2): ")
    # The decoder's own error stays attached: as the cause in plain Python, as the context
    # compiled (mypyc keeps the exception being handled but not ``raise … from``).
    assert (caught.value.__cause__ or caught.value.__context__) is not None


def test_an_unknown_writer_version_is_a_record_error() -> None:
    with pytest.raises(RecordError) as caught:
        decode(encode(full_envelope()), writer_version=9)
    assert caught.value.reason.startswith("cannot decode Avro event (writer v9): ")


# -- schema evolution ------------------------------------------------------------------------


def read_with_current_schema(buf: io.BytesIO, writer: Any) -> dict[str, Any]:
    buf.seek(0)
    record = fastavro.schemaless_reader(buf, writer, codec.load_schema())
    assert isinstance(record, dict)
    return record


def schema_json() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(SCHEMA_PATH.read_bytes())
    return loaded


def test_every_optional_field_of_the_schema_has_a_default() -> None:
    fields = schema_json()["fields"]
    required = [f["name"] for f in fields if "default" not in f]
    assert required == [
        "event_id",
        "source",
        "kind",
        "event_time",
        "ingested_at",
        "operation",
        "position",
        "raw",
        "outcome",
    ]

    def optional(kind: Any) -> bool:
        nullable = isinstance(kind, list) and "null" in kind
        return nullable or (isinstance(kind, dict) and kind["type"] in ("array", "map"))

    optionals = [f for f in fields if optional(f["type"])]
    assert optionals, "no field reads as optional: the check below would prove nothing"
    assert [f["name"] for f in optionals if "default" not in f] == []
    defaults = {f["name"]: f["default"] for f in fields if "default" in f}
    assert defaults["raw_ref"] is None
    assert defaults["ingest_batch"] == defaults["source_id"] == ""
    assert (defaults["scopes"], defaults["keys"], defaults["attributes"]) == ([], [], {})


def test_data_from_a_writer_without_the_optional_fields_reads_with_the_current_schema() -> None:
    old = schema_json()
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("raw_ref", "ingest_batch")]
    writer = fastavro.parse_schema(old)
    record = codec.to_record(full_envelope())
    del record["raw_ref"], record["ingest_batch"]
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, writer, record)

    read = read_with_current_schema(buf, writer)
    assert (read["raw_ref"], read["ingest_batch"]) == (None, "")
    envelope = codec.from_record(read)
    expected = full_envelope()
    assert envelope == Envelope(event=expected.event, ingested_at=expected.ingested_at)


def test_a_kind_unknown_to_the_reader_falls_back_to_the_enum_default() -> None:
    new = schema_json()
    new_fields = copy.deepcopy(new["fields"])
    for f in new_fields:
        if f["name"] == "kind":
            f["type"]["symbols"].append("a2a_message")
    new["fields"] = new_fields
    writer = fastavro.parse_schema(new)
    record = codec.to_record(full_envelope())
    record["kind"] = "a2a_message"
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, writer, record)

    read = read_with_current_schema(buf, writer)
    assert read["kind"] == "api_call"


def test_every_earlier_schema_is_kept_and_the_current_one_only_adds_fields() -> None:
    names = {path.name for path in codec.SCHEMA_DIR.glob("ledger.Event.*.avsc")}
    versions = range(1, codec.CURRENT_VERSION + 1)
    assert names == {f"{codec.schema_name(v)}.avsc" for v in versions}
    v1 = orjson.loads((codec.SCHEMA_DIR / "ledger.Event.v1.avsc").read_bytes())
    added = [f for f in schema_json()["fields"] if f not in v1["fields"]]
    assert [(f["name"], f["default"]) for f in added] == [("source_id", "")]


def test_events_written_with_schema_v1_decode_with_an_empty_source_id() -> None:
    record = codec.to_record(full_envelope())
    del record["source_id"]
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, codec.load_schema(1), record)

    decoded = decode(buf.getvalue(), writer_version=1)
    expected = full_envelope()
    expected.event.source_id = ""
    assert decoded == expected
    assert decode(encode(full_envelope())).event.source_id == "github#7"


# -- the hot path's reader -------------------------------------------------------------------


def test_the_fast_reader_fits_the_current_schema() -> None:
    # A changed schema file turns the fast reader off (fastavro reads everything): update
    # ``avro_read.read_current`` and its digest together with the schema.
    assert avro_read.schema_digest() == avro_read._FAST_SCHEMA_SHA256
    assert avro_read.fast_read_fits()


def varied_envelopes() -> list[Envelope]:
    full, minimal = full_envelope(), minimal_envelope()
    long_text = "é" * 300 + "\u2028" + "x" * 5000  # lengths of more than one varint byte
    many = full_envelope()
    many.event.attributes = {f"a{i}": long_text[: i * 40] for i in range(80)}
    many.event.keys = [(KEY_MCP_RPC, f"srv:{i}") for i in range(70)]
    many.event.scopes = [f"scope:{i}" for i in range(100)]
    many.event.raw = long_text
    # Short strings that are not ASCII, in every kind of field (the reader slices ASCII
    # strings out of the record read as Latin-1 and decodes the others as UTF-8).
    accented = full_envelope()
    accented.event.principal = "zoë@example.com"
    accented.event.intent = "Résumé triage ✓"
    accented.event.operation = "tools/çall"
    accented.event.attributes = {"naïve": "vålue", "plain": "ascii", "ключ": "значение"}
    accented.event.keys = [(KEY_MCP_SESSION, "sess-β")]
    accented.event.scopes = ["scöpe", "plain"]
    accented.event.raw = '{"text":"héllo"}'
    accented = Envelope(accented.event, accented.ingested_at, "lot-ü", accented.raw_ref)
    old = minimal_envelope()
    old.event.event_time = datetime(1901, 1, 1, 0, 0, 0, 1, tzinfo=UTC)  # before the epoch
    return [full, minimal, many, accented, old]


@pytest.mark.parametrize("envelope", varied_envelopes())
def test_the_fast_reader_reads_what_fastavro_reads(envelope: Envelope) -> None:
    data = encode(envelope)
    record = fastavro.schemaless_reader(io.BytesIO(data), codec.load_schema())
    expected = codec.from_record(record)  # type: ignore[arg-type]
    fast = avro_read.read_current(data)
    assert fast == expected == envelope
    assert fast.event.event_time.tzinfo is expected.event.event_time.tzinfo
    assert all(type(key) is tuple for key in fast.event.keys)


def test_blocks_with_byte_sizes_read_as_fastavro_reads_them() -> None:
    # Writers may split a map in blocks; a negative count is followed by the block's size.
    envelope = minimal_envelope()
    data = encode(envelope)
    assert data.endswith(b"\x00")  # the attributes, empty: the last field
    entry = b"\x02k" + b"\x02v"  # "k": "v"
    blocked = data[:-1] + b"\x01" + bytes([len(entry) * 2]) + entry + b"\x02\x04k2\x04v2\x00"
    record = fastavro.schemaless_reader(io.BytesIO(blocked), codec.load_schema())
    expected = codec.from_record(record)  # type: ignore[arg-type]
    assert expected.event.attributes == {"k": "v", "k2": "v2"}
    assert avro_read.read_current(blocked) == expected


@pytest.mark.parametrize("cut", [1, 7, 40, 200])
def test_truncated_data_is_left_to_fastavro(cut: int) -> None:
    data = encode(full_envelope())[:-cut]
    with pytest.raises(RecordError):
        decode(data)


# -- an event's id and time without its decode (the worker asks the ledger while it decodes) --


def _key(envelope: Envelope) -> tuple[str, int]:
    return envelope.event.event_id, micros(envelope.event.event_time)


@pytest.mark.parametrize("envelope", [full_envelope(), minimal_envelope()])
def test_the_event_key_read_alone_is_the_decoded_ones(envelope: Envelope) -> None:
    data = encode(envelope)
    assert codec.event_key_of(data) == _key(decode(data)) == _key(envelope)


@pytest.mark.parametrize(
    "at",
    [
        datetime(1900, 1, 1, tzinfo=UTC),  # before the epoch: a negative count
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 12, 5, 10, 47, 51, 123456, tzinfo=UTC),
        datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_the_event_time_is_read_alone_to_the_microsecond(at: datetime) -> None:
    envelope = full_envelope()
    envelope.event.event_time = at
    event_id, time_us = codec.event_key_of(encode(envelope)) or ("", 0)
    assert event_id == envelope.event.event_id
    assert (
        time_us == micros(at)
        and datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_us) == at
    )


def test_a_long_event_id_is_read_alone_too() -> None:
    envelope = full_envelope()
    envelope.event.event_id = "é" * 100  # a length of two bytes, and UTF-8 beyond ASCII
    assert codec.event_key_of(encode(envelope)) == _key(envelope)


def test_an_older_writer_leaves_the_key_to_the_decode() -> None:
    assert codec.event_key_of(encode(full_envelope()), writer_version=1) is None


@pytest.mark.parametrize(
    "data",
    [b"", b"\x02", b"\x7f", b"\x80\x80", b"\x06\xff\xfe\xfd", None, b"\x01abc", b"\x02a\x04"],
)
def test_bytes_that_hold_no_key_give_none_not_an_error(data: bytes | None) -> None:
    assert codec.event_key_of(data) is None
