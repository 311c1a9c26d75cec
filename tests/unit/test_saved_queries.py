"""Saved queries: the header a loader reads, the parameters it types, and the shipped files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agentledger.bench_queries import (
    DATABASE,
    figures_of,
    measure,
    panel_queries,
    parameter_draw,
)
from agentledger.cli import main
from agentledger.cli_query import catalogue, cell, csv_text, parse_params
from ledger.saved_queries import (
    SavedQueryError,
    load_queries,
    parameter_texts,
    parse_query,
    saved_query,
    typed_value,
)

CHAIN = """-- One session's chain,
-- in time order.
-- @param session_id String: the session, or one merged into it
-- @param since DateTime64(6, 'UTC') = 2026-01-01 00:00:00: earliest: inclusive
-- @param limit UInt32 = 100: at most this many
SELECT * FROM {db}.actions
WHERE session_id = {session_id:String} AND event_time >= {since:DateTime64(6,'UTC')}
LIMIT {limit:UInt32};
"""


def test_the_header_gives_description_and_typed_parameters() -> None:
    query = parse_query("chain", CHAIN)
    assert query.description == "One session's chain, in time order."
    assert [(p.name, p.type, p.default) for p in query.parameters] == [
        ("session_id", "String", None),
        ("since", "DateTime64(6, 'UTC')", "2026-01-01 00:00:00"),
        ("limit", "UInt32", "100"),
    ]
    # The description starts at the first ": " after the default, which may hold colons.
    assert query.parameters[1].description == "earliest: inclusive"
    assert query.sql("ledger_1").startswith("SELECT * FROM ledger_1.actions")
    assert not query.sql("ledger_1").endswith(";")


def test_values_are_typed_over_the_defaults() -> None:
    query = parse_query("chain", CHAIN)
    assert query.bind({"session_id": "s-1", "since": "2026-11-02T15:00:00+01:00"}) == {
        "session_id": "s-1",
        "since": "2026-11-02 14:00:00.000000",
        "limit": 100,
    }
    assert query.bind({"session_id": "s-1", "limit": "7"})["limit"] == 7


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "needs parameter 'session_id' (String)"),
        ({"session_id": "s", "limit": "ten"}, "parameter 'limit' (UInt32): not an integer"),
        ({"session_id": "s", "limit": "-1"}, "parameter 'limit' (UInt32): out of range"),
        ({"session_id": "s", "since": "yesterday"}, "parameter 'since' (DateTime64(6, 'UTC'))"),
        ({"session_id": "s", "agent": "a"}, "has no parameter 'agent'"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(given: dict[str, str], message: str) -> None:
    with pytest.raises(SavedQueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query("chain", CHAIN).bind(given)


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("String", " as is ", " as is "),
        ("Int64", "-3", -3),
        ("Float64", "0.5", 0.5),
        ("Bool", "TRUE", True),
        ("Bool", "0", False),
        ("DateTime64(6, 'UTC')", "2026-11-02", "2026-11-02 00:00:00.000000"),
        ("DateTime64(3)", "2026-11-02T14:00:00Z", "2026-11-02 14:00:00.000000"),
        ("Array(String)", "a, b,,c", ["a", "b", "c"]),
    ],
)
def test_each_type_reads_its_text(kind: str, text: str, value: object) -> None:
    assert typed_value("p", kind, text) == value


def test_values_travel_as_the_http_interface_takes_them() -> None:
    assert parameter_texts({"n": 5, "ids": ["a", "b'c"], "flag": True}) == {
        "n": "5",
        "ids": "['a','b\\'c']",
        "flag": "1",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1", "no description"),
        ("-- About.\n", "no SQL after the header"),
        ("-- About.\nSELECT {x:String}", "{x:String} is used but not declared"),
        ("-- About.\n-- @param x String: x\nSELECT 1", "'x' is declared but not used"),
        ("-- About.\n-- @param x UInt8: x\nSELECT {x:String}", "is declared as UInt8"),
        ("-- About.\n-- @param x Map(String, String): x\nSELECT 1", "has type Map"),
        ("-- About.\n-- @param x UInt8 = many: x\nSELECT {x:UInt8}", "not an integer"),
        ("-- About.\n-- @param x String\nSELECT {x:String}", "is not '@param NAME TYPE"),
        ("-- About.\n-- @param x String: x\n-- More.\nSELECT {x:String}", "goes before"),
    ],
)
def test_a_malformed_file_is_refused_at_load(text: str, message: str) -> None:
    with pytest.raises(SavedQueryError, match=message.replace("{", r"\{").replace("}", r"\}")):
        parse_query("q", text)


def test_only_a_plain_database_name_is_spliced() -> None:
    with pytest.raises(SavedQueryError, match="invalid database name"):
        parse_query("chain", CHAIN).sql("db; DROP TABLE x")


def test_a_directory_of_files_loads_by_file_name(tmp_path: Path) -> None:
    (tmp_path / "b_query.sql").write_text("-- B.\nSELECT 2")
    (tmp_path / "a_query.sql").write_text("-- A.\nSELECT 1")
    (tmp_path / "notes.txt").write_text("not a query")
    assert list(load_queries(tmp_path)) == ["a_query", "b_query"]


def test_the_shipped_queries_load_and_read_only_the_ledger_database() -> None:
    shipped = load_queries()
    assert {
        "session_chain",
        "agent_actions",
        "unattributed_actions",
        "top_drift",
        "contractions",
        "scopes_by_agent",
        "person_actions",
    } <= set(shipped)
    for query in shipped.values():
        sql = query.sql("ledger_db")
        assert "{db}" not in sql and "ledger_db." in sql, query.name
        assert query.description.endswith("."), query.name
        required = {p.name for p in query.parameters if p.default is None}
        assert required <= {"session_id", "agent", "person"}, query.name
    with pytest.raises(SavedQueryError, match="no saved query 'nope' \\(saved queries: "):
        saved_query("nope")


def test_the_catalogue_lists_every_parameter_with_its_type() -> None:
    entry = next(e for e in catalogue() if e["name"] == "agent_actions")
    assert [(p["name"], p["type"]) for p in entry["parameters"]] == [
        ("agent", "String"),
        ("since", "DateTime64(6, 'UTC')"),
        ("until", "DateTime64(6, 'UTC')"),
        ("limit", "UInt32"),
    ]


def test_command_line_parameters_and_cells() -> None:
    assert parse_params(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(SavedQueryError, match="NAME=VALUE"):
        parse_params(["novalue"])
    with pytest.raises(SavedQueryError, match="given twice"):
        parse_params(["a=1", "a=2"])
    assert [cell(v) for v in (None, ["x", "y"], True, 0.5)] == ["", '["x","y"]', "true", "0.5"]
    assert csv_text(["a", "b"], [{"a": "x,y", "b": None}]) == 'a,b\n"x,y",\n'


def test_the_bench_sends_each_panel_over_the_generated_ledgers_last_day() -> None:
    from agentledger.bench_data import LedgerGenerator

    sample = LedgerGenerator(2_000, seed=3).sample()
    panels = panel_queries(sample)
    assert len(panels) >= 20
    session = str(sample.session_ids[len(sample.session_ids) // 2])
    end = sample.start + timedelta(seconds=sample.span_s)
    day_before = (end - timedelta(days=1)).strftime("%Y-%m-%d")
    for name, sql in panels:
        assert "$" not in sql, f"{name}: a macro or variable left unexpanded"
        assert "agentledger." not in sql, f"{name}: reads the default database"
        assert f"{DATABASE}." in sql, name
    explorer = [sql for name, sql in panels if session in sql]
    assert explorer, "no panel reads the chosen session"
    assert any(
        day_before in sql or str(int((end - timedelta(days=1)).timestamp())) in sql
        for _, sql in panels
    ), "no panel reads the generated ledger's last day"


def test_the_bench_draws_parameters_the_generated_ledger_holds() -> None:
    from agentledger.bench_data import LedgerGenerator

    sample = LedgerGenerator(2_000, seed=3).sample()
    rng = np.random.default_rng(1)
    for query in load_queries().values():
        values = query.bind(parameter_draw(query, sample)(rng))
        if "session_id" in values:
            assert values["session_id"] in set(sample.session_ids)
        if "agent" in values:
            assert values["agent"] in sample.agents
        if "since" in values:
            assert values["since"] < values["until"]


def test_bench_options_for_queries_need_queries() -> None:
    message = "--actions, --repeat and --min-time go with --queries"
    for option in (["--actions", "5"], ["--min-time", "0"]):
        refused = CliRunner().invoke(main, ["bench", *option])
        assert refused.exit_code == 2 and message in refused.output
    both = CliRunner().invoke(main, ["bench", "--queries", "--contractions"])
    assert both.exit_code == 2 and "two benches" in both.output


class _Clock:
    """Time that moves only when a run takes it (``step`` seconds a run)."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        return self.now

    def run(self, wall_ms: float) -> tuple[float, int, float]:
        self.now += self.step
        return wall_ms, 1, wall_ms


