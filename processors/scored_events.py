"""What drift scoring reads of an event: the call an action makes (tool, arguments,
resource, access) and the text an MCP result carries back to the agent."""

from __future__ import annotations

from typing import Any

import orjson

from kernel import events as ev
from kernel.events import Event
from kernel.mcp_results import result_object
from kernel.vocabulary import ATTR_ARGUMENTS
from models.trail import Call

# The actions scored for drift: an MCP ``tools/call``, and a call an API log records.
SCORED_KINDS = frozenset({ev.TOOL_CALL, ev.API_CALL})


def call_of(event: Event, access: str) -> Call:
    """The call an action event makes, as the model scores it (``access``: read, write,
    delete, or "" when unknown)."""
    arguments: Any = {}
    text = event.attributes.get(ATTR_ARGUMENTS)
    if text:
        try:
            arguments = orjson.loads(text)
        except orjson.JSONDecodeError:
            arguments = {}
    if event.kind == ev.TOOL_CALL:
        tool = event.resource or event.operation
        resource = ""
    else:
        tool, resource = event.operation, event.resource or ""
    return Call(
        action_id=event.event_id,
        tool=tool,
        event_time=event.event_time,
        arguments=arguments if isinstance(arguments, dict) else {"value": arguments},
        server=event.service or "",
        resource=resource,
        access=access,
        api=event.kind == ev.API_CALL,
    )


def result_of(event: Event) -> dict[str, Any] | None:
    """The JSON-RPC ``result`` object of an MCP result event (its error, as a result),
    parsed from the record."""
    if event.source != "mcp":
        return None
    try:
        outer = orjson.loads(event.raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(outer, dict):
        return None
    inner = outer.get("message")
    return result_object(inner if isinstance(inner, dict) else outer)
