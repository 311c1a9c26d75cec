"""Session declarations read from ``ledger.sessions.declared`` by the stitch owner, in the
same batches as the events (``processors.ownership``): one stitcher applies both."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from ingest.deadletter import dead_letter
from kernel.declaration import DeclarationError, SessionDeclaration, parse_declaration
from kernel.errors import RecordError


def read_declarations(
    messages: Iterable[Any],
) -> tuple[list[tuple[str, SessionDeclaration]], list[dict[str, Any]]]:
    """(position, declaration) of each message that parses, in order; dead-letter entries
    naming the topic, partition, offset and field of the others."""
    declarations: list[tuple[str, SessionDeclaration]] = []
    rejected: list[dict[str, Any]] = []
    for message in messages:
        position = f"{message.topic}/{message.partition}/{message.offset}"
        value = bytes(message.value or b"")
        try:
            declarations.append((position, parse_declaration(orjson.loads(value))))
        except (DeclarationError, orjson.JSONDecodeError) as exc:
            error = RecordError(
                str(exc),
                source="declarations",
                position=position,
                field=getattr(exc, "field", None),
            )
            rejected.append(dead_letter(error, value.decode(errors="replace")))
    return declarations, rejected
