"""Access classification: whether an action reads, writes or deletes, as its source records it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kernel import events as ev
from kernel.access import access_of
from kernel.events import Event

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def _event(kind: str, operation: str, **kw: Any) -> Event:
    return Event("e1", kw.pop("source", "envoy"), kind, T0, operation, "p", "{}", **kw)


@pytest.mark.parametrize(
    ("event", "access"),
    [
        (_event(ev.API_CALL, "PATCH /v1/customers/globex"), "write"),
        (_event(ev.API_CALL, "GET /v1/customers/globex"), "read"),
        (_event(ev.API_CALL, "DELETE /v1/customers/globex"), "delete"),
        (_event(ev.API_CALL, "GetObject", attributes={"read_only": "true"}), "read"),
        (_event(ev.API_CALL, "PutObject", attributes={"read_only": "false"}), "write"),
        (_event(ev.API_CALL, "DeleteObject", attributes={"read_only": "false"}), "delete"),
        (_event(ev.API_CALL, "repo.destroy", source="github"), "delete"),
        (_event(ev.TOOL_CALL, "tools/call", resource="crm.update_customer"), "write"),
        (_event(ev.TOOL_CALL, "tools/call", resource="getOrderStatus"), "read"),
        (_event(ev.TOOL_CALL, "tools/call", resource="weather"), ""),
        (_event(ev.TOKEN_GRANT, "app.oauth2.as.token.grant.access_token"), ""),
    ],
)
def test_access_is_read_from_what_each_source_records(event: Event, access: str) -> None:
    assert access_of(event) == access
