"""What an analyst may run on the embedded ledger: one read-only statement.

Every layer is the engine's own, so no lexer of ours can disagree with ClickHouse about
where a comment, a heredoc or a statement ends:

1. ``formatQuery`` canonicalises the text (passed as a query parameter, never spliced into
   SQL): comments go, ``$$…$$`` heredocs become plain string literals, a second statement is
   refused.
2. ``EXPLAIN AST`` of the canonical text, with the request's query parameters substituted, is
   walked: only read statement kinds, no ``INTO OUTFILE``, no ``SETTINGS``, table functions
   only from a few generators, no scalar function that reaches outside the ledger.
3. The canonical text (what was checked is what runs) executes on a ``readonly = 1``
   connection, which itself refuses writes, DDL, settings and most table functions.

A saved query or a dashboard panel sends the same text again and again, its values as
query parameters, so ``CheckedStatements`` remembers the canonical text of statements
already accepted, by their exact text (see there for which ones it may remember).

The checks are meant for a readonly connection: ``Run`` below is the store's analyst path.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kernel.errors import StoreError

__all__ = [
    "ALLOWED_STATEMENTS",
    "ALLOWED_TABLE_FUNCTIONS",
    "DENIED_FUNCTIONS",
    "CheckedStatements",
    "Run",
    "UnsafeQuery",
    "analyst_statement",
    "canonical",
    "escaped",
    "problem_in_ast",
    "read_only_problem",
]

# (sql, format, params) -> output bytes, on the engine's readonly connection.
Run = Callable[[str, str, Mapping[str, str] | None], bytes]

# Root node names in EXPLAIN AST (chDB 4.4) of the statement kinds that only read.
# ShowTables also stands for SHOW DATABASES / DICTIONARIES / SETTINGS / CLUSTERS: each a
# SELECT over a system table.
ALLOWED_STATEMENTS = frozenset(
    {
        "SelectWithUnionQuery",
        "SelectIntersectExceptQuery",
        "ShowTables",
        "ShowColumns",
        "DescribeQuery",
        "ExistsTableQuery",
        "ExistsDatabaseQuery",
        "ExistsViewQuery",
        "ExistsDictionaryQuery",
        "ShowCreateTableQuery",
    }
)
# Generators that touch nothing but memory. Every other table function (file, url, s3,
# remote, executable, python, …) is refused by name, so a new one is refused too.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {"numbers", "numbers_mt", "generate_series", "generateSeries", "values"}
)
_HOST_CONFIG = "reads the configuration of the ledger's host"
_HOST_FACTS = "describes the ledger's host"
# Scalar functions, compared in lower case (conservative: ClickHouse matches most names
# exactly), with why each is refused.
DENIED_FUNCTIONS: Mapping[str, str] = {
    "file": "reads files on the ledger's host",
    "naivebayesclassifier": "loads model files on the ledger's host",
    "naivebayesclassifierwithprob": "loads model files on the ledger's host",
    "naivebayesclassifierwithallprobs": "loads model files on the ledger's host",
    "getserversetting": _HOST_CONFIG,
    "getmergetreesetting": _HOST_CONFIG,
    "getmacro": _HOST_CONFIG,
    "showcertificate": _HOST_CONFIG,
    "hostname": _HOST_FACTS,
    "fqdn": _HOST_FACTS,
    "fullhostname": _HOST_FACTS,
    "filesystemavailable": _HOST_FACTS,
    "filesystemcapacity": _HOST_FACTS,
    "filesystemunreserved": _HOST_FACTS,
    "getoskernelversion": _HOST_FACTS,
    "addresstoline": "inspects the ledger's process",
    "addresstolinewithinlines": "inspects the ledger's process",
    "addresstosymbol": "inspects the ledger's process",
    "demangle": "inspects the ledger's process",
    "generateserialid": "writes to a coordination service",
    "logtrace": "writes to the ledger's server log",
    # chDB runs one query at a time: a sleeping analyst would stall every writer.
    "sleep": "stalls the ledger, which runs one query at a time",
    "sleepeachrow": "stalls the ledger, which runs one query at a time",
}

_ROW = re.compile(r"^(?P<indent> *)(?P<kind>\S+)(?P<rest>.*)$")
_CHILDREN = re.compile(r" \(children (\d+)\)$")
_STRING_LITERAL = re.compile(r"^ '")
_WRAPPER_SCOPE = "In scope SELECT formatQuery("


class UnsafeQuery(StoreError):
    """An analyst statement the ledger refuses; ClickHouse's READONLY code, 164."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem, code=164, name="READONLY")
        self.problem = problem


