"""Ledger rows as Arrow columns: how inserts reach the engine.

The engine reads an Arrow batch column by column, with no text to parse; the batch is built
here from the row dicts the builders make, one column at a time, so nothing is encoded per
row. Each column is typed from its table's definition (``ledger.schema``), so the values a
query reads back are the ones a JSON Lines insert of the same rows stores: times are the
builders' ``DateTime64(6, 'UTC')`` text, parsed here as UTC.

Rows that do not fit the table's types (a column the table lacks, rows with different
columns, a value of another type) get ``None``: the caller inserts those as JSON Lines, as
before, and the engine judges them.
"""

from __future__ import annotations

import importlib.abc
import os
import re
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import repeat
from operator import eq, itemgetter, methodcaller
from typing import Any

import pyarrow as pa

from ledger.schema import TABLES, column_types

_WRAPPED = re.compile(r"^(LowCardinality|Nullable|Array)\((.*)\)$")
_DATETIME64 = re.compile(r"^DateTime64\((\d)(?:,\s*'UTC')?\)$")
_UNITS = {3: "ms", 6: "us", 9: "ns"}
_SCALARS: dict[str, pa.DataType] = {
    "String": pa.string(),
    "Bool": pa.bool_(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    # Float32 travels as the float64 the row holds: the engine narrows it as it narrows the
    # number a JSON insert writes.
    "Float32": pa.float64(),
    "Float64": pa.float64(),
}


def use_reusing_allocator() -> str:
    """Take Arrow's buffers from jemalloc where the installed pyarrow has it; returns the
    allocator's name. An ``ARROW_DEFAULT_MEMORY_POOL`` the user set is left as it is.

    The wheels default to mimalloc, which gives freed memory back to the system within
    milliseconds: each ledger write's columns then faulted fresh pages in, and the kernel
    zeroing them took a twelfth to a sixth of the worker's CPU samples on the bench. jemalloc
    keeps its pages for the next write (BENCHMARKS.md has the figures)."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL") and (
        "jemalloc" in pa.supported_memory_backends()
    ):
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    return str(pa.default_memory_pool().backend_name)


use_reusing_allocator()  # every process that builds ledger columns imports this module


class _KeptOut(importlib.abc.MetaPathFinder):
    """Refuses the import of one package, and of its modules."""

    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == self.package or name.startswith(self.package + "."):
            raise ModuleNotFoundError(f"{name} is kept out of this process", name=name)
        return None


def without_pandas() -> bool:
    """Keep pandas out of a process that only builds columns; returns whether it is out.

    pyarrow's first conversion of a Python list imports pandas wherever it is installed (the
    engine's package requires it), to ask whether the list is a pandas object: 34 MB
    resident in a warmed worker (140.9 MB against 106.9) for a module it never uses.
    Refusing the import answers the question without it (pyarrow then works as where pandas
    is not installed). A process that imported pandas already keeps it. Call it only in a
    process that never uses pandas itself (the worker): its import fails there from then on.
    """
    if "pandas" in sys.modules:
        return False
    if not any(isinstance(f, _KeptOut) and f.package == "pandas" for f in sys.meta_path):
        sys.meta_path.insert(0, _KeptOut("pandas"))
    return True


def warm() -> None:
    """Convert a text and a time now, so that a worker's first batch does not wait for what
    pyarrow's first conversions set up: its compute functions for the cast, and pandas
    unless ``without_pandas`` kept it out (0.2 s on the bench's machine)."""
    pa.array([""], pa.string())
    _column(["2026-01-01 00:00:00.000000"], pa.timestamp("us", tz="UTC"))


# What a value of the wrong type raises while a column is built.
_MISFITS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


def arrow_type(ch_type: str) -> pa.DataType | None:
    """The Arrow type a column of ClickHouse type ``ch_type`` is sent as (``None``: no
    Arrow form here, the rows go as JSON)."""
    wrapped = _WRAPPED.match(ch_type)
    if wrapped is not None:
        inner = arrow_type(wrapped.group(2))
        if inner is None or wrapped.group(1) != "Array":
            return inner
        return pa.list_(inner)
    stamp = _DATETIME64.match(ch_type)
    if stamp is not None:
        unit = _UNITS.get(int(stamp.group(1)))
        return pa.timestamp(unit, tz="UTC") if unit else None
    return _SCALARS.get(ch_type)


@cache
def table_types(table: str) -> dict[str, pa.DataType | None]:
    return {name: arrow_type(ch) for name, ch in column_types(table).items()}


def _column(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(kind):
        # The builders' text (``kernel.events.ch_ts``), UTC wall-clock time; a zone offset or
        # another shape fails the cast, and the rows go as JSON.
        naive = pa.array(values, pa.string()).cast(pa.timestamp(kind.unit))
        return naive.cast(kind)
    return pa.array(values, kind)


def _columns(rows: Sequence[Mapping[str, Any]], names: list[str]) -> list[Sequence[Any]]:
    """Each of ``names``' values over ``rows``. The builders make every row of a table with
    its keys in one order: then one transposition of the rows' values (C loops, about half
    the time of a lookup per column and row); otherwise a lookup per column, where a row
    lacking a name raises KeyError."""
    if all(map(eq, map(tuple, rows), repeat(tuple(names)))):
        return list(zip(*map(_values, rows), strict=True))
    if set(map(len, rows)) != {len(names)}:
        raise KeyError("rows of different columns")
    return [list(map(itemgetter(name), rows)) for name in names]


_values = methodcaller("values")


def arrow_table(table: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table | None:
    """``rows`` of ``table`` as one Arrow table with the rows' columns, or ``None`` when they
    do not fit it (see the module's docstring)."""
    if not rows or table not in TABLES:
        return None
    types = table_types(table)
    names = list(rows[0])
    kinds = [types.get(name) for name in names]
    if not names or any(kind is None for kind in kinds):
        return None
    try:
        arrays = [
            _column(values, kind) for values, kind in zip(_columns(rows, names), kinds, strict=True)
        ]
    except (KeyError, *_MISFITS):
        return None
    return pa.Table.from_arrays(arrays, names=names)


def conform(table: str, data: pa.Table) -> pa.Table:
    """``data`` read back from ``table`` (the engine sends ``String`` as binary, ``Float32``
    as float32) with each column of the table in the type an insert of it sends; columns
    the table lacks stay as they are."""
    types = table_types(table)
    arrays = []
    for name, column in zip(data.column_names, data.columns, strict=True):
        kind = types.get(name)
        arrays.append(column if kind is None or column.type == kind else column.cast(kind))
    return pa.Table.from_arrays(arrays, names=data.column_names)


def joined(parts: Sequence[pa.Table], rows: int) -> pa.Table | None:
    """``parts``, Arrow tables of one ledger table built batch by batch, as one table, if
    together they hold exactly ``rows`` rows in one schema; else ``None`` (the rows are
    then converted as they are)."""
    if not parts or sum(part.num_rows for part in parts) != rows:
        return None
    try:
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)
    except pa.ArrowInvalid:
        return None
