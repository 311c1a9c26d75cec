"""What an analyst may run on the embedded ledger: one read-only statement.

Two layers. The engine enforces read-only: every analyst statement runs with
``SETTINGS readonly = 1``, which refuses writes, DDL, settings and table functions that
reach outside (``file``, ``url``, ``filesystem``, …). A lexer, written to be no more lenient
than ClickHouse's, refuses what that setting does not cover: a second statement hidden
after a ``;``, ``INTO OUTFILE``, and statement kinds that could read files for schema
inference.
"""

from __future__ import annotations

import itertools

ALLOWED_FIRST_WORDS = ("SELECT", "WITH", "SHOW", "EXISTS", "DESCRIBE", "DESC")
READ_ONLY_SUFFIX = "\nSETTINGS readonly = 1"


class UnsafeQuery(ValueError):
    pass


def _skip_quoted(sql: str, start: int, quote: str) -> int:
    """Index after the closing ``quote`` (``\\`` escapes and doubled quotes allowed)."""
    i = start + 1
    while i < len(sql):
        ch = sql[i]
        if ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise UnsafeQuery("unterminated quoted text")


def code_of(sql: str) -> str:
    """``sql`` with string literals, quoted identifiers and comments blanked out.

    Conservative where ClickHouse's own lexer differs: a ``#`` always starts a comment here
    (ClickHouse only takes ``# `` and ``#!``, and rejects the rest), and block comments end at
    the first ``*/`` (ClickHouse nests them), so text this function calls code is code or
    comment there, never the other way round.
    """
    out: list[str] = []
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"`":
            end = _skip_quoted(sql, i, ch)
            out.append(" ")
            i = end
        elif sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            out.append(" ")
            i = len(sql) if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise UnsafeQuery("unterminated comment")
            out.append(" ")
            i = end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def read_only_problem(sql: str) -> str | None:
    """Why ``sql`` is not one allowed read-only statement, or ``None`` when it is."""
    try:
        code = code_of(sql)
    except UnsafeQuery as exc:
        return str(exc)
    body = code.strip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    if ";" in body:
        return "one statement per request"
    words = body.upper().split()
    first = words[0] if words else ""
    if first not in ALLOWED_FIRST_WORDS:
        return f"{first or 'empty'} statements need the writer credential"
    if first in ("DESCRIBE", "DESC") and "(" in body:
        return "DESCRIBE of a table function can read outside the ledger"
    if any(a == "INTO" and b == "OUTFILE" for a, b in itertools.pairwise(words)):
        return "INTO OUTFILE writes files on the ledger's host"
    return None


def analyst_statement(sql: str) -> str:
    """The statement to run for an analyst, read-only enforced by the engine."""
    problem = read_only_problem(sql)
    if problem is not None:
        raise UnsafeQuery(problem)
    text = sql.rstrip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    # On a line of its own, so that a trailing "-- comment" cannot swallow it.
    return text + READ_ONLY_SUFFIX
