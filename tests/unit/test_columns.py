"""Ledger rows as Arrow columns (``ledger.columns``): which rows go columnar, and how."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime
from types import MappingProxyType

import pyarrow as pa
import pytest

from ledger.columns import arrow_table, arrow_type, table_types, use_reusing_allocator
from ledger.schema import TABLES


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_column_of_every_table_has_an_arrow_form(table: str) -> None:
    assert all(kind is not None for kind in table_types(table).values()), table_types(table)


def test_types_follow_the_column_definitions() -> None:
    assert arrow_type("LowCardinality(String)") == pa.string()
    assert arrow_type("Array(String)") == pa.list_(pa.string())
    assert arrow_type("Nullable(Int64)") == pa.int64()
    assert arrow_type("DateTime64(6, 'UTC')") == pa.timestamp("us", tz="UTC")
    assert arrow_type("Map(String, String)") is None


def _key(key_value: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "key_type": "jti", "key_value": key_value, "session_id": "s-1",
        "first_seen": "2026-11-20 10:00:00.123456", "event_id": "e-1", "version": 3,
    }  # fmt: skip
    row.update(changes)
    return row


def test_times_are_read_as_utc_microseconds() -> None:
    data = arrow_table("session_keys", [_key("AT.1"), _key("AT.2")])
    assert data is not None
    assert data.column_names == list(_key("x"))
    assert (
        data.column("first_seen").to_pylist()
        == [datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)] * 2
    )
    assert data.column("version").type == pa.uint64()


@pytest.mark.parametrize(
    "rows",
    [
        [_key("AT.1"), {**_key("AT.2"), "extra": 1}],  # another column
        [_key("AT.1", extra=1)],  # a column the table lacks
        [_key("AT.1"), {k: v for k, v in _key("AT.2").items() if k != "event_id"}],
        [_key("AT.1", version="three")],  # a value of another type
        [_key("AT.1", first_seen="2026-11-20T10:00:00+02:00")],  # a time with an offset
        [_key("AT.1", version=-1)],  # out of the column's range
    ],
)
def test_rows_that_do_not_fit_get_none(rows: list[dict[str, object]]) -> None:
    assert arrow_table("session_keys", rows) is None


def test_no_rows_or_an_unknown_table_get_none() -> None:
    assert arrow_table("session_keys", []) is None
    assert arrow_table("no_such_table", [_key("AT.1")]) is None


def test_rows_with_their_keys_in_another_order_keep_each_value_in_its_column() -> None:
    reordered = dict(reversed(list(_key("AT.2", session_id="s-2", version=4).items())))
    data = arrow_table("session_keys", [_key("AT.1"), reordered])
    assert data is not None
    assert data.column("key_value").to_pylist() == ["AT.1", "AT.2"]
    assert data.column("session_id").to_pylist() == ["s-1", "s-2"]
    assert data.column("version").to_pylist() == [3, 4]


def test_mappings_that_are_not_dicts_are_read_too() -> None:
    rows = [MappingProxyType(_key("AT.1")), MappingProxyType(_key("AT.2"))]
    data = arrow_table("session_keys", rows)
    assert data is not None
    assert data.column("key_value").to_pylist() == ["AT.1", "AT.2"]


def test_columns_are_built_in_an_allocator_that_keeps_its_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    reusing = "jemalloc" in pa.supported_memory_backends()
    expected = "jemalloc" if reusing else pa.default_memory_pool().backend_name
    assert use_reusing_allocator() == expected
    assert pa.default_memory_pool().backend_name == expected


def test_an_allocator_the_user_named_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
        assert use_reusing_allocator() == "system"
    finally:
        pa.set_memory_pool(before)


_FIRST_BATCH = """
import sys
from ledger.columns import arrow_table, warm, without_pandas
from ledger.drift_rows import drift_row
from models.trail import DriftScore
{warm}
before = set(sys.modules)
row = drift_row(
    DriftScore(0.5, False, ("within the intent",), "v1"), action_id="a", session_id="s",
    event_time="2026-12-06 10:00:00.000000", agent="claude", tool="t", decision="allow",
    policy_rule="", contraction_id="", scored_at="2026-12-06 10:00:01.000000", version=1,
)
assert arrow_table("drift", [row]) is not None
print(sorted(set(sys.modules) - before))
"""


@pytest.mark.parametrize("warmed", [True, False])
def test_a_warmed_process_imports_nothing_for_its_first_columns(warmed: bool) -> None:
    """A worker warms pyarrow at start: its first batch's columns then import nothing (the
    first conversion imports pandas where it is installed, a fifth of a second). In a fresh
    interpreter, as the worker's first batch is."""
    code = _FIRST_BATCH.format(warm="warm()" if warmed else "")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    imported = ast.literal_eval(done.stdout.strip())
    if warmed:
        assert imported == []
    else:  # pandas comes with the embedded ledger's engine (chdb requires it)
        assert "pandas" in imported


def test_a_worker_keeps_pandas_out_and_builds_the_same_columns() -> None:
    """The worker refuses pandas before it warms pyarrow: its first batch's columns are
    built and import nothing, and pandas was never imported. In a fresh interpreter (the
    refusal lasts for its process)."""
    code = _FIRST_BATCH.format(warm="assert without_pandas() and without_pandas()\nwarm()")
    code += "assert 'pandas' not in sys.modules\n"
    code += "try:\n    import pandas\nexcept ImportError:\n    print('kept out')\n"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    imported, kept_out = done.stdout.strip().splitlines()
    assert ast.literal_eval(imported) == [] and kept_out == "kept out"
