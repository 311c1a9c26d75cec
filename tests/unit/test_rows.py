"""Each row builder writes exactly the columns of its table in ``ledger.schema``."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dashboards.drift import LATEST
from kernel import events as ev
from kernel.codec import Envelope
from kernel.contraction import HALT, Contraction
from kernel.declaration import parse_declaration
from kernel.events import Event
from ledger import drift_rows, rows
from ledger.schema import (
    ADDED_COLUMNS,
    ADDED_INDEXES,
    ADDED_PROJECTIONS,
    FEWER_MERGES,
    TABLES,
    column_types,
    ddl,
    merge_settings,
)
from models.trail import DriftScore
from processors.stitch import Stitcher
from tests import scenarios

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
# Columns the writer leaves to their DEFAULT: the ledger sets them as a row is stored.
WRITER_LEAVES: dict[str, set[str]] = {"raw_events": {"stored_at"}}
# Tables written by other parts of the ledger than the stitcher (the Shared Signals outbox:
# tests/unit/test_ssf_delivery.py checks its rows; the digests of the tamper evidence:
# tests/unit/test_evidence.py).
NOT_STITCHED = {"dead_letters", "ssf_sets", "evidence_digests"}
SCORED = {"drift", "contractions"}  # written by the scoring stage (processors.scoring)

_COLUMN = re.compile(r"^\s*(\w+)\s+(.*?),?\s*$")


def schema_columns(table: str) -> list[str]:
    """The column names of ``table``, in order, from its CREATE TABLE statement."""
    body = TABLES[table].split("(", 1)[1].rsplit(") ENGINE", 1)[0]
    columns = []
    for line in body.strip().splitlines():
        match = _COLUMN.match(line)
        assert match is not None, line
        name, definition = match.groups()
        if name in ("INDEX", "PROJECTION"):
            continue
        if name in WRITER_LEAVES.get(table, set()):
            assert "DEFAULT" in definition, f"{table}.{name} has no DEFAULT to fall back on"
            continue
        columns.append(name)
    return columns


def test_the_schema_parser_reads_every_column() -> None:
    assert schema_columns("session_keys") == [
        "key_type",
        "key_value",
        "session_id",
        "first_seen",
        "event_id",
        "version",
    ]
    assert "stored_at" not in schema_columns("raw_events")
    assert "idx_session" not in schema_columns("actions")


@dataclass
class _Link:
    session_id: str = "s-1"
    key_type: str = ev.KEY_JTI
    key_value: str = "AT.1"
    rule: str = "shared_key"


@dataclass
class _Label:
    label: str = "agent_delegated"
    rule: str = "intent_covers"
    agent: str = "support-agent"
    origin_type: str = "human"
    origin_principal: str = "alice@acme.example"
    confused_deputy: bool = False
    evidence: tuple[dict[str, str], ...] = ({"fact": "link", "detail": "linked"},)


def _event(kind: str = ev.TOOL_CALL, **kw: Any) -> Event:
    return Event("e1", "mcp", kind, T0, "tools/call", "mcp.jsonl:1", "{}", **kw)


def _declaration() -> Any:
    return parse_declaration(
        {
            "agent": {"id": "support-agent"},
            "origin": {"type": "human", "principal": "alice@acme.example"},
            "intent": {"text": "fix the address"},
            "bindings": {"token_jti": "AT.1"},
        }
    )


_IDENTITY = ("acme.okta.example/oauth2/aus1crm", "0oa1agentclient", "api://crm")


def _built() -> dict[str, list[dict[str, Any]]]:
    """Rows of each stitched table, from its builder (every builder of a table)."""
    action = rows.action_row(_event(), _Link(), "write", ("agent",), 1, "rpc-1")
    return {
        "raw_events": [rows.raw_event_row(Envelope(_event(), T0, "b1", ("raw", 0, 1)), "s-1")],
        "actions": [
            action,
            rows.action_row(_event(), _Link(), "", (), 1, "rpc-1", ("success", "", "e2")),
            rows.answered_action(action, ("success", "", "e2"), 2),
        ],
        "sessions": [rows.SessionRow("s-1", T0, T0).row(1)],
        "session_keys": [rows.session_key_row(ev.KEY_JTI, "AT.1", "s-1", T0, "e1", 1)],
        "session_aliases": [
            rows.session_alias_row("s-2", "s-1", "merge_shared_key", ev.KEY_JTI, "AT.1", "e1", 1)
        ],
        "credentials": [rows.credential_row(_event(ev.TOKEN_GRANT), "s-1", 1)],
        "declarations": [rows.declaration_row(_declaration(), 1)],
        "web_identities": [
            rows.held_token_row(_IDENTITY, "AT.1", "s-1", T0, T0 + timedelta(hours=1), 1),
            rows.exchange_row(_IDENTITY, "e2", "s-2", T0, True, 1),
        ],
        "attributions": [
            rows.attribution_row(
                _Label(), "e1", "s-1", T0, [{"kind": "agent", "id": "support-agent"}], 1
            )
        ],
    }


def _scored() -> dict[str, list[dict[str, Any]]]:
    score = DriftScore(0.91, True, ("send_mail not declared",), "drift-test", True)
    contraction = Contraction(
        "s-1",
        "support-agent",
        "e1",
        HALT,
        0.91,
        "drift-test",
        T0,
        T0,
        removed_tools=("send_mail",),
        keys=(("jti", "AT.1"),),
    )
    return {
        "drift": [
            drift_rows.drift_row(
                score,
                action_id="e1",
                session_id="s-1",
                event_time=T0,
                agent="support-agent",
                tool="send_mail",
                decision=HALT,
                policy_rule="defaults",
                contraction_id=contraction.contraction_id,
                scored_at=T0,
                version=1,
            )
        ],
        "contractions": [drift_rows.contraction_row(contraction)],
    }


def test_the_stitcher_writes_every_table_but_those_others_write() -> None:
    stitched = {table for table, _ in rows.StitchOutput().tables()}
    assert stitched == set(TABLES) - NOT_STITCHED - SCORED
    assert set(_built()) == stitched
    assert {table for table, _ in drift_rows.DriftOutput().tables()} == SCORED == set(_scored())


@pytest.mark.parametrize("table", sorted(set(TABLES) - NOT_STITCHED))
def test_each_builder_writes_exactly_its_tables_columns(table: str) -> None:
    for row in {**_built(), **_scored()}[table]:
        assert list(row) == schema_columns(table)


def test_a_session_row_s_fields_are_the_sessions_columns_and_read_back_the_same() -> None:
    assert [f.name for f in fields(rows.SessionRow)] + ["version"] == schema_columns("sessions")
    session = rows.SessionRow(
        "s-1",
        T0,
        T0,
        principal="alice@acme.example",
        scopes=["crm.read"],
        event_count=3,
        declared=True,
        intent_tools=["crm.*"],
    )
    stored = session.row(7)
    back = rows.SessionRow.from_row(stored, lambda text: datetime.fromisoformat(text + "+00:00"))
    assert back == session
    # A ledger created before a column was added has no value for it: the default stands.
    older = {k: v for k, v in stored.items() if k not in {"declared", "intent_tools"}}
    back = rows.SessionRow.from_row(older, lambda text: datetime.fromisoformat(text + "+00:00"))
    assert (back.declared, back.intent_tools, back.scopes) == (False, [], ["crm.read"])


def test_rows_the_stitcher_writes_have_exactly_their_tables_columns() -> None:
    stitcher = Stitcher()
    written: dict[str, list[dict[str, Any]]] = {}
    items = scenarios.all_scenarios()
    envelopes = [env for s in items for env in scenarios.parse(s)]
    outputs = [stitcher.process(envelopes)]
    # Declared after their events: the sessions those started merge into the declared ones.
    outputs += [stitcher.declare(parse_declaration(d)) for s in items for d in s.declarations]
    for out in outputs:
        for table, table_rows in out.tables():
            written.setdefault(table, []).extend(table_rows)
    assert {table for table, found in written.items() if found} == (
        set(TABLES) - NOT_STITCHED - SCORED
    )
    for table, table_rows in written.items():
        for row in table_rows:
            assert list(row) == schema_columns(table), table


def test_a_column_added_in_place_is_defined_as_in_its_create_table() -> None:
    # A ledger gains the column in place or has it from CREATE TABLE: the same either way.
    for table, columns in ADDED_COLUMNS.items():
        created = " ".join(TABLES[table].split())
        for column in columns:
            definition = column.split(" AFTER ", 1)[0]
            assert f" {definition}," in created or f" {definition} )" in created, column
    for table, indexes in ADDED_INDEXES.items():
        created = " ".join(TABLES[table].split())
        assert all(f"INDEX {index}" in created for index in indexes)
    for table, projections in ADDED_PROJECTIONS.items():
        created = " ".join(TABLES[table].split())
        for setting, projection in projections:
            assert f"PROJECTION {projection}" in created and f"SETTINGS {setting}" in created
    statements = ddl("db")
    position = statements.index(
        "ALTER TABLE db.actions MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'"
    )
    assert statements[position + 1] == (
        "ALTER TABLE db.actions ADD PROJECTION IF NOT EXISTS "
        "by_session (SELECT session_id, action_id ORDER BY session_id)"
    )
    assert (
        "ALTER TABLE db.actions ADD INDEX IF NOT EXISTS "
        "idx_source_id source_id TYPE bloom_filter GRANULARITY 4"
    ) in statements


def test_the_source_id_reaches_the_raw_event_and_the_action_and_stays_when_answered() -> None:
    event = _event(source_id="crm-mcp#7")
    raw = rows.raw_event_row(Envelope(event, T0, "b1", ("raw", 0, 1)), "s-1")
    assert raw["source_id"] == "crm-mcp#7"
    call = rows.action_row(event, _Link(), "write", (), 1, "crm-mcp:7")
    assert call["source_id"] == "crm-mcp#7"
    # The result's own record is found by its event id (outcome_event_id) in raw_events.
    answered = rows.answered_action(call, ("success", "", "e2"), 2)
    assert (answered["source_id"], answered["outcome_event_id"]) == ("crm-mcp#7", "e2")
    assert rows.action_row(_event(), _Link(), "", (), 1)["source_id"] == ""


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 20, 9, 1, 58, 821000, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no fraction: six zeros all the same
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # a year of three digits
        datetime(2026, 6, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=-7))),  # not UTC
    ],
)
def test_clickhouse_time_text_is_isoformat_in_utc_to_the_microsecond(value: datetime) -> None:
    expected = value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]
    assert ev.ch_ts(value) == expected
    assert len(ev.ch_ts(value)) == 26


def test_fewer_merges_only_where_the_engine_has_the_setting() -> None:
    assert merge_settings("db", known=False) == []
    assert merge_settings("db", known=True) == [
        f"ALTER TABLE db.{table} MODIFY SETTING merge_selector_base = 20" for table in FEWER_MERGES
    ]
    assert set(FEWER_MERGES) == {"drift", "chain_by_session"}


def test_drift_s_time_projection_holds_what_the_drift_overview_reads_by_time() -> None:
    # A range query the projection cannot answer whole reads the table ordered by action id.
    created = " ".join(TABLES["drift"].split())
    projection = created.split("PROJECTION by_time (SELECT ", 1)[1].split(" ORDER BY", 1)[0]
    kept = {c.strip() for c in projection.split(",")}
    columns = set(column_types("drift"))
    read = {c for c in columns if re.search(rf"\b{c}\b", LATEST)}
    assert kept <= columns and read <= kept
    assert "reasons" not in kept  # the widest column, read by action and never by a range
