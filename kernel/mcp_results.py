"""What an MCP result carries back to the agent, read the same way wherever it is read: by
the MCP source when it normalizes a capture (``ATTR_RESULT_TEXT``, ``ATTR_TOOLS_DIGEST``),
by the drift stage when an event came without them, and by the gateway's inline scorer."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson


def result_object(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON-RPC ``result`` object of a response, its error as a result (the error's
    message as text), or ``None`` when it has neither."""
    result = message.get("result")
    if isinstance(result, dict):
        return result
    error = message.get("error")
    if isinstance(error, dict):
        return {"content": [{"type": "text", "text": str(error.get("message", ""))}]}
    return None


def is_listing(result: Mapping[str, Any]) -> bool:
    """A ``tools/list`` answer: a catalogue the scorer reads as tools, not as text."""
    return isinstance(result.get("tools"), list)


def catalogue_digest(tools: list[Any]) -> str:
    """A ``tools/list`` answer's tools, named by their content (sorted keys): a server
    gives every session the same catalogue, which a reader then reads once."""
    canonical = orjson.dumps(tools, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def result_text(result: Mapping[str, Any]) -> str:
    """A result's text, where injected instructions arrive: its text content blocks (an
    embedded resource's text among them), or its structured content as JSON when it has no
    text."""
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
