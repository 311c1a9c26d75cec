"""Access classification: whether an action reads, writes or deletes its resource.

Attribution checks it against a declared intent's ``actions``; drift scoring weighs it. It is
read from what each source records: CloudTrail's ``readOnly``, an HTTP method, or the verbs of
an operation or tool name (``get_order`` reads, ``crm.update_customer`` writes).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from kernel import events as ev
from kernel.events import Event
from kernel.vocabulary import ATTR_READ_ONLY

# Protocol steps (initialize, tools/list) change nothing: any instruction covers them.
PROTOCOL_KINDS: Final = frozenset({ev.MCP_MESSAGE, ev.IDENTITY, ev.TOKEN_GRANT})

READ, WRITE, DELETE = ev.READ, ev.WRITE, ev.DELETE


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_READ_VERBS = _words(
    "get list read search fetch query describe find lookup view show count head "
    "download export select check status retrieve browse inspect"
)
_DELETE_VERBS = _words("delete remove drop destroy purge erase revoke terminate")
_WRITE_VERBS = _words(
    "create update write set put post send insert add modify edit patch upload "
    "move rename execute run invoke apply change assign grant merge close open "
    "publish transfer pay refund cancel approve deploy push commit replace upsert"
)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_HTTP_ACCESS = {
    "GET": READ,
    "HEAD": READ,
    "OPTIONS": READ,
    "POST": WRITE,
    "PUT": WRITE,
    "PATCH": WRITE,
    "DELETE": DELETE,
}


@lru_cache(maxsize=16_384)
def access_by_name(name: str) -> str:
    """Read, write or delete from the verbs of an operation or tool name ("" if none)."""
    for word in _WORD.findall(name):
        verb = word.lower()
        if verb in _DELETE_VERBS:
            return DELETE
        if verb in _READ_VERBS:
            return READ
        if verb in _WRITE_VERBS:
            return WRITE
    return ""


def access_of(event: Event) -> str:
    """What the action does to its resource, from what its source records.

    CloudTrail says ``readOnly``; an HTTP log has the method; a tool or API name is read
    for its verb (``get_order`` reads, ``crm.update_customer`` writes). Sign-ins, token
    grants and MCP protocol messages have no access class.
    """
    if event.kind in PROTOCOL_KINDS:
        return ""
    if event.kind == ev.TOOL_CALL:
        return access_by_name(event.resource or "")
    read_only = event.attributes.get(ATTR_READ_ONLY)
    by_name = access_by_name(event.operation)
    if read_only == "true":
        return READ
    if read_only == "false":
        return DELETE if by_name == DELETE else WRITE
    method = event.operation.partition(" ")[0]
    if method in _HTTP_ACCESS and " " in event.operation:
        return _HTTP_ACCESS[method]
    return by_name
