"""The SQL each panel of the ledger's Grafana dashboards sends to the ledger, worked out from
the committed dashboard JSON as Grafana and the ClickHouse data source would: for tests that
run every panel against a real ledger, and for timing them.

``expand_macros`` does what happens to a panel's SQL between the editor and ClickHouse:

1. in the browser, the plugin's ``$__conditionalAll(condition, $var)`` (``1=1`` when the
   variable is All or empty, else the condition), then Grafana's template variables
   (``$var``, ``${var}``, ``${var:format}``, ``[[var]]``) with the plugin's own formatting
   (a multi-value is ``'a','b'``; one value is put in as it is);
2. in the plugin's backend, its macros (``$__timeFilter(col)``, ``$__fromTime``,
   ``$__toTime``, ``$__interval_s``, …), found as ``$__name`` with arguments only when a
   ``(`` follows the name at once, as the SQL data source SDK parses them.

Anything it does not know it leaves as it is, as they do (ClickHouse then says what is
wrong).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dashboards import JSON_DIR

VariableValue = str | Sequence[str]
ALL = "$__all"
DEFAULT_RANGE = timedelta(hours=24)  # the dashboards' own default time range
MAX_DATA_POINTS = 1000  # a wide panel; Grafana asks for about one point per pixel

# Grafana's template variable syntax (public/app/features/templating/template_srv).
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}"
)
_MACRO = re.compile(r"\$__(\w+)")
_CONDITIONAL_ALL = "$__conditionalAll("
# Interval steps Grafana rounds a computed interval to (seconds), up to one week.
_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800)
_STEPS_LONG = (21600, 43200, 86400, 604800)


class MacroError(ValueError):
    """A macro the ClickHouse data source would refuse too (wrong arguments)."""


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
    return moment.astimezone(UTC)


def _args(sql: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments in the parentheses opening at ``sql[start]`` (nested
    parentheses kept whole), and the index just past the closing one."""
    depth, args, begin = 0, [], start + 1
    for index in range(start, len(sql)):
        char = sql[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[begin:index].strip())
                return args, index + 1
        elif char == "," and depth == 1:
            args.append(sql[begin:index].strip())
            begin = index + 1
    raise MacroError(f"a macro's arguments are not closed: {sql[start : start + 60]!r}")


def _value_of(variables: Mapping[str, VariableValue], name: str) -> VariableValue | None:
    return variables.get(name)


def _is_all(value: VariableValue | None) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value in ("", ALL)
    return len(value) == 0 or list(value) == [ALL]


def conditional_all(sql: str, variables: Mapping[str, VariableValue]) -> str:
    """The plugin's ``$__conditionalAll(condition, $var)``: ``1=1`` when ``var`` is All or
    empty, else the condition; innermost last, as the plugin works from the end."""
    at = sql.rfind(_CONDITIONAL_ALL)
    while at >= 0:
        args, end = _args(sql, at + len(_CONDITIONAL_ALL) - 1)
        if len(args) != 2:
            return sql  # the plugin leaves the query as it is
        name = args[1].strip().lstrip("$").strip("{}")
        phrase = "1=1" if _is_all(_value_of(variables, name)) else args[0]
        sql = sql[:at] + phrase + sql[end:]
        at = sql.rfind(_CONDITIONAL_ALL)
    return sql


def _quoted(value: str, quote: str, escape: str) -> str:
    return quote + value.replace(quote, escape) + quote


_FORMATS: dict[str, Callable[[list[str]], str]] = {
    "singlequote": lambda vs: ",".join(_quoted(v, "'", "\\'") for v in vs),
    "doublequote": lambda vs: ",".join(_quoted(v, '"', '\\"') for v in vs),
    "sqlstring": lambda vs: ",".join(_quoted(v, "'", "''") for v in vs),
    "csv": ",".join,
    "raw": ",".join,
    "text": ", ".join,
}


def _formatted(value: VariableValue, fmt: str | None) -> str:
    values = [value] if isinstance(value, str) else list(value)
    if ALL in values:
        raise ValueError("All of a variable's values needs its options; give them instead")
    if fmt is None:
        # The plugin's own format function: a multi-value as a quoted list, one value as is.
        return values[0] if isinstance(value, str) else ",".join(f"'{v}'" for v in values)
    try:
        return _FORMATS[fmt](values)
    except KeyError:
        raise ValueError(f"variable format {fmt!r} is not supported here") from None


def template_variables(sql: str, variables: Mapping[str, VariableValue]) -> str:
    """Grafana's replacement of template variables; an unknown variable stays as written."""

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[4]
        fmt = match[3] or match[6]
        value = _value_of(variables, name)
        if value is None or match[5]:
            return match[0]
        return _formatted(value, fmt)

    return _VARIABLE.sub(replace, sql)


