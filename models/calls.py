"""What a call is beyond its tool's listing: the kind its statement gives a generic
executor, what counts as the same tool, and whether any listing showed it."""

from __future__ import annotations

from models import statements, text
from models.session import ToolProfile, Trail
from models.trail import Call


def statement_kind(profile: ToolProfile, call: Call, kind: str) -> str:
    """A generic executor's kind is its statement's: a SELECT reads, a DELETE deletes."""
    for key, raw in call.arguments.items():
        if isinstance(raw, str) and profile.role_of_key(key) == text.COMMAND:
            stated = statements.statement_kind(raw)
            # A SELECT reads, whether a runner or a query execution the log calls a write
            # carries it; a tool whose own verb writes keeps its kind.
            if stated == text.READ and profile.kind in (text.READ, text.EXEC):
                return text.READ
            if stated in (text.WRITE, text.DELETE) and kind != stated:
                return stated
            break
    return kind


def tool_key(call: Call) -> str:
    """What "the same tool" is: an API operation on one resource (GetItem of one table)."""
    return f"{call.tool}\0{call.resource}" if call.resource else call.tool


def unlisted(trail: Trail, call: Call) -> bool:
    """A call to a tool its server's listing did not show (or, with no server named, no
    listing of the session)."""
    listed = trail.listed.get(call.server) if call.server else None
    if listed is not None:
        return call.tool not in listed
    return bool(trail.listed_names) and call.tool not in trail.listed_names
