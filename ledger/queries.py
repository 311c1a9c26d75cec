"""What analysts ask the ledger: one session's chain, and actions with the label that
attributes each one and the evidence behind it, found by the ledger's id or by the id their
source gave them, with the source records they came from; and how much of an ingest batch
the ledger holds yet. (The list of sessions is ``ledger.session_list``.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from kernel.errors import LedgerError
from ledger.rows import EXCHANGE_ROLE
from ledger.schema import column_types
from ledger.store import LedgerStore

if TYPE_CHECKING:
    import pyarrow as pa

# The tables whose rows carry the ``ingest_batch`` they came in with.
COUNTED_TABLES = ("raw_events", "dead_letters")


class SessionNotFound(LedgerError):
    pass


class ActionNotFound(LedgerError):
    pass


@dataclass(slots=True)
class Chain:
    """A session and everything linked to it, ordered by time."""

    session: dict[str, Any]
    aliases: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    credentials: list[dict[str, Any]]
    upstream: list[dict[str, Any]]  # the sessions that started this one, nearest first

    def as_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "delegated_by": self.upstream,
            "merged_sessions": self.aliases,
            "credentials": self.credentials,
            "actions": self.actions,
        }


def resolve_session(store: LedgerStore, session_id: str) -> str:
    """The surviving session for ``session_id`` (itself, unless it was merged away)."""
    db = store.database
    current = session_id
    for _ in range(64):  # merges are re-pointed at write time; this only follows leftovers
        rows = store.query_rows(
            f"SELECT session_id FROM {db}.session_aliases FINAL WHERE alias_id = {{id:String}}",
            {"id": current},
        )
        if not rows:
            return current
        current = rows[0]["session_id"]
    return current


def session_for_key(store: LedgerStore, key_type: str, key_value: str) -> str | None:
    """The session a link key (a token's ``jti``, say) belongs to, if the ledger knows it."""
    rows = store.query_rows(
        f"SELECT session_id FROM {store.database}.session_keys FINAL "
        "WHERE key_type = {t:String} AND key_value = {v:String}",
        {"t": key_type, "v": key_value},
    )
    return str(rows[0]["session_id"]) if rows else None


def session_chain(store: LedgerStore, session_id: str) -> Chain:
    db = store.database
    root = resolve_session(store, session_id)
    sessions = store.query_rows(
        f"SELECT * FROM {db}.sessions FINAL WHERE session_id = {{id:String}}",
        {"id": root},
    )
    if not sessions:
        raise SessionNotFound(f"no session {session_id!r} in the ledger")
    aliases = store.query_rows(
        f"SELECT alias_id, rule, key_type, key_value, event_id FROM {db}.session_aliases FINAL "
        "WHERE session_id = {id:String} ORDER BY alias_id",
        {"id": root},
    )
    members = [root, *(a["alias_id"] for a in aliases)]
    # The chain's action ids come from the session-ordered chain table in one range
    # (``ledger.chains``); their rows are then read by id, the sorting key, and kept where
    # their latest version names one of the members, as reading by session id would.
    actions = action_records(
        store,
        store.query_rows(
            labelled(db, CHAIN_ACTIONS.format(db=db)) + " ORDER BY event_time, action_id",
            {"ids": members},
        ),
    )
    credentials = store.query_rows(
        f"SELECT * EXCEPT (version) FROM {db}.credentials FINAL "
        "WHERE session_id IN {ids:Array(String)} ORDER BY issued_at",
        {"ids": members},
    )
    return Chain(sessions[0], aliases, actions, credentials, upstream_sessions(store, sessions[0]))


CHAIN_ACTIONS = (
    "action_id IN (SELECT action_id FROM {db}.chain_by_session "
    "WHERE session_id IN {{ids:Array(String)}} AND part = 'action') "
    "AND session_id IN {{ids:Array(String)}}"
)


def upstream_sessions(store: LedgerStore, session: dict[str, Any]) -> list[dict[str, Any]]:
    """The sessions whose agents started ``session``, nearest first, back to the first."""
    db = store.database
    found: list[dict[str, Any]] = []
    seen = {session["session_id"]}
    current = session
    while current.get("origin_type") == "agent" and len(found) < 16:
        upstream_id = current.get("upstream_session_id") or current.get("origin_principal", "")
        root = resolve_session(store, upstream_id)
        rows = store.query_rows(
            "SELECT session_id, agent_name, agent_instance, origin_type, origin_principal, "
            f"upstream_session_id, intent, intent_source FROM {db}.sessions FINAL "
            "WHERE session_id = {id:String}",
            {"id": root},
        )
        if not rows or root in seen:
            found.append({"session_id": upstream_id, "known": False})
            break
        current = rows[0]
        seen.add(root)
        found.append({**current, "known": True})
    return found


# Actions with their label. ``{where}`` filters the actions (and, through ``labelled()``, the
# labels read for them); the label row may be missing for actions stored before labels
# existed (``agentledger rebuild`` labels them).
_LABELLED = """
    SELECT a.* EXCEPT (version), t.*, s.*, d.*
    FROM (SELECT * FROM {db}.actions FINAL WHERE {where}) AS a
    LEFT JOIN (
        SELECT action_id AS label_action_id, session_id AS label_session_id, label,
            rule AS label_rule, agent AS attributed_agent,
            origin_type AS attributed_origin_type,
            origin_principal AS attributed_origin_principal, chain, confused_deputy, evidence
        FROM {db}.attributions FINAL {label_where}
    ) AS t ON t.label_action_id = a.action_id
    LEFT JOIN (
        SELECT session_id AS intent_session_id, intent AS session_intent,
            intent_source AS session_intent_source, declared AS session_declared
        FROM {db}.sessions FINAL
    ) AS s ON s.intent_session_id = if(t.label_session_id = '', a.session_id, t.label_session_id)
    LEFT JOIN (
        SELECT action_id AS drift_action_id, score AS drift_score, flagged AS drift_flagged,
            out_of_bounds AS drift_out_of_bounds, reasons AS drift_reasons,
            model_version AS drift_model_version, decision AS drift_decision,
            policy_rule AS drift_policy_rule, contraction_id AS drift_contraction_id
        FROM {db}.drift FINAL {label_where}
    ) AS d ON d.drift_action_id = a.action_id
"""


def labelled(db: str, where: str) -> str:
    """``_LABELLED`` for the actions matching ``where``, reading only their labels."""
    label_where = ""
    if where != "1":
        label_where = f"WHERE action_id IN (SELECT action_id FROM {db}.actions WHERE {where})"
    return _LABELLED.format(db=db, where=where, label_where=label_where)


def action_records(store: LedgerStore, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``action_record`` of each row, each outcome with the source id of the record that
    reported it (a tool call's result), read from ``raw_events`` in one lookup."""
    answers = sorted({row["outcome_event_id"] for row in rows if row["outcome_event_id"]})
    found = stored_source_ids(store, answers)
    return [action_record(row, found.get(row["outcome_event_id"], "")) for row in rows]


def stored_source_ids(store: LedgerStore, event_ids: list[str]) -> dict[str, str]:
    """The source id of each of ``event_ids`` that ``raw_events`` holds."""
    if not event_ids:
        return {}
    rows = store.query_rows(
        f"SELECT event_id, source_id FROM {store.database}.raw_events "
        "WHERE event_id IN {ids:Array(String)}",
        {"ids": event_ids},
    )
    return {row["event_id"]: row["source_id"] for row in rows}


def action_record(row: dict[str, Any], outcome_source_id: str = "") -> dict[str, Any]:
    """One action as analysts read it: the five attribution fields, then the label.
    ``source_id`` is the id the source gave the record; ``outcome`` names the record that
    reported it by the ledger's id and the source's, when that was another record."""
    labelled = bool(row["label"])
    return {
        "action_id": row["action_id"],
        "source_id": row["source_id"],
        "event_time": row["event_time"],
        "source": row["source"],
        "kind": row["kind"],
        "operation": row["operation"],
        "service": row["service"],
        "resource": row["resource"],
        "access": row["access"],
        "arguments": row["arguments"],
        "agent": {
            "attributed": row["attributed_agent"],
            "name": row["agent_name"],
            "version": row["agent_version"],
            "instance": row["agent_instance"],
            "actors": row["actors"],
        },
        "session": {
            "session_id": row["label_session_id"] or row["session_id"],
            "intent": row["session_intent"],
            "intent_source": row["session_intent_source"],
            "declared": bool(row["session_declared"]),
        },
        "origin": {
            "type": row["attributed_origin_type"],
            "principal": row["attributed_origin_principal"],
            "chain": orjson.loads(row["chain"]) if row["chain"] else [],
        },
        "scope": {
            "principal": row["principal"],
            "principal_type": row["principal_type"],
            "client_id": row["client_id"],
            "scopes": row["scopes"],
        },
        "outcome": {
            "status": row["outcome"],
            "detail": row["outcome_detail"],
            "event_id": row["outcome_event_id"],
            "source_id": outcome_source_id,
        },
        "link": {
            "rule": row["link_rule"],
            "key_type": row["link_key_type"],
            "key": row["link_key"],
        },
        "attribution": {
            "label": row["label"] if labelled else None,
            "rule": row["label_rule"] if labelled else None,
            "confused_deputy": bool(row["confused_deputy"]),
            "evidence": orjson.loads(row["evidence"]) if labelled else [],
        },
        **_drift_of(row),
    }


def _drift_of(row: dict[str, Any]) -> dict[str, Any]:
    """The action's drift and the policy's decision; both ``None`` for an action that was
    not scored (scoring off, or a kind that is not scored: sign-ins, token grants)."""
    if not row["drift_action_id"]:
        return {"drift": None, "decision": None}
    return {
        "drift": {
            "score": round(float(row["drift_score"]), 4),
            "flagged": bool(row["drift_flagged"]),
            "out_of_bounds": bool(row["drift_out_of_bounds"]),
            "model_version": row["drift_model_version"],
            "reasons": list(row["drift_reasons"]),
        },
        "decision": row["drift_decision"],
        "contraction_id": row["drift_contraction_id"] or None,
        "policy_rule": row["drift_policy_rule"],
    }


def session_members(store: LedgerStore, session_id: str) -> list[str]:
    """The session ``session_id`` stands for (after merges), and the ones merged into it."""
    root = resolve_session(store, session_id)
    if not store.count("sessions", "session_id = {id:String}", {"id": root}):
        raise SessionNotFound(f"no session {session_id!r} in the ledger")
    aliases = store.query_rows(
        f"SELECT alias_id FROM {store.database}.session_aliases FINAL "
        "WHERE session_id = {id:String}",
        {"id": root},
    )
    return [root, *(r["alias_id"] for r in aliases)]


def list_actions(
    store: LedgerStore,
    *,
    session_id: str | None = None,
    label: str | None = None,
    source_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Actions, newest first; of one session (with its merged ones), one label, and the
    one source id (exact: a source may reuse an id, so there can be several), when given."""
    db = store.database
    conditions: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if source_id is not None:
        conditions.append("source_id = {source_id:String}")
        params["source_id"] = source_id
    if session_id is not None:
        conditions.append("session_id IN {ids:Array(String)}")
        params["ids"] = session_members(store, session_id)
    sql = labelled(db, " AND ".join(conditions) or "1")
    if label is not None:
        sql += " WHERE t.label = {label:String}"
        params["label"] = label
    sql += " ORDER BY a.event_time DESC, a.action_id LIMIT {limit:UInt32}"
    return action_records(store, store.query_rows(sql, params))


def find_action(store: LedgerStore, action_id: str) -> dict[str, Any]:
    """One action by its id, or by a prefix of it that names only one."""
    db = store.database
    ids = store.query_rows(
        f"SELECT DISTINCT action_id FROM {db}.actions WHERE startsWith(action_id, {{p:String}}) "
        "LIMIT 2",
        {"p": action_id},
    )
    if not ids:
        raise ActionNotFound(f"no action {action_id!r} in the ledger")
    if len(ids) > 1:
        raise ActionNotFound(f"{action_id!r} is the start of more than one action id; give more")
    rows = store.query_rows(labelled(db, "action_id = {id:String}"), {"id": ids[0]["action_id"]})
    return action_records(store, rows)[0]


def source_records(store: LedgerStore, action: dict[str, Any]) -> dict[str, Any]:
    """The records ``action`` came from, as the ledger keeps them (secrets replaced):
    ``action``, and ``outcome`` when another record (a tool result) reported its outcome.
    A record the ledger does not hold (yet: raw events are written last) is ``None``."""
    wanted = {"action": action["action_id"]}
    answer = action["outcome"]["event_id"]
    if answer and answer != action["action_id"]:
        wanted["outcome"] = answer
    rows = store.query_rows(
        "SELECT event_id, source, source_id, event_time, position, raw_topic, raw_partition, "
        f"raw_offset, raw FROM {store.database}.raw_events FINAL "
        "WHERE event_id IN {ids:Array(String)}",
        {"ids": list(wanted.values())},
    )
    by_id = {row["event_id"]: row for row in rows}
    return {role: _source_record(by_id.get(event_id)) for role, event_id in wanted.items()}


def _source_record(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    topic = row["raw_topic"]
    return {
        "event_id": row["event_id"],
        "source": row["source"],
        "source_id": row["source_id"],
        "event_time": row["event_time"],
        "position": row["position"],
        "raw_ref": f"{topic}/{row['raw_partition']}/{row['raw_offset']}" if topic else "",
        "record": orjson.loads(row["raw"]),
    }


def labelled_actions(store: LedgerStore, label: str, rule: str, limit: int = 20) -> list[str]:
    """The ids of the earliest actions labelled ``label`` by ``rule``, earliest first."""
    rows = store.query_rows(
        f"SELECT action_id FROM {store.database}.attributions FINAL "
        "WHERE label = {label:String} AND rule = {rule:String} "
        "ORDER BY event_time, action_id LIMIT {limit:UInt32}",
        {"label": label, "rule": rule, "limit": limit},
    )
    return [str(row["action_id"]) for row in rows]


def waiting_exchanges(store: LedgerStore) -> int:
    """How many token exchanges wait for the re-stitch window to pass them
    (``processors.federation``)."""
    rows = store.query_rows(
        f"SELECT count() AS n FROM {store.database}.web_identities FINAL "
        "WHERE role = {role:String} AND waiting",
        {"role": EXCHANGE_ROLE},
    )
    return int(rows[0]["n"])


def session_linked_by(store: LedgerStore, rule: str) -> str | None:
    """A session that an action joined by link ``rule`` (the earliest), else one that was
    merged into another by it."""
    db = store.database
    for sql in (
        f"SELECT session_id FROM {db}.actions FINAL WHERE link_rule = {{rule:String}} "
        "ORDER BY event_time, action_id LIMIT 1",
        f"SELECT alias_id AS session_id FROM {db}.session_aliases FINAL "
        "WHERE rule = {rule:String} ORDER BY alias_id LIMIT 1",
    ):
        rows = store.query_rows(sql, {"rule": rule})
        if rows:
            return str(rows[0]["session_id"])
    return None


def ledger_summary(store: LedgerStore) -> dict[str, Any]:
    db = store.database
    counts: dict[str, Any] = {
        table: store.count(table)
        for table in ("raw_events", "actions", "credentials", "dead_letters")
    }
    by_label = store.query_rows(
        f"SELECT label, count() AS n FROM {db}.attributions FINAL GROUP BY label ORDER BY label"
    )
    counts["actions_by_label"] = {r["label"]: int(r["n"]) for r in by_label}
    counts["sessions"] = store.count(
        "sessions", f"session_id NOT IN (SELECT alias_id FROM {db}.session_aliases FINAL)"
    )
    by_source = store.query_rows(
        f"SELECT source, count() AS n FROM {db}.raw_events FINAL GROUP BY source ORDER BY source"
    )
    counts["events_by_source"] = {r["source"]: int(r["n"]) for r in by_source}
    return counts


# A JSON-RPC result stored without a session that no tool call names as its outcome: it
# answers no request the ledger holds (a request logged nowhere, or not delivered yet).
_UNPAIRED = (
    "kind = 'tool_result' AND session_id = '' AND event_id NOT IN "
    "(SELECT outcome_event_id FROM {db}.actions FINAL WHERE outcome_event_id != '')"
)


def unpaired_results(
    store: LedgerStore, *, since: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The results that pair with no request, newest first (``since``: a ClickHouse time
    text, the earliest event time to list). Each keeps its source position and raw record,
    so an analyst can find the line, and a restarted stitcher can hold them again."""
    db = store.database
    where = _UNPAIRED.format(db=db)
    params: dict[str, Any] = {"limit": limit}
    if since is not None:
        where += " AND event_time >= parseDateTime64BestEffort({since:String}, 6, 'UTC')"
        params["since"] = since
    return store.query_rows(
        f"SELECT * FROM {db}.raw_events FINAL WHERE {where} "
        "ORDER BY event_time DESC, event_id LIMIT {limit:UInt32}",
        params,
    )


def unpaired_result_count(store: LedgerStore) -> int:
    """How many stored results pair with no request."""
    return store.count("raw_events", _UNPAIRED.format(db=store.database))


def stored_count(store: LedgerStore, ingest_batch: str, table: str = "raw_events") -> int:
    """Rows of ``ingest_batch`` in ``raw_events`` (or ``dead_letters``)."""
    if table not in COUNTED_TABLES:
        raise ValueError(f"{table} has no ingest_batch column")
    rows = store.query_rows(
        f"SELECT count() AS n FROM {store.database}.{table} WHERE ingest_batch = {{b:String}}",
        {"b": ingest_batch},
    )
    return int(rows[0]["n"])


def batch_rows_arrow(store: LedgerStore, table: str, ingest_batch: str) -> pa.Table | None:
    """Every row ``ingest_batch`` left in ``table`` (each version not merged away yet, so no
    ``FINAL``), as Arrow columns: a table with the batch's name by it, else the rows of the
    sessions its events were stitched into. ``None``: none, or a table with neither column."""
    columns = column_types(table)
    if "ingest_batch" in columns:
        where = "ingest_batch = {b:String}"
    elif "session_id" in columns:
        where = (
            f"session_id IN (SELECT session_id FROM {store.database}.raw_events "
            "WHERE ingest_batch = {b:String})"
        )
    else:
        return None
    return store.query_arrow(
        f"SELECT * FROM {store.database}.{table} WHERE {where}", {"b": ingest_batch}
    )


def agent_history(store: LedgerStore, limit: int = 500_000) -> list[dict[str, Any]]:
    """The latest actions of agents (session, agent, operation, access, time): what an
    agent's behavioural baseline is learnt from (``agentledger model train``)."""
    return store.query_rows(
        "SELECT session_id, agent_name, operation, resource, access, event_time "
        f"FROM {store.database}.actions FINAL WHERE agent_name != '' "
        "ORDER BY event_time DESC LIMIT {limit:UInt32}",
        {"limit": limit},
    )
