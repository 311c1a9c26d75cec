"""JSON-RPC requests and results held while they wait for each other (``processors.pairing``
matches them; ``processors.sessions`` keeps them in the stitch state)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kernel import events as ev
from kernel.events import Event
from kernel.vocabulary import ATTR_INTENT_SOURCE


@dataclass(slots=True)
class RpcRequest:
    """A JSON-RPC request that a result may answer (``processors.pairing``)."""

    event_id: str
    at: datetime
    session_id: str  # the session the request joined (resolve it: it may have merged since)
    row: dict[str, Any] | None  # a tool call's action row as last written; None otherwise
    result: str = ""  # event id of the result paired with it, "" while open
    own: tuple[str, str] = (ev.PENDING, "")  # its outcome and detail while unanswered
    # Its ``Mcp-Session-Id``, "" if it carried none (a stdio capture; an ``initialize``, whose
    # session the server names in its reply): results naming it pair with it first.
    mcp_session: str = ""


@dataclass(slots=True)
class RpcResult:
    """A JSON-RPC result, held while it waits for a request or may still move to a nearer one
    (its event as ``held_result`` keeps it)."""

    event: Event
    request: str = ""  # event id of the request it answers, "" while waiting
    order: tuple[datetime, str] = field(init=False)  # event time, then event id
    # Its ``Mcp-Session-Id`` (the first, if several), "" if its capture logged none.
    mcp_session: str = field(init=False)

    def __post_init__(self) -> None:
        self.event = held_result(self.event)
        self.order = (self.event.event_time, self.event.event_id)
        self.mcp_session = mcp_session_of(self.event)


def held_result(event: Event) -> Event:
    """What a result held for pairing keeps of its event: all but its record and the
    attributes that carry its text (the result's text, its tools' listing). A result may be
    held for the whole re-stitch window, and its record is most of its size; what pairing,
    a session's counts (``SessionState.add_event``) and a tool call's outcome read stays."""
    kept = event.attributes.get(ATTR_INTENT_SOURCE)
    return Event(
        event.event_id,
        event.source,
        event.kind,
        event.event_time,
        event.operation,
        event.position,
        "",
        principal=event.principal,
        principal_type=event.principal_type,
        client_id=event.client_id,
        agent_name=event.agent_name,
        agent_version=event.agent_version,
        agent_instance=event.agent_instance,
        service=event.service,
        resource=event.resource,
        outcome=event.outcome,
        outcome_detail=event.outcome_detail,
        intent=event.intent,
        scopes=event.scopes,
        keys=event.keys,
        attributes={ATTR_INTENT_SOURCE: kept} if kept is not None else None,
        source_id=event.source_id,
    )


def mcp_session_of(event: Event) -> str:
    """The event's ``Mcp-Session-Id`` (the first key of that type), "" if none."""
    for key_type, value in event.keys:
        if key_type == ev.KEY_MCP_SESSION:
            return value
    return ""


@dataclass(slots=True)
class RpcGroup:
    """Requests and results sharing one rpc key (server and JSON-RPC id): ids repeat across
    sessions, so one key can hold several requests, each answered by at most one result.

    A result whose ``Mcp-Session-Id`` some request of the group carries is *bound*: it pairs
    among that MCP session's requests only (``processors.pairing``). The others are *loose*,
    paired by time among the requests no bound result holds, and kept in order in ``loose``."""

    requests: dict[str, RpcRequest] = field(default_factory=dict)
    results: dict[str, RpcResult] = field(default_factory=dict)
    # So that an arrival walks only what it can change, not the whole group: the loose
    # results whose pairing a later request may change (waiting, or answering a request
    # after them), the requests no result answers, and the loose results in order.
    unsettled: set[str] = field(default_factory=set)
    open: set[str] = field(default_factory=set)
    loose: list[tuple[tuple[datetime, str], str]] = field(default_factory=list)
    # By ``Mcp-Session-Id``: the requests that carry it, and the results that name it.
    requests_of: dict[str, set[str]] = field(default_factory=dict)
    results_of: dict[str, set[str]] = field(default_factory=dict)

    def is_bound(self, result: RpcResult) -> bool:
        return bool(result.mcp_session) and bool(self.requests_of.get(result.mcp_session))

    def hold_result(self, result: RpcResult) -> None:
        result_id = result.event.event_id
        self.results[result_id] = result
        if result.mcp_session:
            self.results_of.setdefault(result.mcp_session, set()).add(result_id)
        if not self.is_bound(result):
            insort(self.loose, (result.order, result_id))

    def drop_result(self, result_id: str) -> None:
        result = self.results.pop(result_id)
        self._unloose(result)
        if result.mcp_session:
            named = self.results_of[result.mcp_session]
            named.discard(result_id)
            if not named:
                del self.results_of[result.mcp_session]
        self.unsettled.discard(result_id)

    def bind(self, mcp_session: str) -> list[RpcResult]:
        """The loose results naming ``mcp_session``, now bound (its first request arrived),
        taken out of ``loose``; in order."""
        bound = sorted(
            (self.results[r] for r in self.results_of.get(mcp_session, ())),
            key=lambda r: r.order,
        )
        for result in bound:
            self._unloose(result)
            self.unsettled.discard(result.event.event_id)
        return bound

    def _unloose(self, result: RpcResult) -> None:
        """Take ``result`` out of ``loose``, if it is there."""
        entry = (result.order, result.event.event_id)
        at = bisect_left(self.loose, entry)
        if at < len(self.loose) and self.loose[at] == entry:
            del self.loose[at]

    def loose_from(
        self, order: tuple[datetime, str], *, after: bool = False
    ) -> list[tuple[tuple[datetime, str], str]]:
        """The ``loose`` entries at or after ``order`` (strictly after with ``after``)."""
        loose = self.loose
        bound = (order, "\U0010ffff") if after else (order, "")
        start = bisect_right(loose, bound) if after else bisect_left(loose, bound)
        return loose[start:]

    def hold(self, request: RpcRequest) -> None:
        """Hold ``request``. The first of an ``Mcp-Session-Id`` binds the results naming it:
        its caller takes them out of ``loose`` with ``bind`` (``pairing.add_request``)."""
        self.requests[request.event_id] = request
        if not request.result:
            self.open.add(request.event_id)
        if request.mcp_session:
            self.requests_of.setdefault(request.mcp_session, set()).add(request.event_id)

    def answer(self, request: RpcRequest, result_id: str) -> None:
        """``request`` is answered by ``result_id`` now ("" for none)."""
        request.result = result_id
        if result_id:
            self.open.discard(request.event_id)
        else:
            self.open.add(request.event_id)

    def let_go(self, request_id: str) -> None:
        request = self.requests.pop(request_id)
        self.open.discard(request_id)
        carried = self.requests_of.get(request.mcp_session)
        if carried is not None:
            carried.discard(request_id)
            if not carried:  # its results are loose again, their pairing open to change
                del self.requests_of[request.mcp_session]
                for result_id in self.results_of.get(request.mcp_session, ()):
                    insort(self.loose, (self.results[result_id].order, result_id))
                    self.unsettled.add(result_id)


def rpc_key_of(event: Event) -> str | None:
    """The key that pairs a JSON-RPC result with its request: server (or session) and id."""
    for key_type, value in event.keys:
        if key_type == ev.KEY_MCP_RPC:
            return value
    return None
