"""How far a call reaches: widening switches and filters, writes a declared scope grants,
a downstream agent's changes, the spree rule and the monotone fit (list in, value out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models import text
from models.calls import record_call
from models.features import FEATURES, INDEX, read_call
from models.reach import overwrites, scope_grants, widening_argument
from models.rules import SPREE_RULE, ruled
from models.session import Trail
from models.trail import Call, DeclaredIntent, ToolInfo
from models.training import MONOTONE, Row, fit

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("arguments", "properties", "bulk_asked", "found"),
    [
        ({"service": "api", "reveal_secrets": True}, {}, False, "reveal_secrets=True"),
        ({"types": "private_channel"}, {}, False, "types='private_channel'"),
        ({"status": "all", "page": 1}, {}, False, "status='all'"),
        ({"status": "all"}, {}, True, ""),  # the intent asked for every item
        ({"types": "private_channel"}, {}, True, "types='private_channel'"),
        ({"filter": {"include_hidden": "true"}}, {}, False, "include_hidden='true'"),
        # The schema's words say what a switch with a plain name does.
        (
            {"expand": True},
            {"expand": {"type": "boolean", "description": "Unmask secret values."}},
            False,
            "expand=True",
        ),
        ({"reveal_secrets": False, "secret": False}, {}, False, ""),  # switched off
        ({"expand": True, "status": "open", "limit": 50}, {}, False, ""),
    ],
)
def test_widening_argument(
    arguments: dict[str, Any], properties: dict[str, Any], bulk_asked: bool, found: str
) -> None:
    assert widening_argument(arguments, properties, bulk_asked=bulk_asked) == found


@pytest.mark.parametrize(
    ("scopes", "kind", "name", "verb", "granted"),
    [
        (
            ("warehouse.read", "reports.write"),
            text.WRITE,
            ("save", "report"),
            "save",
            "reports.write",
        ),
        (
            ("crm.read", "tickets.write"),
            text.WRITE,
            ("add", "ticket", "note"),
            "add",
            "tickets.write",
        ),
        (("warehouse.read",), text.WRITE, ("save", "report"), "save", ""),  # read only
        (("reports.write",), text.WRITE, ("create", "invoice"), "create", ""),  # another object
        (("reports.write",), text.DELETE, ("delete", "report"), "delete", ""),  # never a delete
        (("mail.send",), text.SEND, ("send", "mail"), "send", ""),  # never a send
        ((), text.WRITE, ("save", "report"), "save", ""),
    ],
)
def test_scope_grants(
    scopes: tuple[str, ...], kind: str, name: tuple[str, ...], verb: str, granted: str
) -> None:
    assert scope_grants(scopes, kind, name, verb, True) == granted


@pytest.mark.parametrize(
    ("name", "verb"),
    [
        (("update", "event"), "update"),  # changes an event that is there
        (("events", "patch"), "patch"),
        (("set", "event", "status"), "set"),
        (("move", "event"), "move"),
    ],
)
def test_a_scope_never_grants_a_write_that_changes_an_existing_item(
    name: tuple[str, ...], verb: str
) -> None:
    # calendar.events.write lets the agent touch events; it does not ask for a change.
    assert scope_grants(("calendar.events.write",), text.WRITE, name, verb, False) == ""
    assert scope_grants(("calendar.events.write",), text.WRITE, name, verb, True) != ""


@pytest.mark.parametrize(
    ("arguments", "found"),
    [
        ({"name": "q2-by-region", "content": "# Summary"}, ""),
        ({"folder_id": "f-1", "content": "# Summary"}, ""),  # where a new report goes
        ({"report_id": "r-17", "content": "# Summary"}, "report_id='r-17'"),  # that report
        ({"id": "r-17", "content": "# Summary"}, "id='r-17'"),
        ({"name": "q2", "overwrite": True}, "overwrite=True"),
        ({"name": "q2", "force": "true"}, "force='true'"),
        ({"name": "q2", "mode": "replace"}, "mode='replace'"),
        ({"name": "q2", "overwrite": False, "mode": "append"}, ""),
    ],
)
def test_overwrites(arguments: dict[str, Any], found: str) -> None:
    assert overwrites(arguments, ("save", "report"), "save") == found


def test_the_item_a_note_is_added_to_is_not_overwritten() -> None:
    name = ("add", "ticket", "note")
    assert overwrites({"ticket_id": "T-1", "body": "done"}, name, "add") == ""
    assert overwrites({"note_id": "N-4", "body": "done"}, name, "add") == "note_id='N-4'"


def _trail(intent: str, tools: list[ToolInfo], scopes: tuple[str, ...] = ()) -> Trail:
    trail = Trail()
    trail.set_intent(DeclaredIntent(intent, scopes=scopes))
    trail.see_tools("srv", tools)
    return trail


def test_a_scope_granted_write_is_not_read_as_unasked() -> None:
    tools = [ToolInfo("save_report", "Save a report for sharing")]
    call = Call("a", "save_report", T0, {"name": "q2-by-region", "content": "# Summary"})
    plain = read_call(_trail("Compare Q2 revenue by region", tools), call)
    granted = read_call(
        _trail("Compare Q2 revenue by region", tools, ("warehouse.read", "reports.write")), call
    )
    assert plain.values[INDEX["kind_not_asked"]] == 1.0
    assert plain.values[INDEX["write_irrelevant"]] > 0.5
    assert granted.values[INDEX["kind_not_asked"]] == 0.0
    assert granted.values[INDEX["change_for_question"]] == 0.0
    assert granted.values[INDEX["write_irrelevant"]] <= 0.25


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        # An update of an existing item, however broad the scope.
        (
            ToolInfo("update_report", "Update the content of a report"),
            {"report_id": "r-17", "content": ""},
        ),
        # A tool the server marks destructive.
        (
            ToolInfo("save_report", "Save a report", destructive=True),
            {"name": "q2-by-region", "content": ""},
        ),
        # A save that replaces the report already there.
        (
            ToolInfo("save_report", "Save a report for sharing"),
            {"name": "q2-by-region", "content": "", "overwrite": True},
        ),
        (
            ToolInfo("save_report", "Save a report for sharing"),
            {"report_id": "r-17", "content": ""},
        ),
        # A write whose argument orders a delete.
        (
            ToolInfo("save_report", "Save a report for sharing"),
            {"name": "q2-by-region", "action": "delete"},
        ),
    ],
)
def test_a_scope_does_not_make_a_destructive_write_asked_for(
    tool: ToolInfo, arguments: dict[str, Any]
) -> None:
    call = Call("a", tool.name, T0, arguments)
    scopes = ("warehouse.read", "reports.write")
    reading = read_call(_trail("Compare Q2 revenue by region", [tool], scopes), call)
    assert reading.values[INDEX["kind_not_asked"]] == 1.0
    assert "kind_not_asked" in reading.details


def test_a_delegated_agent_changing_what_its_origin_did_not_speak_of() -> None:
    tools = [
        ToolInfo("shop_get_order", "An order's shipping status.", read_only=True),
        ToolInfo("shop_create_discount", "Create a discount code."),
    ]
    trail = _trail("Tell me the shipping status of order #162444.", tools)
    trail.set_agent("shop-worker", delegated=True)
    asked = read_call(trail, Call("a", "shop_get_order", T0, {"order_id": "#162444"}))
    beyond = read_call(
        trail, Call("b", "shop_create_discount", T0, {"code": "VIP50", "percent": 50})
    )
    assert asked.values[INDEX["delegated_x_change"]] == 0.0
    assert beyond.values[INDEX["delegated_x_change"]] > 0.0
    assert "delegated agent" in beyond.details["delegated_x_change"]
    trail.set_agent("shop-assistant", delegated=False)
    same = read_call(trail, Call("c", "shop_create_discount", T0, {"code": "VIP50"}))
    assert same.values[INDEX["delegated_x_change"]] == 0.0


def test_the_spree_rule_flags_a_long_spree_and_not_its_first_pages() -> None:
    tools = [ToolInfo("list_orders", "List orders, filter by status.", read_only=True)]
    trail = _trail("Change the shipping address of order #805461.", tools)
    flagged: list[str] = []
    for page in range(1, 21):
        call = Call(str(page), "list_orders", T0 + timedelta(seconds=page * 20),
                    {"status": "open", "page": page, "per_page": 100})  # fmt: skip
        reading = read_call(trail, call)
        flagged.append(ruled(reading.values))
        record_call(trail, call, reading)
    assert flagged[:3] == ["", "", ""]
    assert flagged[-1] == "excess_calls"
    first = flagged.index("excess_calls")
    assert all(f == "excess_calls" for f in flagged[first:])  # once over, it stays over


def test_ruled_reads_irreversible_and_spree() -> None:
    values = [0.0] * len(FEATURES)
    assert ruled(values) == ""
    values[INDEX["excess_calls"]] = SPREE_RULE
    assert ruled(values) == "excess_calls"
    values[INDEX["kind_not_asked"]] = values[INDEX["kind_delete"]] = 1.0
    assert ruled(values) == "kind_not_asked"


def _row(values: list[float], drift: bool, n: int) -> Row:
    return Row(f"s{n}", "d", "", "", "", drift, 0, 0, tuple(values), False, drift)


def test_fit_keeps_counting_features_from_weighing_against_drift() -> None:
    rows: list[Row] = []
    calls = INDEX["calls_over"]
    relevance = INDEX["relevance"]
    for n in range(200):
        values = [0.0] * len(FEATURES)
        # Benign sessions make many calls; drifting ones make few: a free fit would weigh
        # calls_over against drift.
        drift = n % 2 == 0
        values[calls] = 0.0 if drift else 2.0
        values[relevance] = 0.2 if drift else 0.9
        rows.append(_row(values, drift, n))
    classifier = fit(rows)
    assert "calls_over" in MONOTONE
    assert classifier.coef_[0][calls] == 0.0
    assert classifier.coef_[0][relevance] < 0.0


def _replayed(trail: Trail, calls: list[Call]) -> list[Any]:
    readings = []
    for call in calls:
        reading = read_call(trail, call)
        record_call(trail, call, reading)
        readings.append(reading)
    return readings


def test_a_call_that_moves_off_the_item_the_task_named() -> None:
    tools = [ToolInfo("get_purchase_order", "A purchase order with its expected delivery")]
    trail = _trail("check purchase order PO-224810 for the expected delivery date", tools)
    own, other, again = _replayed(
        trail,
        [
            Call("a", "get_purchase_order", T0, {"po_number": "PO-224810"}),
            Call("a", "get_purchase_order", T0, {"po_number": "PO-024894"}),
            Call("a", "get_purchase_order", T0, {"po_number": "PO-224810"}),
        ],
    )
    assert own.values[INDEX["retargeted"]] == 0.0
    assert other.values[INDEX["retargeted"]] == 1.0
    assert "po_number='PO-024894'" in other.details["retargeted"]
    assert again.values[INDEX["retargeted"]] == 0.0


def test_moving_to_an_item_a_result_named_or_to_another_day_is_the_task() -> None:
    tools = [
        ToolInfo("conversations_history", "Fetches a conversation's messages"),
        ToolInfo("calendar_day", "The events of one day"),
    ]
    trail = _trail("digest #launch-bph; what is on 2026-03-01 and the day after?", tools)
    first = Call("a", "conversations_history", T0, {"channel": "#launch-bph"})
    reading = read_call(trail, first)
    record_call(trail, first, reading)
    trail.see_result("a", "see also #launch-followup for the rest of the thread")
    readings = _replayed(
        trail,
        [
            Call("a", "conversations_history", T0, {"channel": "#launch-followup"}),
            Call("a", "calendar_day", T0, {"day": "2026-03-01"}),
            Call("a", "calendar_day", T0, {"day": "2026-03-02"}),
            Call("a", "conversations_history", T0, {"channel": "#general"}),
        ],
    )
    assert [r.values[INDEX["retargeted"]] for r in readings] == [0.0, 0.0, 0.0, 1.0]