def test_the_first_run_is_timed_apart_from_the_percentiles() -> None:
    walls = iter([140.0, *[30.0] * 19, 40.0])
    clock = _Clock(step=1.0)  # slow runs: the budget is spent before `repeat` is reached
    first, runs = measure(
        lambda: clock.run(next(walls)), 20, min_seconds=3.0, max_runs=200, clock=clock
    )
    figures = figures_of(first, runs)
    assert (figures["first_ms"], figures["first_cpu_ms"], figures["runs"]) == (140.0, 140.0, 20)
    assert figures["max_ms"] == 40.0 and figures["p50_ms"] == 30.0


def test_a_fast_query_runs_until_the_budget_is_spent_or_the_most_runs_are_in() -> None:
    clock = _Clock(step=0.0625)  # exact in binary: no rounding at the budget
    _, runs = measure(lambda: clock.run(5.0), 20, min_seconds=3.0, max_runs=1000, clock=clock)
    assert len(runs) == 48  # 3 s at 62.5 ms a run
    _, capped = measure(lambda: clock.run(5.0), 20, min_seconds=3.0, max_runs=30, clock=clock)
    assert len(capped) == 30
    # `repeat` above the cap still gets its runs.
    _, asked = measure(lambda: clock.run(5.0), 80, min_seconds=0.0, max_runs=50, clock=clock)
    assert len(asked) == 80
