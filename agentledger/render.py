"""Terminal views of the ledger: a chain as a tree (agent → origin → intent → scope →
actions), actions as a table, one action's label explained in plain words, and the source
records an action came from. Every view of an action shows the id its source gave it."""

from __future__ import annotations

from typing import Any

import orjson
from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from kernel.vocabulary import (
    AGENT_AUTONOMOUS,
    AGENT_DELEGATED,
    DIRECT_USER,
    ORIGIN_AGENT,
    ORIGIN_HUMAN,
    ORIGIN_SCHEDULE,
    UNATTRIBUTED,
    WEB_IDENTITY_KEY,
)
from ledger.queries import Chain

_OUTCOME_STYLE = {"success": "green", "failure": "bold red", "pending": "yellow"}
_LABEL_STYLE = {
    DIRECT_USER: "green",
    AGENT_DELEGATED: "cyan",
    AGENT_AUTONOMOUS: "bold red",
    UNATTRIBUTED: "yellow",
}
_LABEL_WORDS = {
    DIRECT_USER: "a person acting directly",
    AGENT_DELEGATED: "an agent doing what it was asked",
    AGENT_AUTONOMOUS: "an agent acting on its own",
    UNATTRIBUTED: "no agent or person could be established",
}


def _when(value: str) -> str:
    return value[11:19] if len(value) >= 19 else value


def _what(action: dict[str, Any]) -> str:
    kind = action["kind"]
    if kind == "tool_call":
        return f"tools/call {action['resource']}"
    if kind == "api_call":
        what = f"{action['service']} {action['operation']}".strip()
        if action["resource"] and action["resource"] not in action["operation"]:
            what += f" {action['resource']}"
        return what
    return f"{action['source']} {action['operation']}"


def _action_line(action: dict[str, Any]) -> Text:
    text = Text(f"{_when(action['event_time'])}  {action['kind']:<12} {_what(action)}")
    if action["source_id"]:
        text.append(f"  [{action['source_id']}]", style="dim")
    return text


def _reported_by(outcome: dict[str, Any]) -> str:
    """The record that reported an outcome, when it is not the action's own: by the id its
    source gave it, else by the ledger's."""
    if not outcome["event_id"]:
        return ""
    return f"reported by {outcome['source_id'] or 'event ' + outcome['event_id']}"


def _outcome_line(action: dict[str, Any]) -> Text:
    outcome = action["outcome"]
    text = Text("outcome: ")
    text.append(outcome["status"], style=_OUTCOME_STYLE.get(outcome["status"], "dim"))
    if outcome["detail"]:
        text.append(f" ({outcome['detail'][:120]})", style="dim")
    reported = _reported_by(outcome)
    if reported:
        text.append(f" · {reported}", style="dim")
    return text


def label_text(attribution: dict[str, Any]) -> Text:
    label = attribution["label"]
    if label is None:
        return Text("not labelled (run agentledger rebuild)", style="dim")
    text = Text(label, style=_LABEL_STYLE.get(label, ""))
    if attribution["confused_deputy"]:
        text.append(" · possible confused deputy", style="bold magenta")
    return text


def _attribution_line(action: dict[str, Any]) -> Text:
    text = Text("attribution: ")
    text.append_text(label_text(action["attribution"]))
    if action["attribution"]["rule"]:
        text.append(f" ({action['attribution']['rule']})", style="dim")
    agent = action["agent"]["attributed"]
    origin = action["origin"]
    if agent:
        text.append(f" · agent {agent}", style="dim")
    if origin["type"]:
        text.append(f" · for {origin['type']} {origin['principal']}", style="dim")
    return text


_DECISION_STYLE = {"allow": "green", "narrow": "yellow", "halt": "bold red", "revoke": "bold red"}


