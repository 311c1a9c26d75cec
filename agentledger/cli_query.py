"""``agentledger query``: the saved analyst queries (``ledger/saved``), run by name."""

from __future__ import annotations

import contextlib
import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson
from rich.table import Table

from agentledger.cli_common import console, data_dir_option
from ledger.saved_queries import SavedQuery, SavedQueryError, saved_queries, saved_query

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("table", "json", "csv", "parquet")


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs as a dict; a pair without ``=`` or a name given twice is refused."""
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SavedQueryError(f"--param {pair!r}: give it as NAME=VALUE")
        if name in given:
            raise SavedQueryError(f"--param {name!r} is given twice")
        given[name] = value
    return given


def catalogue() -> list[dict[str, Any]]:
    """Every saved query: name, description, and its parameters with types and defaults."""
    return [
        {
            "name": q.name,
            "description": q.description,
            "parameters": [
                {
                    "name": p.name,
                    "type": p.type,
                    "default": p.default,
                    "description": p.description,
                }
                for p in q.parameters
            ],
        }
        for q in saved_queries().values()
    ]


def _catalogue_table(entries: list[dict[str, Any]]) -> Table:
    table = Table("query", "description", "parameters", show_lines=True)
    for entry in entries:
        params = "\n".join(
            f"{p['name']} {p['type']}" + (f" = {p['default']}" if p["default"] is not None else "")
            for p in entry["parameters"]
        )
        table.add_row(entry["name"], entry["description"], params or "-")
    return table


def cell(value: Any) -> str:
    """A value as one CSV or table cell: lists and objects as JSON, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_text(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return out.getvalue()


def _rows_table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(*columns)
    for row in rows:
        table.add_row(*(cell(row.get(c)) for c in columns))
    return table


def as_text_columns(data: pa.Table) -> pa.Table:
    """``data`` with the engine's binary strings (``String`` comes as Arrow binary) as UTF-8
    strings, in lists too; a column that is not UTF-8 stays binary."""
    import pyarrow as pa

    arrays = []
    for field, column in zip(data.schema, data.columns, strict=True):
        kind = field.type
        wanted = None
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            wanted = pa.string()
        elif pa.types.is_list(kind) and pa.types.is_binary(kind.value_type):
            wanted = pa.list_(pa.string())
        if wanted is not None:
            with contextlib.suppress(pa.ArrowInvalid):
                column = column.cast(wanted)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=data.column_names)


def _columns(store: Any, sql: str, values: dict[str, Any]) -> list[str]:
    """The result's column names, from the engine (for a result with no rows)."""
    described = store.query_rows(f"DESCRIBE ({sql})", values)
    return [str(row["name"]) for row in described]


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def run_query(
    saved: SavedQuery, given: dict[str, str], fmt: str, output: Path | None, store: Any
) -> int:
    """Run ``saved`` on ``store`` and write its rows in ``fmt``; the number of rows."""
    values = saved.bind(given)
    sql = saved.sql(store.database)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert output is not None
        data = store.query_arrow(sql, values)
        if data is None:
            names = _columns(store, sql, values)
            data = pa.table({name: pa.array([], pa.string()) for name in names})
        pq.write_table(as_text_columns(data), output)
        return int(data.num_rows)
    rows: list[dict[str, Any]] = store.query_rows(sql, values)
    columns = list(rows[0]) if rows else _columns(store, sql, values)
    if fmt == "json":
        _write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n", output)
    elif fmt == "csv":
        _write(csv_text(columns, rows), output)
    elif output is None:
        console.print(_rows_table(columns, rows))
    else:
        with output.open("w", encoding="utf-8") as handle:
            from rich.console import Console

            Console(file=handle, width=200).print(_rows_table(columns, rows))
    return len(rows)


@click.command()
@click.argument("name", required=False)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter of the query (repeat for each); times in ISO 8601, UTC if no zone.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rows to this file (parquet needs one).",
)
@click.option("--list", "list_only", is_flag=True, help="List the saved queries and exit.")
@data_dir_option
@click.option("--clickhouse", help="Read a ClickHouse server instead of the running ledger.")
def query(
    name: str | None,
    params: tuple[str, ...],
    fmt: str,
    output: Path | None,
    list_only: bool,
    data_dir: Path | None,
    clickhouse: str | None,
) -> None:
    """Run the saved analyst query NAME (see --list) on the ledger."""
    if list_only:
        entries = catalogue()
        if fmt == "json":
            _write(orjson.dumps(entries, option=orjson.OPT_INDENT_2).decode() + "\n", output)
        elif fmt == "table":
            console.print(_catalogue_table(entries))
        else:
            raise click.UsageError("--list prints a table or json")
        return
    if name is None:
        raise click.UsageError("name a saved query (agentledger query --list shows them)")
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet writes a file: give --output FILE")
    saved = saved_query(name)
    given = parse_params(params)
    saved.bind(given)  # a bad parameter is refused before the ledger is reached
    from agentledger.client import ledger_reader

    with ledger_reader(data_dir, clickhouse) as store:
        run_query(saved, given, fmt, output, store)


DEFAULT_BENCH_ACTIONS = 10_000_000
DEFAULT_BENCH_REPEAT = 20
DEFAULT_BENCH_MIN_SECONDS = 3.0  # a fast query's timed runs go on this long…
BENCH_MAX_RUNS = 200  # …or until this many are in


def query_bench(
    actions: int | None, repeat: int | None, min_seconds: float | None, as_json: bool
) -> None:
    """``bench --queries``: the saved queries and dashboard panels timed on a generated
    ledger of ``actions`` actions, ``repeat`` runs each at least (a fast one for
    ``min_seconds``); progress on stderr."""
    from agentledger.bench_queries import run_query_bench
    from agentledger.cli_common import err_console, print_json

    result = run_query_bench(
        actions or DEFAULT_BENCH_ACTIONS,
        repeat or DEFAULT_BENCH_REPEAT,
        console=err_console,
        min_seconds=DEFAULT_BENCH_MIN_SECONDS if min_seconds is None else min_seconds,
        max_runs=BENCH_MAX_RUNS,
    )
    if as_json:
        print_json(result)
        return
    for name, figures in {**result["queries"], **result["panels"]}.items():
        console.print(
            f"{name:<24} p50 {figures['p50_ms']:>9.1f} ms  p95 {figures['p95_ms']:>9.1f} ms"
        )