def backend_macros(sql: str, *, time_from: datetime, time_to: datetime, interval_s: float) -> str:
    """The ClickHouse plugin's macros, as its backend expands them."""
    start, end = _utc(time_from, "time_from"), _utc(time_to, "time_to")
    interval = max(interval_s, 1)

    def seconds(t: datetime) -> str:
        return f"toDateTime({math.floor(t.timestamp())})"

    def millis(t: datetime) -> str:
        return f"fromUnixTimestamp64Milli({math.floor(t.timestamp() * 1000)})"

    def day(t: datetime) -> str:
        return f"toDate('{t:%Y-%m-%d}')"

    def between(column: str, of: Callable[[datetime], str]) -> str:
        return f"{column} >= {of(start)} AND {column} <= {of(end)}"

    def one(args: list[str]) -> str:
        if len(args) != 1 or not args[0]:
            raise MacroError(f"expected 1 argument, received {len(args)}")
        return args[0]

    def date_time(args: list[str]) -> str:
        if len(args) != 2:
            raise MacroError(f"expected 2 arguments, received {len(args)}")
        return f"({between(args[0], day)}) AND ({between(args[1], seconds)})"

    macros: dict[str, Callable[[list[str]], str]] = {
        "fromTime": lambda _: seconds(start),
        "toTime": lambda _: seconds(end),
        "fromTime_ms": lambda _: millis(start),
        "toTime_ms": lambda _: millis(end),
        "timeFilter": lambda a: between(one(a), seconds),
        "timeFilter_ms": lambda a: between(one(a), millis),
        "dateFilter": lambda a: between(one(a), day),
        "dateTimeFilter": date_time,
        "dt": date_time,
        "timeInterval": lambda a: (
            f"toStartOfInterval(toDateTime({one(a)}), INTERVAL {int(interval)} second)"
        ),
        "timeInterval_ms": lambda a: (
            f"toStartOfInterval(toDateTime64({one(a)}, 3), "
            f"INTERVAL {int(max(interval_s * 1000, 1))} millisecond)"
        ),
        "interval_s": lambda _: str(int(interval)),
    }
    out: list[str] = []
    position = 0
    for match in _MACRO.finditer(sql):
        if match.start() < position:
            continue  # inside the arguments of a macro already expanded
        expand = macros.get(match[1])
        if expand is None:
            continue
        args: list[str] = []
        end_at = match.end()
        if end_at < len(sql) and sql[end_at] == "(":
            args, end_at = _args(sql, end_at)
        out.append(sql[position : match.start()])
        out.append(expand(args))
        position = end_at
    out.append(sql[position:])
    return "".join(out)


def grafana_interval(time_from: datetime, time_to: datetime) -> int:
    """The interval (seconds) Grafana gives a panel about ``MAX_DATA_POINTS`` wide over the
    range: the range over the points, rounded up to one of Grafana's usual steps."""
    raw = (_utc(time_to, "time_to") - _utc(time_from, "time_from")).total_seconds()
    wanted = raw / MAX_DATA_POINTS
    for step in (*_STEPS, *_STEPS_LONG):
        if wanted <= step:
            return step
    return _STEPS_LONG[-1]


def expand_macros(
    sql: str,
    *,
    time_from: datetime,
    time_to: datetime,
    interval_s: float,
    variables: Mapping[str, VariableValue] | None = None,
) -> str:
    """``sql`` as the ClickHouse data source sends it to ClickHouse for a panel over
    ``time_from``..``time_to`` (timezone-aware) with ``interval_s`` and ``variables``."""
    start, end = _utc(time_from, "time_from"), _utc(time_to, "time_to")
    known: dict[str, VariableValue] = {
        "__from": str(math.floor(start.timestamp() * 1000)),
        "__to": str(math.floor(end.timestamp() * 1000)),
        "__interval_ms": str(int(interval_s * 1000)),
        "__range_s": str(int((end - start).total_seconds())),
        "__range_ms": str(int((end - start).total_seconds() * 1000)),
        **(variables or {}),
    }
    sql = conditional_all(sql, known)
    sql = template_variables(sql, known)
    return backend_macros(sql, time_from=start, time_to=end, interval_s=interval_s)


def load_dashboards(directory: Path = JSON_DIR) -> list[dict[str, Any]]:
    """The committed dashboards' JSON models, by file name."""
    return [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))
    ]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        if panel.get("type") == "row":
            yield from _panels(panel.get("panels", []))
        else:
            yield panel


def default_variables(dashboard: dict[str, Any]) -> dict[str, VariableValue]:
    """Each template variable's value as the dashboard is saved."""
    values: dict[str, VariableValue] = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        value = variable.get("current", {}).get("value", "")
        values[variable["name"]] = value if isinstance(value, str) else list(value)
    return values


def _window(
    time_from: datetime | None, time_to: datetime | None, interval_s: float | None
) -> tuple[datetime, datetime, float]:
    end = _utc(time_to, "time_to") if time_to is not None else datetime.now(UTC)
    start = _utc(time_from, "time_from") if time_from is not None else end - DEFAULT_RANGE
    return start, end, interval_s if interval_s is not None else grafana_interval(start, end)


def panel_queries(
    variables: dict[str, str] | None = None,
    time_from: datetime | None = None,
    time_to: datetime | None = None,
    interval_s: float | None = None,
) -> list[tuple[str, str]]:
    """("dashboard title/panel title", the SQL sent to ClickHouse) for every panel query of
    the committed dashboards. ``variables`` override the dashboards' saved values (give
    ``database`` and ``session_id``); the range defaults to the last 24 hours up to now, the
    interval to the one Grafana would pick for it."""
    start, end, interval = _window(time_from, time_to, interval_s)
    queries = []
    for dashboard in load_dashboards():
        values = {**default_variables(dashboard), **(variables or {})}
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                sql = expand_macros(
                    target["rawSql"],
                    time_from=start,
                    time_to=end,
                    interval_s=interval,
                    variables=values,
                )
                queries.append((f"{dashboard['title']}/{panel['title']}", sql))
    return queries


def variable_queries(
    variables: dict[str, str] | None = None,
    time_from: datetime | None = None,
    time_to: datetime | None = None,
) -> list[tuple[str, str]]:
    """("dashboard title/variable name", SQL) for every query variable of the dashboards."""
    start, end, interval = _window(time_from, time_to, None)
    queries = []
    for dashboard in load_dashboards():
        values = {**default_variables(dashboard), **(variables or {})}
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") != "query":
                continue
            sql = expand_macros(
                variable["query"]["rawSql"],
                time_from=start,
                time_to=end,
                interval_s=interval,
                variables=values,
            )
            queries.append((f"{dashboard['title']}/{variable['name']}", sql))
    return queries