def escaped(text: str) -> str:
    """``text`` as a ``String`` query parameter: ClickHouse reads parameters in its escaped
    text form, where a raw line break or tab would end the value early."""
    return (
        text.replace("\\", "\\\\")
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
    )


def canonical(run: Run, sql: str) -> str:
    """The engine's canonical text of the one statement in ``sql``."""
    try:
        text = run("SELECT formatQuery({q:String})", "RawBLOB", {"q": escaped(sql)})
    except StoreError as exc:
        if exc.code == 62 and "Multi-statements are not allowed" in str(exc):
            raise UnsafeQuery("one statement per request") from exc
        # The engine quotes the wrapper query back; the analyst only needs their own text.
        message = str(exc).split(_WRAPPER_SCOPE, 1)[0].rstrip(" :.")
        raise StoreError(f"{message}.", code=exc.code, name=exc.name) from exc
    try:
        return text.decode().strip()
    except UnicodeDecodeError as exc:
        # Only a literal's escapes can produce such bytes; refuse rather than guess.
        raise StoreError(
            "the statement's literals decode to text that is not UTF-8",
            code=36,
            name="BAD_ARGUMENTS",
        ) from exc


@dataclass(slots=True)
class _Node:
    kind: str
    rest: str
    depth: int
    declared: int
    children: list[_Node]
    parent: _Node | None


def _tree(rows: Sequence[str]) -> _Node | None:
    """The tree of an EXPLAIN AST dump, or ``None`` when the dump is not one well-formed
    tree (a name or alias holding a line break splits its row in two)."""
    root: _Node | None = None
    path: list[_Node] = []
    for row in rows:
        match = _ROW.match(row)
        if match is None:
            return None
        depth = len(match["indent"])
        children = _CHILDREN.search(row)
        rest = match["rest"]
        node = _Node(match["kind"], rest, depth, int(children[1]) if children else 0, [], None)
        if root is None:
            if depth != 0:
                return None
            root = node
        else:
            if depth == 0 or depth > len(path):
                return None
            del path[depth:]
            node.parent = path[-1]
            path[-1].children.append(node)
        path.append(node)
    if root is None:
        return None
    stack = [root]
    while stack:
        node = stack.pop()
        if len(node.children) != node.declared:
            return None
        stack.extend(node.children)
    return root


def _function_name(rest: str) -> str:
    name = _CHILDREN.sub("", rest).strip()
    alias = name.find(" (alias ")
    return name[:alias] if alias >= 0 else name


def _node_problem(node: _Node, root: _Node) -> str | None:
    if node.kind == "Set":
        return "SETTINGS cannot be changed by an analyst"
    if node.kind == "Explain":
        return "EXPLAIN statements need the writer credential"
    if node.parent is root and node.kind == "Literal" and _STRING_LITERAL.match(node.rest):
        # The only string child a read statement's root takes is its out-file.
        return "INTO OUTFILE writes files on the ledger's host"
    if node.kind != "Function":
        return None
    name = _function_name(node.rest)
    if node.parent is not None and node.parent.kind == "TableExpression":
        if root.kind == "DescribeQuery":
            return "DESCRIBE of a table function can read outside the ledger"
        if name not in ALLOWED_TABLE_FUNCTIONS:
            return f"table function {name}() can reach outside the ledger"
        return None
    reason = DENIED_FUNCTIONS.get(name.lower())
    return f"{name}() {reason}" if reason else None


