"""The ledger's read side on the command line: ``sessions``, ``actions`` and ``explain``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from agentledger.cli_common import (
    console,
    data_dir_option,
    err_console,
    json_option,
    print_json,
)
from agentledger.stack_state import require_state
from kernel.config import load_settings
from kernel.vocabulary import LABELS


@click.group()
def sessions() -> None:
    """Session chains in the ledger."""


def _declarations_in(text: str, name: str) -> list[tuple[str, Any]]:
    """(position, value) of each declaration: one JSON object, an array, or JSON Lines."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        whole = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        return [(f"{name}:1", whole)]
    if isinstance(whole, list):
        return [(f"{name}[{i}]", v) for i, v in enumerate(whole)]
    found: list[tuple[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                found.append((f"{name}:{number}", orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                found.append((f"{name}:{number}", exc))
    return found


@sessions.command("declare")
@click.argument("path")
@data_dir_option
@json_option
def sessions_declare(path: str, data_dir: Path | None, as_json: bool) -> None:
    """Declare sessions from PATH (- for stdin): one declaration, an array, or JSON Lines."""
    from agentledger.client import api_key, post_declaration
    from kernel.declaration import DeclarationError, parse_declaration

    settings = load_settings(data_dir=data_dir)
    info = require_state(settings.data_dir)
    key = api_key(settings, info)
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    results: list[dict[str, Any]] = []
    for position, value in _declarations_in(text, "stdin" if path == "-" else path):
        try:
            if isinstance(value, Exception):
                raise DeclarationError("", f"invalid JSON: {value}")
            declaration = parse_declaration(value)
        except DeclarationError as exc:
            results.append({"position": position, "error": str(exc), "field": exc.field})
            continue
        try:
            session_id = post_declaration(info.http_url, declaration, key)
        except DeclarationError as exc:
            results.append({"position": position, "error": str(exc), "field": exc.field})
            continue
        results.append({"position": position, "session_id": session_id})
    if as_json:
        print_json(results)
    else:
        for result in results:
            if "session_id" in result:
                console.print(f"{result['position']}: declared {result['session_id']}")
            else:
                err_console.print(
                    f"{result['position']}: [red]{result['error']}[/]", soft_wrap=True
                )
    if any("error" in r for r in results):
        sys.exit(1)


@sessions.command("list")
@data_dir_option
@click.option("--clickhouse", help="Read a ClickHouse server instead of the running ledger.")
@click.option("--limit", default=50, show_default=True)
@json_option
def sessions_list(data_dir: Path | None, clickhouse: str | None, limit: int, as_json: bool) -> None:
    """The latest sessions."""
    from agentledger.client import ledger_reader
    from agentledger.render import sessions_table
    from ledger.session_list import list_sessions

    with ledger_reader(data_dir, clickhouse) as store:
        rows = list_sessions(store, limit)
    if as_json:
        print_json(rows)
    else:
        console.print(sessions_table(rows))


@sessions.command("show")
@click.argument("session_id")
@data_dir_option
@click.option("--clickhouse", help="Read a ClickHouse server instead of the running ledger.")
@json_option
def sessions_show(
    session_id: str, data_dir: Path | None, clickhouse: str | None, as_json: bool
) -> None:
    """One session's chain: agent → origin → intent → scope → actions → outcomes."""
    from agentledger.client import ledger_reader
    from agentledger.render import chain_tree
    from ledger.queries import session_chain

    with ledger_reader(data_dir, clickhouse) as store:
        chain = session_chain(store, session_id)
    if as_json:
        print_json(chain.as_json())
    else:
        console.print(chain_tree(chain))


@click.group()
def actions() -> None:
    """Actions with the five attribution fields and the label that attributes each one."""


@actions.command("list")
@click.option("--session", "session_id", help="Only this session's actions (and merged ones).")
@click.option(
    "--label",
    type=click.Choice(LABELS),
    help="Only actions with this label.",
)
@click.option(
    "--source-id",
    help="Only actions whose record has this id from its source (exact): a CloudTrail "
    "eventID, an Okta uuid, an MCP SERVER#ID, ...",
)
@click.option("--limit", default=100, show_default=True)
@data_dir_option
@click.option("--clickhouse", help="Read a ClickHouse server instead of the running ledger.")
@json_option
def actions_list(
    session_id: str | None,
    label: str | None,
    source_id: str | None,
    limit: int,
    data_dir: Path | None,
    clickhouse: str | None,
    as_json: bool,
) -> None:
    """The latest actions: source id, agent, session and intent, origin, scope, outcome,
    and label."""
    from agentledger.client import ledger_reader
    from agentledger.render import actions_table
    from ledger.queries import list_actions

    with ledger_reader(data_dir, clickhouse) as store:
        rows = list_actions(
            store, session_id=session_id, label=label, source_id=source_id, limit=limit
        )
    if as_json:
        print_json(rows)
    else:
        console.print(actions_table(rows))


@click.command()
@click.argument("action_id")
@click.option(
    "--raw",
    "with_raw",
    is_flag=True,
    help="Also print the source record the ledger keeps (secrets replaced), and the record "
    "that reported the outcome when that is another one.",
)
@data_dir_option
@click.option("--clickhouse", help="Read a ClickHouse server instead of the running ledger.")
@json_option
def explain(
    action_id: str, with_raw: bool, data_dir: Path | None, clickhouse: str | None, as_json: bool
) -> None:
    """Why an action has its label, in plain words (ACTION_ID or a unique start of it)."""
    from agentledger.client import ledger_reader
    from agentledger.render import explain as explain_view
    from agentledger.render import source_records as records_view
    from ledger.queries import find_action, source_records

    with ledger_reader(data_dir, clickhouse) as store:
        record = find_action(store, action_id)
        records = source_records(store, record) if with_raw else None
    if as_json:
        print_json(record if records is None else {**record, "source_records": records})
        return
    console.print(explain_view(record))
    if records is not None:
        console.print(records_view(records), soft_wrap=True)


@click.group()
def contractions() -> None:
    """Scope contractions: what the drift policy decided, and why."""


@contractions.command("list")
@click.option("--session", "session_id", help="Only this session's contractions.")
@click.option("--limit", default=100, show_default=True)
@data_dir_option
@click.option("--clickhouse", help="Read a ClickHouse server instead of the running ledger.")
@json_option
def contractions_list(
    session_id: str | None,
    limit: int,
    data_dir: Path | None,
    clickhouse: str | None,
    as_json: bool,
) -> None:
    """The latest contractions: session, agent, decision (narrow, halt, revoke), the action
    that caused it, its drift score and reasons, and what was taken away."""
    from agentledger.client import ledger_reader
    from agentledger.render import contractions_table
    from ledger.contractions import list_contractions

    with ledger_reader(data_dir, clickhouse) as store:
        rows = list_contractions(store, session_id=session_id, limit=limit)
    if as_json:
        print_json(rows)
    else:
        console.print(contractions_table(rows))
