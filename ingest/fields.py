"""Lenient field access for third-party records, shared by the parsers.

Real logs put ``null``, numbers or strings where the documentation promises objects;
only the required fields are strict (``ingest.base.require``), every other field falls
back to "absent" instead of raising.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from agentledger.errors import RecordError

# Shared and read-only, so that ``obj(None)`` costs no allocation on the hot path.
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def obj(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty mapping."""
    return value if isinstance(value, dict) else _EMPTY


def text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def add_key(keys: list[tuple[str, str]], key_type: str, value: str | None) -> None:
    """Append a correlation key once; absent values and repeats are skipped."""
    if value and (key_type, value) not in keys:
        keys.append((key_type, value))


def put(attributes: dict[str, str], name: str, value: str | None) -> None:
    """Set a string attribute only when there is a value (the map holds strings only)."""
    if value:
        attributes[name] = value


def require_text(record: Mapping[str, Any], field: str) -> str:
    """``record[field]`` as a non-empty string, or a ``RecordError`` naming the field."""
    value = record.get(field)
    if value is None or value == "":
        raise RecordError("required field is missing", field=field)
    if not isinstance(value, str):
        raise RecordError(f"expected a string, got {type(value).__name__}", field=field)
    return value
