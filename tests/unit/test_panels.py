"""Macro and template variable expansion as Grafana and the ClickHouse data source do it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentledger.panels import (
    MacroError,
    expand_macros,
    grafana_interval,
    panel_queries,
    variable_queries,
)

FROM = datetime(2026, 11, 2, 14, 0, 0, 750_000, tzinfo=UTC)  # 1793628000.75
TO = FROM + timedelta(hours=1)
F, T = 1793628000, 1793631600


def expand(sql: str, interval_s: float = 30, **variables: str | list[str]) -> str:
    return expand_macros(
        sql, time_from=FROM, time_to=TO, interval_s=interval_s, variables=variables
    )


def test_the_range_is_utc_epoch_seconds() -> None:
    assert FROM.timestamp() == F + 0.75


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("$__timeFilter(t)", f"t >= toDateTime({F}) AND t <= toDateTime({T})"),
        (
            "$__timeFilter( toDateTime(t, 'UTC') )",
            f"toDateTime(t, 'UTC') >= toDateTime({F}) AND toDateTime(t, 'UTC') <= toDateTime({T})",
        ),
        (
            "$__timeFilter_ms(t)",
            f"t >= fromUnixTimestamp64Milli({F}750) AND t <= fromUnixTimestamp64Milli({T}750)",
        ),
        ("$__fromTime", f"toDateTime({F})"),
        ("$__toTime", f"toDateTime({T})"),
        ("$__fromTime_ms", f"fromUnixTimestamp64Milli({F}750)"),
        ("$__toTime_ms", f"fromUnixTimestamp64Milli({T}750)"),
        ("$__dateFilter(d)", "d >= toDate('2026-11-02') AND d <= toDate('2026-11-02')"),
        (
            "$__dateTimeFilter(d, t)",
            "(d >= toDate('2026-11-02') AND d <= toDate('2026-11-02')) AND "
            f"(t >= toDateTime({F}) AND t <= toDateTime({T}))",
        ),
        ("$__dt(d, t)", expand("$__dateTimeFilter(d, t)")),
        ("$__timeInterval(t)", "toStartOfInterval(toDateTime(t), INTERVAL 30 second)"),
        (
            "$__timeInterval_ms(t)",
            "toStartOfInterval(toDateTime64(t, 3), INTERVAL 30000 millisecond)",
        ),
        ("INTERVAL $__interval_s second", "INTERVAL 30 second"),
    ],
)
def test_each_macro(sql: str, expected: str) -> None:
    assert expand(sql) == expected


def test_a_macro_without_parentheses_takes_no_later_ones_as_arguments() -> None:
    # Only a "(" right after the name opens arguments (the SQL data source SDK's rule).
    assert expand("dateDiff('second', $__fromTime, $__toTime) > f(1)") == (
        f"dateDiff('second', toDateTime({F}), toDateTime({T})) > f(1)"
    )
    assert expand("x >= $__fromTime AND y IN (1, 2)") == f"x >= toDateTime({F}) AND y IN (1, 2)"


def test_the_interval_is_whole_seconds_and_at_least_one() -> None:
    assert expand("$__interval_s", interval_s=0.2) == "1"
    assert expand("$__interval_s", interval_s=90.9) == "90"


def test_similar_names_and_unknown_macros() -> None:
    assert expand("$__timeFilterX(t)") == "$__timeFilterX(t)"
    assert expand("$__unknown(t) AND $__timeFilter(t)") == (
        f"$__unknown(t) AND t >= toDateTime({F}) AND t <= toDateTime({T})"
    )


def test_wrong_arguments_are_refused_as_the_plugin_does() -> None:
    with pytest.raises(MacroError, match="expected 1 argument, received 2"):
        expand("$__timeFilter(a, b)")
    with pytest.raises(MacroError, match="expected 2 arguments"):
        expand("$__dt(a)")
    with pytest.raises(MacroError, match="not closed"):
        expand("$__timeFilter(f(t)")


def test_template_variables_in_every_syntax() -> None:
    assert expand("FROM ${db}.t, $db.u, [[db]].v", db="ledger") == (
        "FROM ledger.t, ledger.u, ledger.v"
    )
    assert expand("id = ${s:singlequote}", s="it's") == "id = 'it\\'s'"
    assert expand("id = ${s:sqlstring}", s="it's") == "id = 'it''s'"
    assert expand("id = ${s:doublequote}", s='a"b') == 'id = "a\\"b"'
    assert expand("a IN (${a:singlequote})", a=["x", "y"]) == "a IN ('x','y')"
    assert expand("a IN (${a:csv})", a=["x", "y"]) == "a IN (x,y)"
    # The plugin's own format: a multi-value quoted, one value as it is.
    assert expand("a IN ($a) AND b = $b", a=["x", "y"], b="1") == "a IN ('x','y') AND b = 1"
    assert expand("$nope ${nope} [[nope]]") == "$nope ${nope} [[nope]]"


def test_grafana_globals() -> None:
    assert expand("${__from} ${__to} $__range_s ${__interval_ms}") == (f"{F}750 {T}750 3600 30000")


def test_conditional_all() -> None:
    sql = "WHERE $__conditionalAll(agent IN (${agent:singlequote}), $agent) AND 1"
    assert expand(sql, agent=["$__all"]) == "WHERE 1=1 AND 1"
    assert expand(sql, agent="") == "WHERE 1=1 AND 1"
    assert expand(sql, agent=["a", "b"]) == "WHERE agent IN ('a','b') AND 1"
    nested = "$__conditionalAll(x IN (${x:singlequote}), $x) AND $__conditionalAll(f(y), $y)"
    assert expand(nested, x=["$__all"], y="v") == "1=1 AND f(y)"


def test_all_outside_conditional_all_needs_the_options() -> None:
    with pytest.raises(ValueError, match="options"):
        expand("a IN (${a:singlequote})", a=["$__all"])


def test_times_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expand_macros("$__fromTime", time_from=datetime(2026, 1, 1), time_to=TO, interval_s=1)  # noqa: DTZ001


def test_grafana_interval() -> None:
    assert grafana_interval(TO - timedelta(hours=24), TO) == 120  # 86.4 s wanted
    assert grafana_interval(TO - timedelta(hours=1), TO) == 5
    assert grafana_interval(TO - timedelta(days=3650), TO) == 604800


def test_every_committed_panel_expands_completely() -> None:
    queries = panel_queries({"session_id": "s-1"}, time_from=FROM, time_to=TO)
    assert len(queries) >= 30
    assert len({title for title, _ in queries}) == len(queries), "two panels share a title"
    for title, sql in queries:
        assert "$" not in sql and "[[" not in sql, title
        assert "agentledger." in sql, f"{title}: not the saved ledger database"
    dashboards = {title.split("/", 1)[0] for title, _ in queries}
    assert len(dashboards) == 4
    titles = [title for title, _ in queries]
    for panel in (
        "Agent Ledger: drift overview/Top drifting sessions",
        "Agent Ledger: session explorer/Chain",
        "Agent Ledger: attribution/Unattributed share",
        "Agent Ledger: pipeline health/Dead letters by reason",
    ):
        assert panel in titles
    chain = dict(queries)["Agent Ledger: session explorer/Chain"]
    assert "'s-1'" in chain and "FINAL" in chain
    variables = dict(variable_queries({"database": "other"}, time_from=FROM, time_to=TO))
    assert "other.sessions FINAL" in variables["Agent Ledger: session explorer/session_id"]
