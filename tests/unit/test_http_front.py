"""The ClickHouse HTTP interface's pure parts: who a user and password are, and the analyst
check's walk over the engine's syntax tree (the app itself, over the real chDB ledger, is in
``tests/integration/test_http_front_app.py``)."""

from __future__ import annotations

import pytest

from kernel.errors import ConfigError
from ledger.http_front import Credentials
from ledger.sqlguard import CheckedStatements, problem_in_ast

WRITER_PASSWORD = "w-7f3a9c"
ANALYST_USER = "grafana"
ANALYST_PASSWORD = "a-51b2e0"


# -- the tree walk ----------------------------------------------------------------------------


def test_a_row_split_by_a_line_break_in_a_name_is_refused() -> None:
    rows = ["SelectWithUnionQuery (children 1)", " ExpressionList (children 1)", "  SelectQuery"]
    assert problem_in_ast(rows) is None
    assert problem_in_ast([*rows, "y)"]) == "names and aliases with line breaks are not accepted"
    assert problem_in_ast([*rows[:2], "  SelectQuery (children 1)", " Literal 'x'"]) is not None
    assert problem_in_ast([]) == "names and aliases with line breaks are not accepted"


# -- Credentials -----------------------------------------------------------------------------


def test_roles() -> None:
    credentials = Credentials(WRITER_PASSWORD, ANALYST_USER, ANALYST_PASSWORD)
    assert credentials.role("writer", WRITER_PASSWORD) == "writer"
    assert credentials.role("writer", ANALYST_PASSWORD) is None
    assert credentials.role("writer", "") is None
    assert credentials.role(ANALYST_USER, ANALYST_PASSWORD) == "analyst"
    assert credentials.role("default", ANALYST_PASSWORD) is None  # no anonymous/default user
    assert credentials.role(ANALYST_USER, WRITER_PASSWORD) is None  # the password is the writer's
    assert credentials.role(ANALYST_USER, "") is None
    assert credentials.role("", "") is None


def test_without_an_analyst_password_no_analyst_gets_in() -> None:
    credentials = Credentials(WRITER_PASSWORD, ANALYST_USER, "")
    assert credentials.role(ANALYST_USER, "") is None
    assert credentials.role("default", "") is None
    assert credentials.role("writer", WRITER_PASSWORD) == "writer"


def test_a_non_ascii_password_is_just_wrong() -> None:
    credentials = Credentials(WRITER_PASSWORD, ANALYST_USER, ANALYST_PASSWORD)
    assert credentials.role(ANALYST_USER, "pässword") is None
    assert Credentials(WRITER_PASSWORD, "ä", "pässword").role("ä", "pässword") == "analyst"


@pytest.mark.parametrize(
    ("writer_password", "analyst_user"), [("", ANALYST_USER), (WRITER_PASSWORD, "writer")]
)
def test_credentials_that_cannot_work_fail_at_start(
    writer_password: str, analyst_user: str
) -> None:
    with pytest.raises(ConfigError):
        Credentials(writer_password, analyst_user, ANALYST_PASSWORD)


# -- statements already checked ----------------------------------------------------------------


def test_checked_statements_keep_the_canonical_text_by_the_exact_text() -> None:
    checked = CheckedStatements(size=2)
    checked.accepted("select 1", "SELECT 1")
    assert checked.get("select 1") == "SELECT 1"
    assert checked.get("select 1 ") is None  # another text, even one the engine reads alike
    assert checked.get("SELECT 1") is None


def test_checked_statements_forget_the_least_recently_used_first() -> None:
    checked = CheckedStatements(size=2)
    checked.accepted("a", "A")
    checked.accepted("b", "B")
    assert checked.get("a") == "A"  # a used last: b goes first
    checked.accepted("c", "C")
    assert (checked.get("a"), checked.get("b"), checked.get("c"), len(checked)) == (
        "A",
        None,
        "C",
        2,
    )


def test_a_statement_whose_parameters_can_be_names_or_a_long_one_is_not_kept() -> None:
    checked = CheckedStatements(max_chars=100)
    checked.accepted("SELECT * FROM {t:Identifier}", "SELECT *\nFROM {t:Identifier}")
    checked.accepted("select 'identifier'", "SELECT 'IDENTIFIER'")  # a miss costs a check only
    checked.accepted("SELECT " + "1, " * 50 + "1", "SELECT ...")
    assert len(checked) == 0
