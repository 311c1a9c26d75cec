"""What a SQL statement an argument carries says: its kind (from its first word), the rows
it asks for, whether it pages, and the tables it names."""

from __future__ import annotations

import re
from typing import Final

from models.text import DELETE, EXEC, READ, WRITE, word_set

_LIMIT = re.compile(r"\b(?:limit|top|fetch first)\s+(\d+)", re.I)
_OFFSET = re.compile(r"\boffset\s+(\d+)", re.I)


def statement_volume(command: str) -> tuple[float, bool]:
    """The rows a statement asks for (its LIMIT), and whether it pages (an OFFSET)."""
    limit = _LIMIT.search(command)
    offset = _OFFSET.search(command)
    return (
        float(limit.group(1)) if limit else 0.0,
        bool(offset and offset.group(1) not in ("0", "1")),
    )


_STATEMENT_KINDS: Final = {
    **dict.fromkeys(word_set("select with show describe explain"), READ),
    **dict.fromkeys(word_set("insert update merge upsert create alter replace"), WRITE),
    **dict.fromkeys(word_set("delete drop truncate"), DELETE),
    **dict.fromkeys(word_set("grant revoke"), EXEC),
}


_TABLES = re.compile(r"\b(?:from|join|update|into|table)\s+([a-z_][\w.]*)", re.I)


def statement_tables(command: str) -> list[str]:
    """The tables a SQL statement names (after FROM, JOIN, UPDATE, INTO, TABLE), lower-case
    and without their schema."""
    return [m.group(1).lower().rsplit(".", 1)[-1] for m in _TABLES.finditer(command)]


def statement_kind(command: str) -> str | None:
    """The kind of a SQL statement a command argument carries, from its first word."""
    head = command.lstrip(" \n\t(").split(None, 1)
    return _STATEMENT_KINDS.get(head[0].lower()) if head else None


_SCOPED = re.compile(r"\b(?:where|limit|top|fetch first|group by|count\s*\()", re.I)


def unscoped(command: str) -> bool:
    """A SELECT with no WHERE, no LIMIT, no aggregate: every row of its tables."""
    return statement_kind(command) == READ and _SCOPED.search(command) is None


_EMPTIES: Final = re.compile(r"^\s*(?:drop\s+(?:table|database|schema)|truncate)\b", re.I)
_DELETE_ALL: Final = re.compile(r"^\s*delete\s+from\s+[\w.\"`]+\s*;?\s*$", re.I)


def destroys_table(command: str) -> bool:
    """A statement that drops or empties a whole table (DROP TABLE, TRUNCATE, a DELETE with
    no WHERE), not one that deletes the rows it names."""
    return bool(_EMPTIES.search(command) or _DELETE_ALL.search(command))
