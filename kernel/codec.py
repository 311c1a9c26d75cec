"""Avro encoding of events for ``ledger.events`` and ``ledger.events.calls`` (schemaless: one
record a message).

The writer schema's version travels in the ``ledger-schema`` message header, so a reader
always resolves old-writer data against its own (newer) schema. Every version's schema stays
in ``schemas/``: v2 added ``source_id``, which v1 data reads as "".

The schemas and the envelope are ``kernel.envelope``'s; many events are encoded at once by
``kernel.avro_write.EventEncoder`` and the current schema is read by ``kernel.avro_read``,
both faster than fastavro and giving what it gives.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import fastavro

from kernel.avro_read import NotRead, fast_read_fits, read_current, read_event_key
from kernel.avro_write import EventEncoder
from kernel.envelope import (
    CURRENT_VERSION,
    SCHEMA_DIR,
    SCHEMA_HEADER,
    Envelope,
    encode,
    from_record,
    load_schema,
    schema_name,
    to_record,
)
from kernel.errors import RecordError

__all__ = [
    "CURRENT_VERSION",
    "SCHEMA_DIR",
    "SCHEMA_HEADER",
    "Envelope",
    "EventEncoder",
    "decode",
    "encode",
    "event_key_of",
    "from_record",
    "load_schema",
    "schema_name",
    "to_record",
    "writer_version",
]


def decode(data: bytes, writer_version: int = CURRENT_VERSION) -> Envelope:
    """Decode with the writer's schema, resolved against the current reader schema."""
    if writer_version == CURRENT_VERSION and fast_read_fits():
        try:
            return read_current(data)
        except (NotRead, IndexError, UnicodeDecodeError, OverflowError, ValueError):
            pass  # not read cleanly: fastavro below gives the event, or the reason
    try:
        writer = load_schema(writer_version)
        reader = None if writer_version == CURRENT_VERSION else load_schema(CURRENT_VERSION)
        record = fastavro.schemaless_reader(io.BytesIO(data), writer, reader)
    except Exception as exc:  # fastavro raises several unrelated types for corrupt input
        raise RecordError(f"cannot decode Avro event (writer v{writer_version}): {exc}") from exc
    return from_record(record)  # type: ignore[arg-type]


def event_key_of(
    data: bytes | None, writer_version: int = CURRENT_VERSION
) -> tuple[str, int] | None:
    """The event id and event time (µs since the epoch) of an encoded event, without decoding
    it (``None``: only ``decode`` can tell)."""
    if writer_version != CURRENT_VERSION or not fast_read_fits():
        return None
    return read_event_key(data)


_VERSIONS: dict[bytes, int] = {}  # header value -> version, as read once


def writer_version(headers: Sequence[tuple[str, bytes]] | None) -> int:
    # aiokafka gives a message's headers as a tuple, producers pass lists.
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