def problem_in_ast(rows: Sequence[str], statement: str = "") -> str | None:
    """Why the statement dumped as ``rows`` (EXPLAIN AST lines) is not one an analyst may
    run, or ``None``; ``statement`` (its canonical text) only names a refused kind."""
    root = _tree(rows)
    if root is None:
        return "names and aliases with line breaks are not accepted"
    if root.kind not in ALLOWED_STATEMENTS:
        words = statement.split(maxsplit=1)
        kind = words[0].upper() if words else root.kind
        return f"{kind} statements need the writer credential"
    stack = [root]
    while stack:
        node = stack.pop()
        problem = _node_problem(node, root)
        if problem is not None:
            return problem
        stack.extend(node.children)
    return None


def _checked(run: Run, sql: str, params: Mapping[str, str] | None) -> tuple[str, str | None]:
    text = canonical(run, sql)
    # Substituting the parameters here as the run will shows what actually runs: an
    # Identifier parameter becomes a name, a typed one a literal.
    try:
        dump = run(f"EXPLAIN AST {text}", "TSVRaw", params or None)
    except StoreError as exc:
        if exc.code == 164:
            # The readonly connection applies a SETTINGS clause even to EXPLAIN, and refuses.
            raise UnsafeQuery("SETTINGS cannot be changed by an analyst") from exc
        raise
    rows = dump.decode("utf-8", "replace").split("\n")
    while rows and not rows[-1]:
        rows.pop()
    return text, problem_in_ast(rows, text)


def read_only_problem(run: Run, sql: str, params: Mapping[str, str] | None = None) -> str | None:
    """Why ``sql`` is not one read-only statement an analyst may run, or ``None``.

    Raises ``StoreError`` for what the engine refuses to parse (syntax errors)."""
    try:
        return _checked(run, sql, params)[1]
    except UnsafeQuery as exc:
        return exc.problem


class CheckedStatements:
    """The canonical texts of statements already checked and accepted, by their exact text:
    at most ``size`` of them (least recently used go first), none longer than
    ``max_chars``. Only acceptances are kept; a refused statement is checked again each time.

    The verdict on a statement may stand for its text alone only when its query parameters
    cannot change the tree the check walks. A typed parameter (``{x:String}``, ``{n:UInt32}``,
    …) becomes a literal, and no check looks at a literal's value (a string child of the
    statement's root, the out-file, cannot be a parameter: the parser wants a literal there).
    An ``Identifier`` parameter becomes a name, whose value shapes the tree (a line break in
    it splits a row of the dump): a statement with one is never kept, nor one whose canonical
    text has the word anywhere (in a literal or a comment too: a miss only costs a check).
    """

    def __init__(self, size: int = 256, max_chars: int = 64 << 10) -> None:
        self.size = size
        self.max_chars = max_chars
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sql: str) -> str | None:
        with self._lock:
            text = self._texts.get(sql)
            if text is not None:
                self._texts.move_to_end(sql)
            return text

    def accepted(self, sql: str, text: str) -> None:
        """``sql``, checked and accepted, runs as ``text`` (kept when it may be)."""
        if len(sql) > self.max_chars or "identifier" in text.lower():
            return
        with self._lock:
            self._texts[sql] = text
            self._texts.move_to_end(sql)
            while len(self._texts) > self.size:
                self._texts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._texts)


def analyst_statement(
    run: Run,
    sql: str,
    params: Mapping[str, str] | None = None,
    checked: CheckedStatements | None = None,
) -> str:
    """The canonical text of ``sql`` to run for an analyst, once checked (or as accepted
    before, when ``checked`` has it).

    Raises ``UnsafeQuery`` when refused, ``StoreError`` when the engine cannot parse it."""
    if checked is not None:
        known = checked.get(sql)
        if known is not None:
            return known
    text, problem = _checked(run, sql, params)
    if problem is not None:
        raise UnsafeQuery(problem)
    if checked is not None:
        checked.accepted(sql, text)
    return text