def drift_text(action: dict[str, Any]) -> Text:
    """``drift 0.91 · narrow`` with the reasons, or that the action was not scored."""
    drift = action.get("drift")
    if drift is None:
        return Text("drift: not scored", style="dim")
    text = Text(f"drift {drift['score']:.2f}", style="bold red" if drift["flagged"] else "")
    decision = action["decision"]
    text.append(" · ")
    text.append(decision, style=_DECISION_STYLE.get(decision, ""))
    if drift["out_of_bounds"]:
        text.append(" · outside the declaration", style="bold red")
    if drift["reasons"]:
        text.append(": " + "; ".join(drift["reasons"]), style="dim")
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
    if s["origin_type"] == ORIGIN_AGENT:
        origin = f"origin: agent in session {s['upstream_session_id'] or s['origin_principal']}"
    elif s["origin_type"]:
        origin = f"origin: {s['origin_type']} {s['origin_principal']}"
    else:
        origin = f"origin: not established (principal {s['principal'] or 'unknown'})"
    node = node.add(Text(origin, style="magenta"))
    if chain.upstream:
        node.add(Text("delegation: " + delegation_words(s, chain.upstream), style="magenta"))
    source = s.get("intent_source") or ""
    how = f" ({source.replace('_', ' ')})" if source else ""
    intent = s["intent"] or "(none declared or asserted)"
    node = node.add(Text(f"intent: {intent}{how}", style="blue"))
    limits = [
        f"{name} {', '.join(s[f'intent_{name}'])}"
        for name in ("tools", "resources", "actions")
        if s.get(f"intent_{name}")
    ]
    if limits:
        node.add(Text("covers: " + "; ".join(limits), style="blue"))
    creds = ", ".join(f"{c['kind']} {c['credential_id'][:24]}" for c in chain.credentials)
    scope = " ".join(s["scopes"]) or "(no scopes seen)"
    node = node.add(Text(f"scope: {scope}" + (f"  [{creds}]" if creds else ""), style="yellow"))
    actions = node.add(Text(f"actions ({len(chain.actions)})", style="bold"))
    for action in chain.actions:
        branch = actions.add(_action_line(action))
        branch.add(_attribution_line(action))
        if action.get("drift") is not None:
            branch.add(drift_text(action))
        branch.add(_outcome_line(action))
        link = action["link"]
        # An inference's evidence is its key, and is read whole; a key is known by its start.
        key = link["key"] if link["key_type"] == WEB_IDENTITY_KEY else link["key"][:48]
        branch.add(Text(f"linked by {link['rule']} via {link['key_type']}={key}", style="dim"))
    for alias in chain.aliases:
        # As for a link: an inference's evidence is read whole, a key is known by its start.
        value = alias["key_value"]
        key = value if alias["key_type"] == WEB_IDENTITY_KEY else value[:40]
        root.add(
            Text(
                f"merged {alias['alias_id']} by {alias['rule']} ({alias['key_type']}={key})",
                style="dim",
            )
        )
    return root


def _flagged(row: dict[str, Any]) -> Text:
    autonomous, deputies = int(row["autonomous_actions"]), int(row["confused_deputy_actions"])
    text = Text(str(autonomous), style="bold red" if autonomous else "")
    if deputies:
        text.append(f" ({deputies} possible confused deputy)", style="bold magenta")
    return text


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
        "autonomous",
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
            _flagged(r),
        )
    return table


def delegation_words(session: dict[str, Any], upstream: list[dict[str, Any]]) -> str:
    """``crm-worker ← orchestrator (s-1) ← human bob``: who started whom, back to the origin."""
    words = [session["agent_name"] or "(agent)"]
    for hop in upstream:
        if not hop["known"]:
            words.append(f"session {hop['session_id']} (not in the ledger yet)")
            break
        words.append(f"{hop['agent_name'] or '(agent)'} ({hop['session_id']})")
        if hop["origin_type"] in (ORIGIN_HUMAN, ORIGIN_SCHEDULE):
            words.append(f"{hop['origin_type']} {hop['origin_principal']}")
    return " ← ".join(words)


