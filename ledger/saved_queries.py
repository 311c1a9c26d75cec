"""Saved analyst queries: one ``.sql`` file each in ``ledger/saved``, shipped with the package.

A file opens with a header of ``--`` comment lines: a description, then one line per
parameter::

    -- One session's chain, in time order.
    -- @param session_id String: the session, or one merged into it
    -- @param limit UInt32 = 1000: at most this many rows

(the description of a parameter starts at the first ``": "`` after its type and default).
The body reads the ledger's tables as ``{db}.table``; ``{db}`` is the only text spliced in
(the store's database, an identifier checked here too). Every value travels as a ClickHouse
``{name:Type}`` parameter, so the same text runs through the store and through the SQL
endpoint with ``param_name=`` URL parameters. The header and the body must agree: each
placeholder declared, each declared parameter used, with the same type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from kernel.errors import LedgerError
from ledger.store import LedgerStore, param_text

SAVED_DIR = Path(__file__).with_name("saved")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PARAM_LINE = re.compile(
    r"^@param\s+(?P<name>\w+)\s+(?P<type>.+?)(?:\s*=\s*(?P<default>.*?))?:\s+(?P<text>.+)$"
)
_PLACEHOLDER = re.compile(r"\{(\w+):([^{}]+)\}")
_DATABASE = "{db}"
_INTS = {
    "UInt8": (0, 2**8 - 1),
    "UInt16": (0, 2**16 - 1),
    "UInt32": (0, 2**32 - 1),
    "UInt64": (0, 2**64 - 1),
    "Int8": (-(2**7), 2**7 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "Int64": (-(2**63), 2**63 - 1),
}
_FLOATS = frozenset({"Float32", "Float64"})
_TIMES = re.compile(r"^DateTime(?:64\(\d(?:,\s*'UTC')?\)|\('UTC'\))?$")
_STRING_ARRAY = "Array(String)"


class SavedQueryError(LedgerError):
    """A saved query that does not exist, is malformed, or was given a bad parameter."""


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: str
    default: str | None
    description: str

    def value(self, text: str) -> Any:
        """``text`` (as given on a command line) as a value of this parameter's type."""
        return typed_value(self.name, self.type, text)


@dataclass(frozen=True, slots=True)
class SavedQuery:
    name: str
    description: str
    parameters: tuple[Parameter, ...]
    body: str  # the SQL, with ``{db}`` for the database

    def sql(self, database: str) -> str:
        """The statement for ``database`` (a plain identifier; nothing else is spliced)."""
        if not _IDENTIFIER.match(database):
            raise SavedQueryError(f"invalid database name {database!r}")
        return self.body.replace(_DATABASE, database)

    def bind(self, given: Mapping[str, str]) -> dict[str, Any]:
        """Every parameter's value, typed: ``given`` (texts by name) over the defaults.
        An unknown name, a missing value or one of the wrong type is refused by name."""
        declared = {p.name: p for p in self.parameters}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            names = ", ".join(declared) or "none"
            raise SavedQueryError(
                f"query {self.name!r} has no parameter {unknown[0]!r} (its parameters: {names})"
            )
        values: dict[str, Any] = {}
        for parameter in self.parameters:
            text = given.get(parameter.name, parameter.default)
            if text is None:
                raise SavedQueryError(
                    f"query {self.name!r} needs parameter {parameter.name!r} "
                    f"({parameter.type}): {parameter.description}"
                )
            values[parameter.name] = parameter.value(text)
        return values


def typed_value(name: str, kind: str, text: str) -> Any:
    """``text`` as a value of ClickHouse type ``kind``; refused with the parameter's name."""

    def bad(why: str) -> SavedQueryError:
        return SavedQueryError(f"parameter {name!r} ({kind}): {why}, got {text!r}")

    if kind == "String":
        return text
    if kind in _INTS:
        low, high = _INTS[kind]
        try:
            number = int(text.strip())
        except ValueError:
            raise bad("not an integer") from None
        if not low <= number <= high:
            raise bad(f"out of range {low}..{high}")
        return number
    if kind in _FLOATS:
        try:
            return float(text.strip())
        except ValueError:
            raise bad("not a number") from None
    if kind == "Bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise bad("not true or false")
        return lowered in ("true", "1")
    if _TIMES.match(kind):
        return _utc_text(text, bad)
    if kind == _STRING_ARRAY:
        return [item.strip() for item in text.split(",") if item.strip()]
    raise bad("a type saved queries do not take")


