"""What drift scoring reads of an event: the call an action makes (tool, arguments,
resource, access) and the text an MCP result carries back to the agent."""

from __future__ import annotations

from typing import Any

import orjson

from kernel import events as ev
from kernel.events import Event
from kernel.vocabulary import ATTR_ARGUMENTS
from models.trail import Call


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
    """The JSON-RPC ``result`` object of an MCP result event (its error, as a result)."""
    if event.source != "mcp":
        return None
    try:
        outer = orjson.loads(event.raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(outer, dict):
        return None
    inner = outer.get("message")
    message: dict[str, Any] = inner if isinstance(inner, dict) else outer
    result = message.get("result")
    if isinstance(result, dict):
        return result
    error = message.get("error")
    if isinstance(error, dict):
        return {"content": [{"type": "text", "text": str(error.get("message", ""))}]}
    return None


def result_text(result: dict[str, Any]) -> str:
    """A result's text: its text content blocks, and its structured content as JSON."""
    parts = []
    content = result.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict):
                text = block.get("text")
                if isinstance(text, str):
                    parts.append(text)
                elif isinstance(block.get("resource"), dict):
                    inner = block["resource"].get("text")
                    if isinstance(inner, str):
                        parts.append(inner)
    structured = result.get("structuredContent")
    if structured is not None and not parts:
        parts.append(orjson.dumps(structured).decode())
    return "\n".join(parts)
