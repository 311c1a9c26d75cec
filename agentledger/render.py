"""Terminal views of the ledger: a chain as a tree, agent → origin → intent → scope → actions."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ledger.queries import Chain

_OUTCOME_STYLE = {"success": "green", "failure": "bold red", "pending": "yellow"}


def _when(value: str) -> str:
    return value[11:19] if len(value) >= 19 else value


def _action_line(action: dict[str, Any]) -> Text:
    kind = action["kind"]
    if kind == "tool_call":
        what = f"tools/call {action['resource']}"
    elif kind == "api_call":
        what = f"{action['service']} {action['operation']}"
        if action["resource"]:
            what += f" {action['resource']}"
    else:
        what = f"{action['source']} {action['operation']}"
    line = Text(f"{_when(action['event_time'])}  {kind:<12} {what}")
    return line


def _outcome_line(action: dict[str, Any]) -> Text:
    outcome = action["outcome"]
    text = Text("outcome: ")
    text.append(outcome, style=_OUTCOME_STYLE.get(outcome, "dim"))
    if action["outcome_detail"]:
        text.append(f" ({action['outcome_detail'][:120]})", style="dim")
    return text


def chain_tree(chain: Chain) -> Tree:
    s = chain.session
    root = Tree(Text(f"session {s['session_id']}", style="bold"))
    root.label.append(  # type: ignore[union-attr]
        f"  {s['first_seen'][:19]} → {s['last_seen'][11:19]} UTC · sources: "
        f"{', '.join(s['sources'])} · {s['event_count']} events",
        style="dim",
    )
    agent = s["agent_name"] or "(no agent identified)"
    version = f" {s['agent_version']}" if s["agent_version"] else ""
    instance = f" · instance {s['agent_instance']}" if s["agent_instance"] else ""
    client = f" · client {s['client_id']}" if s["client_id"] else ""
    node = root.add(Text(f"agent: {agent}{version}{instance}{client}", style="cyan"))
    if s["origin_type"]:
        origin = f"origin: {s['origin_type']} {s['origin_principal']}"
    else:
        origin = f"origin: not established (principal {s['principal'] or 'unknown'})"
    node = node.add(Text(origin, style="magenta"))
    declared = " (declared)" if s.get("declared") else ""
    node = node.add(Text(f"intent: {s['intent'] or '(none declared)'}{declared}", style="blue"))
    creds = ", ".join(f"{c['kind']} {c['credential_id'][:24]}" for c in chain.credentials)
    scope = " ".join(s["scopes"]) or "(no scopes seen)"
    node = node.add(Text(f"scope: {scope}" + (f"  [{creds}]" if creds else ""), style="yellow"))
    actions = node.add(Text(f"actions ({len(chain.actions)})", style="bold"))
    for action in chain.actions:
        branch = actions.add(_action_line(action))
        branch.add(_outcome_line(action))
        branch.add(
            Text(
                f"linked by {action['link_rule']} via {action['link_key_type']}="
                f"{action['link_key'][:48]}",
                style="dim",
            )
        )
    for alias in chain.aliases:
        root.add(
            Text(
                f"merged {alias['alias_id']} by {alias['rule']} "
                f"({alias['key_type']}={alias['key_value'][:40]})",
                style="dim",
            )
        )
    return root


def sessions_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False)
    for column in (
        "session",
        "last seen (UTC)",
        "principal",
        "agent",
        "intent",
        "events",
        "failures",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        agent = f"{r['agent_name']} {r['agent_version']}".strip() or "-"
        table.add_row(
            r["session_id"],
            r["last_seen"][:19],
            r["origin_principal"] or r["principal"] or "-",
            agent,
            (r["intent"] or "-")[:60],
            str(r["event_count"]),
            str(r["failure_count"]),
        )
    return table
