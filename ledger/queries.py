"""What analysts ask the ledger: sessions, and one session's chain with the reasons behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentledger.errors import LedgerError
from ledger.store import LedgerStore


class SessionNotFound(LedgerError):
    pass


@dataclass(slots=True)
class Chain:
    """A session and everything linked to it, ordered by time."""

    session: dict[str, Any]
    aliases: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    credentials: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "merged_sessions": self.aliases,
            "credentials": self.credentials,
            "actions": self.actions,
        }


def list_sessions(store: LedgerStore, limit: int = 50) -> list[dict[str, Any]]:
    db = store.database
    return store.query_rows(
        "SELECT session_id, first_seen, last_seen, principal, origin_type, origin_principal, "
        "agent_name, agent_version, agent_instance, intent, sources, event_count, "
        f"action_count, failure_count FROM {db}.sessions FINAL "
        "WHERE session_id NOT IN (SELECT alias_id FROM "
        f"{db}.session_aliases FINAL) "
        "ORDER BY last_seen DESC, session_id LIMIT {limit:UInt32}",
        {"limit": limit},
    )


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
    actions = store.query_rows(
        f"SELECT * EXCEPT (version) FROM {db}.actions FINAL "
        "WHERE session_id IN {ids:Array(String)} ORDER BY event_time, action_id",
        {"ids": members},
    )
    credentials = store.query_rows(
        f"SELECT * EXCEPT (version) FROM {db}.credentials FINAL "
        "WHERE session_id IN {ids:Array(String)} ORDER BY issued_at",
        {"ids": members},
    )
    return Chain(sessions[0], aliases, actions, credentials)


def ledger_summary(store: LedgerStore) -> dict[str, Any]:
    db = store.database
    counts: dict[str, Any] = {
        table: store.count(table)
        for table in ("raw_events", "actions", "credentials", "dead_letters")
    }
    counts["sessions"] = store.count(
        "sessions", f"session_id NOT IN (SELECT alias_id FROM {db}.session_aliases FINAL)"
    )
    by_source = store.query_rows(
        f"SELECT source, count() AS n FROM {db}.raw_events FINAL GROUP BY source ORDER BY source"
    )
    counts["events_by_source"] = {r["source"]: int(r["n"]) for r in by_source}
    return counts
