"""JSON-RPC requests and results held while they wait for each other (``processors.pairing``
matches them; ``processors.sessions`` keeps them in the stitch state)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kernel import events as ev
from kernel.events import Event


@dataclass(slots=True)
class RpcRequest:
    """A JSON-RPC request that a result may answer (``processors.pairing``)."""

    event_id: str
    at: datetime
    session_id: str  # the session the request joined (resolve it: it may have merged since)
    row: dict[str, Any] | None  # a tool call's action row as last written; None otherwise
    result: str = ""  # event id of the result paired with it, "" while open
    own: tuple[str, str] = (ev.PENDING, "")  # its outcome and detail while unanswered


@dataclass(slots=True)
class RpcResult:
    """A JSON-RPC result, held while it waits for a request or may still move to a nearer one."""

    event: Event
    request: str = ""  # event id of the request it answers, "" while waiting
    order: tuple[datetime, str] = field(init=False)  # event time, then event id
    # Its ``Mcp-Session-Id`` keys, which name the session it belongs to (pairing asks often).
    session_keys: tuple[tuple[str, str], ...] = field(init=False)

    def __post_init__(self) -> None:
        self.order = (self.event.event_time, self.event.event_id)
        self.session_keys = tuple(k for k in self.event.keys if k[0] == ev.KEY_MCP_SESSION)


@dataclass(slots=True)
class RpcGroup:
    """Requests and results sharing one rpc key (server and JSON-RPC id): ids repeat across
    sessions, so one key can hold several requests, each answered by at most one result."""

    requests: dict[str, RpcRequest] = field(default_factory=dict)
    results: dict[str, RpcResult] = field(default_factory=dict)
    # So that an arrival walks only what it can change, not the whole group: the results
    # whose pairing a later request may change (waiting, answering a request after them or
    # outside the session their header names, or naming a session not known yet), the
    # requests no result answers, and the results in order.
    unsettled: set[str] = field(default_factory=set)
    open: set[str] = field(default_factory=set)
    ordered: list[tuple[tuple[datetime, str], str]] = field(default_factory=list)

    def hold_result(self, result: RpcResult) -> None:
        result_id = result.event.event_id
        self.results[result_id] = result
        insort(self.ordered, (result.order, result_id))

    def drop_result(self, result_id: str) -> None:
        entry = (self.results.pop(result_id).order, result_id)
        del self.ordered[bisect_left(self.ordered, entry)]
        self.unsettled.discard(result_id)

    def results_from(self, order: tuple[datetime, str], *, after: bool = False) -> list[RpcResult]:
        """The results at or after ``order`` (strictly after with ``after``), in order."""
        results = self.results
        return [results[result_id] for _, result_id in self.entries_from(order, after=after)]

    def entries_from(
        self, order: tuple[datetime, str], *, after: bool = False
    ) -> list[tuple[tuple[datetime, str], str]]:
        """The ``ordered`` entries (order, result id) at or after ``order`` (strictly after
        with ``after``)."""
        ordered = self.ordered
        bound = (order, "\U0010ffff") if after else (order, "")
        start = bisect_right(ordered, bound) if after else bisect_left(ordered, bound)
        return ordered[start:]

    def hold(self, request: RpcRequest) -> None:
        self.requests[request.event_id] = request
        if not request.result:
            self.open.add(request.event_id)

    def answer(self, request: RpcRequest, result_id: str) -> None:
        """``request`` is answered by ``result_id`` now ("" for none)."""
        request.result = result_id
        if result_id:
            self.open.discard(request.event_id)
        else:
            self.open.add(request.event_id)

    def let_go(self, request_id: str) -> None:
        del self.requests[request_id]
        self.open.discard(request_id)


def rpc_key_of(event: Event) -> str | None:
    """The key that pairs a JSON-RPC result with its request: server (or session) and id."""
    for key_type, value in event.keys:
        if key_type == ev.KEY_MCP_RPC:
            return value
    return None