def _utc_text(text: str, bad: Any) -> str:
    """An ISO 8601 time (a date alone is midnight; no zone is UTC) as ClickHouse UTC text."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad("not an ISO 8601 time such as 2026-11-02T14:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _supported(kind: str) -> bool:
    return (
        kind in ("String", "Bool", _STRING_ARRAY)
        or kind in _INTS
        or kind in _FLOATS
        or bool(_TIMES.match(kind))
    )


def _same_type(a: str, b: str) -> bool:
    return re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b)


def parse_query(name: str, text: str) -> SavedQuery:
    """The saved query ``name`` from its file's ``text``; malformed ones are refused."""
    if not _NAME.match(name):
        raise SavedQueryError(f"saved query name {name!r}: lower case, digits and _ only")
    lines = text.splitlines()
    header: list[str] = []
    while lines and lines[0].startswith("--"):
        header.append(lines.pop(0)[2:].strip())
    body = "\n".join(lines).strip().rstrip(";").strip()
    description_lines: list[str] = []
    parameters: list[Parameter] = []
    for line in header:
        if line.startswith("@param"):
            match = _PARAM_LINE.match(line)
            if match is None:
                raise SavedQueryError(
                    f"{name}: parameter line {line!r} is not "
                    "'@param NAME TYPE [= DEFAULT]: DESCRIPTION'"
                )
            kind = match["type"].strip()
            if not _supported(kind):
                raise SavedQueryError(f"{name}: parameter {match['name']!r} has type {kind}")
            default = match["default"]
            parameter = Parameter(match["name"], kind, default, match["text"].strip())
            if default is not None:
                parameter.value(default)  # a bad default fails at load, not at run
            parameters.append(parameter)
        elif parameters and line:
            raise SavedQueryError(f"{name}: the description goes before the parameters")
        elif line:
            description_lines.append(line)
    if not description_lines:
        raise SavedQueryError(f"{name}: the header has no description")
    if not body:
        raise SavedQueryError(f"{name}: no SQL after the header")
    _check_placeholders(name, body, parameters)
    return SavedQuery(name, " ".join(description_lines), tuple(parameters), body)


def _check_placeholders(name: str, body: str, parameters: list[Parameter]) -> None:
    declared = {p.name: p.type for p in parameters}
    if len(declared) != len(parameters):
        raise SavedQueryError(f"{name}: a parameter is declared twice")
    used: dict[str, str] = {}
    for placeholder, kind in _PLACEHOLDER.findall(body):
        if placeholder not in declared:
            raise SavedQueryError(f"{name}: {{{placeholder}:{kind}}} is used but not declared")
        if not _same_type(kind, declared[placeholder]):
            raise SavedQueryError(
                f"{name}: {{{placeholder}:{kind}}} is declared as {declared[placeholder]}"
            )
        used[placeholder] = kind
    unused = [p for p in declared if p not in used]
    if unused:
        raise SavedQueryError(f"{name}: parameter {unused[0]!r} is declared but not used")


def load_queries(directory: Path = SAVED_DIR) -> dict[str, SavedQuery]:
    """Every saved query in ``directory``, by name (its file name without ``.sql``)."""
    return {
        path.stem: parse_query(path.stem, path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.sql"))
    }


@cache
def saved_queries() -> dict[str, SavedQuery]:
    """The saved queries shipped with the ledger."""
    return load_queries()


def saved_query(name: str) -> SavedQuery:
    queries = saved_queries()
    if name not in queries:
        raise SavedQueryError(f"no saved query {name!r} (saved queries: {', '.join(queries)})")
    return queries[name]


def parameter_texts(values: Mapping[str, Any]) -> dict[str, str]:
    """``values`` as the text the ClickHouse HTTP interface takes in ``param_<name>``."""
    return {name: param_text(value) for name, value in values.items()}


def run_saved(
    store: LedgerStore, query: SavedQuery, given: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The rows of ``query`` on ``store`` with the parameters ``given`` (texts by name)."""
    return store.query_rows(query.sql(store.database), query.bind(given))