def actions_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False)
    table.add_column("action", no_wrap=True)
    # The source's id beside the ledger's; --json gives it unfolded, to copy.
    columns = ("source id", "time (UTC)", "what", "label", "agent", "origin", "drift", "outcome")
    for column in columns:
        table.add_column(column, overflow="fold")
    for r in rows:
        origin = r["origin"]
        drift = r.get("drift")
        table.add_row(
            r["action_id"][:12],
            r["source_id"] or "-",
            r["event_time"][:19],
            _what(r),
            label_text(r["attribution"]),
            r["agent"]["attributed"] or "-",
            f"{origin['type']} {origin['principal']}".strip() or "-",
            Text(
                f"{drift['score']:.2f} {r['decision']}" if drift else "-",
                style=_DECISION_STYLE.get(r["decision"] or "", "") if drift else "dim",
            ),
            Text(r["outcome"]["status"], style=_OUTCOME_STYLE.get(r["outcome"]["status"], "")),
        )
    return table


def explain(record: dict[str, Any]) -> Group:
    """One action's label and its evidence, in plain words."""
    attribution = record["attribution"]
    head = Text(f"action {record['action_id']}", style="bold")
    head.append(f"  {record['event_time'][:19]} UTC · {record['source']}", style="dim")
    lines: list[Text] = [head, Text(f"  {record['kind']}: {_what(record)}")]
    label = Text("\nlabel: ")
    label.append_text(label_text(attribution))
    if attribution["label"]:
        label.append(f" — {_LABEL_WORDS.get(attribution['label'], '')}")
        label.append(f" (rule {attribution['rule']})", style="dim")
    lines.append(label)
    origin, session, scope = record["origin"], record["session"], record["scope"]
    outcome = record["outcome"]
    reported = _reported_by(outcome)
    facts = [
        ("source id", record["source_id"] or "none (the record carries no id)"),
        ("agent", record["agent"]["attributed"] or "none established"),
        ("session", session["session_id"]),
        (
            "intent",
            f"{session['intent']} ({(session['intent_source'] or 'none').replace('_', ' ')})"
            if session["intent"]
            else "none declared or asserted",
        ),
        (
            "origin",
            f"{origin['type']} {origin['principal']}" if origin["type"] else "not established",
        ),
        ("scope", " ".join(scope["scopes"]) or f"principal {scope['principal'] or 'unknown'}"),
        ("outcome", outcome["status"] + (f" ({reported})" if reported else "")),
    ]
    for name, value in facts:
        lines.append(Text(f"  {name + ':':<10} {value}"))
    if len(origin["chain"]) > 1:
        lines.append(
            Text(
                "  chain:     "
                + " ← ".join(f"{h['kind']} {h['id'] or '(unknown)'}" for h in origin["chain"])
            )
        )
    if attribution["evidence"]:
        lines.append(Text("\nwhy:", style="bold"))
        for number, item in enumerate(attribution["evidence"], 1):
            lines.append(Text(f"  {number}. {item['detail']}"))
    lines += _drift_lines(record)
    return Group(*lines)


def _drift_lines(record: dict[str, Any]) -> list[Text]:
    drift = record.get("drift")
    if drift is None:
        return [Text("\ndrift: not scored", style="dim")]
    head = Text("\ndrift: ", style="bold")
    head.append(f"{drift['score']:.2f}", style="bold red" if drift["flagged"] else "")
    head.append(" · decision ")
    head.append(record["decision"], style=_DECISION_STYLE.get(record["decision"], ""))
    head.append(f" (model {drift['model_version']}, rule {record['policy_rule']})", style="dim")
    lines = [head]
    if drift["out_of_bounds"]:
        lines.append(Text("  outside the declared tools, resources or actions", style="bold red"))
    for number, reason in enumerate(drift["reasons"], 1):
        lines.append(Text(f"  {number}. {reason}"))
    if record.get("contraction_id"):
        lines.append(Text(f"  contraction {record['contraction_id']}", style="dim"))
    return lines


def contractions_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False)
    table.add_column("contraction", no_wrap=True)
    for column in (
        "decided (UTC)",
        "session",
        "agent",
        "decision",
        "cause",
        "score",
        "removed",
        "reasons",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        removed = ", ".join(r["removed_tools"] + r["removed_scopes"]) or "-"
        table.add_row(
            r["contraction_id"][:12],
            r["decided_at"][:19],
            r["session_id"],
            r["agent"] or "-",
            Text(r["decision"], style=_DECISION_STYLE.get(r["decision"], "")),
            f"{r['cause_tool'] or '-'} ({r['cause_action_id'][:12]})",
            f"{r['score']:.2f}",
            removed if r["decision"] == "narrow" else "every call",
            "; ".join(r["reasons"]) or "-",
        )
    return table


_RECORD_ROLES = {"action": "source record", "outcome": "outcome record"}


def source_records(records: dict[str, Any]) -> Group:
    """The records an action came from (``ledger.queries.source_records``), each as the
    ledger keeps it: indented JSON, secrets already replaced. Printed as plain text (no
    markup, no wrapping), so that it can be copied as it is."""
    parts: list[Text] = []
    for role, entry in records.items():
        title = _RECORD_ROLES.get(role, role)
        if entry is None:
            parts.append(Text(f"\n{title}: not in the ledger yet", style="bold"))
            continue
        head = Text(f"\n{title}", style="bold")
        head.append(f"  {entry['source']} · source id {entry['source_id'] or 'none'}")
        head.append(f" · {entry['position']}", style="dim")
        if entry["raw_ref"]:
            head.append(f" · {entry['raw_ref']}", style="dim")
        parts.append(head)
        body = orjson.dumps(entry["record"], option=orjson.OPT_INDENT_2).decode()
        parts.append(Text(body, no_wrap=True, overflow="ignore"))
    return Group(*parts)


def control_loop_view(loop: dict[str, Any]) -> Group:
    """The demo's injected session: what the agent read, what it did, the score and its
    reasons, the contraction, and the gateway's refusal of the next call."""
    lines = [Text(f"  intent (declared): {loop['intent']}")]
    lines.append(Text("  tool result the agent read (read_inbox):", style="bold"))
    for line in loop["injected_result"].splitlines():
        lines.append(Text(f"    {line}", style="magenta"))
    call = loop["drifting_call"]
    lines.append(
        Text(f"  drifting call: {call['tool']} {orjson.dumps(call['arguments']).decode()}")
    )
    lines.append(Text(f"    → {call['result']}", style="dim"))
    causes = {c["cause_action_id"] for c in loop["contractions"]}
    for scored in loop["drift"]:
        text = Text(f"  scored {scored['tool']:<12} drift {scored['score']:.2f} · ")
        text.append(scored["decision"], style=_DECISION_STYLE.get(scored["decision"], ""))
        if scored["reasons"]:
            text.append(": " + "; ".join(scored["reasons"]), style="dim")
        lines.append(text)
        if scored["action_id"] in causes:
            break  # what follows was refused at the gateway (recorded, scored, not run)
    for c in sorted(loop["contractions"], key=lambda c: c["decided_at"]):
        removed = ", ".join(c["removed_tools"]) if c["decision"] == "narrow" else "every call"
        head = Text(f"  contraction {c['contraction_id'][:12]}: ")
        head.append(c["decision"], style=_DECISION_STYLE.get(c["decision"], ""))
        head.append(
            f" {loop['session_id']} (removed: {removed}; rule {c['policy_rule']}; "
            f"model {c['model_version']})",
            style="dim",
        )
        lines.append(head)
    nxt = loop["next_call"]
    if nxt["refused"]:
        lines.append(Text(f"  gateway refused the next call: {nxt['message']}", style="bold red"))
    else:
        lines.append(Text("  the next call was not refused", style="bold red"))
    return Group(*lines)
