"""The MCP gateway: an enforcement point that sees each call before it runs.

It serves MCP over Streamable HTTP to agents at ``/mcp`` and passes their requests on to the
upstream server (``enforce.gateway_upstream``), one upstream session per client connection.
On the way it

- records every message, both ways, into the ledger's MCP source (``gateway_record``);
- binds each connection to its ledger session by the keys it shows (``gateway_state``);
- applies the contractions of ``ledger.contractions`` as they arrive: removed tools vanish
  from ``tools/list`` (the client is sent ``notifications/tools/list_changed``) and their
  calls are refused; after ``halt`` or ``revoke`` every call is refused;
- with a scorer (``--inline``), scores each ``tools/call`` first and refuses a drifting one
  before the upstream server sees it.

Built on the SDK's low-level ``Server`` and its Streamable HTTP session manager; the proxy
itself is one server middleware, which sees each request with its raw params before the
SDK's own handlers would, and answers it. It speaks the initialize handshake (protocol
2025-11-25 and before, where the transport keeps an ``Mcp-Session-Id``); a client of the
2026-07-28 single-exchange protocol is told the method is not found and falls back to it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import mcp_types as types
import orjson
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from mcp_types.version import (
    HANDSHAKE_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    MODERN_PROTOCOL_VERSIONS,
)

from enforce.gateway_feeds import consume, on_contraction_bytes, on_declaration_bytes
from enforce.gateway_inline import InlineTrail
from enforce.gateway_record import (
    CLIENT_TO_SERVER,
    SERVER_TO_CLIENT,
    Recorder,
    captured_headers,
    envelope,
)
from enforce.gateway_state import (
    Enforcement,
    KeyedBook,
    Refusal,
    binding_keys,
    drift_refusal,
)
from enforce.gateway_upstream import Upstream, UpstreamSpec
from kernel.contraction import Contraction
from kernel.declaration import SessionDeclaration
from kernel.kafka import BatchSender, ensure_topics
from kernel.kafka import producer as make_producer
from kernel.topics import Topics

if TYPE_CHECKING:
    from kernel.config import Settings
    from models.trail import Scorer

log = logging.getLogger(__name__)

_STATE_KEY = "agentledger.gateway"


@dataclass(slots=True)
class ClientConnection:
    """One agent's connection to the gateway."""

    session_id: str | None
    server_session: ServerSession
    headers: dict[str, str] = field(default_factory=dict)  # captured, for the records
    enforcement: Enforcement = field(default_factory=Enforcement)
    upstream: Upstream | None = None
    inline: InlineTrail | None = None


def refused(refusal: Refusal) -> MCPError:
    return MCPError(code=refusal.code, message=refusal.message, data=refusal.data)


def _request_headers(ctx: ServerRequestContext[Any, Any]) -> dict[str, str]:
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _message(ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
    """The JSON-RPC message the client sent, as the SDK received it."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": ctx.method}
    if ctx.request_id is not None:
        message["id"] = ctx.request_id
    if ctx.params is not None:
        message["params"] = ctx.params
    return message


class Gateway:
    """The proxy's state and its middleware; ``run`` serves it until told to stop."""

    def __init__(
        self,
        spec: UpstreamSpec,
        *,
        bootstrap: str,
        topics: Topics,
        settings: Settings | None = None,
        server_name: str | None = None,
        scorer: Scorer | None = None,
        partitions: int = 4,
    ) -> None:
        self.spec = spec
        self.bootstrap = bootstrap
        self.topics = topics
        self.settings = settings
        self.server_name = server_name or spec.name
        self.scorer = scorer
        self.partitions = partitions
        self.contractions: KeyedBook[Contraction] = KeyedBook()
        self.declarations: KeyedBook[SessionDeclaration] = KeyedBook()
        self.connections: dict[int, ClientConnection] = {}
        self.recorder: Recorder | None = None
        self.ingest_batch = f"gateway-{uuid.uuid4().hex[:12]}"
        self._task_group: anyio.abc.TaskGroup | None = None

    # -- recording -------------------------------------------------------------------------

    def record(
        self,
        conn: ClientConnection,
        direction: str,
        message: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``headers``: the request's (for it and its answer, whatever else runs meanwhile);
        else the connection's latest (the gateway's own messages)."""
        if self.recorder is None:
            return
        # A copy: framing redacts in place, and the message is still on its way.
        copied = orjson.loads(orjson.dumps(message, default=str))
        kept = conn.headers if headers is None else headers
        self.recorder.record(envelope(direction, self.server_name, kept, copied))

    # -- contractions ----------------------------------------------------------------------

    async def on_contraction(self, contraction: Contraction) -> None:
        """A contraction from the topic: kept for connections still to come, applied now to
        the live ones it names. A replay (an id seen before) changes nothing."""
        if not self.contractions.add(contraction.contraction_id, contraction.keys, contraction):
            return
        for conn in list(self.connections.values()):
            if conn.enforcement.matches(contraction):
                await self._apply(conn, contraction)

    async def on_declaration(self, declaration: SessionDeclaration) -> None:
        """A session declared: its intent bounds the inline scoring of the connections
        bound to it (now, or when they show one of its keys)."""
        keys = declaration.bindings.correlation_keys()
        if not self.declarations.add(declaration.session_id, keys, declaration):
            return
        for conn in list(self.connections.values()):
            if conn.inline is not None and any(key in conn.enforcement.keys for key in keys):
                conn.inline.see_declaration(declaration)

    async def _bind(self, conn: ClientConnection, keys: set[tuple[str, str]]) -> None:
        new = conn.enforcement.add_keys(keys)
        if not new:
            return
        for contraction in self.contractions.matching(new):
            await self._apply(conn, contraction)
        if conn.inline is not None:
            for declaration in self.declarations.matching(new):
                conn.inline.see_declaration(declaration)

    async def _apply(self, conn: ClientConnection, contraction: Contraction) -> None:
        if not conn.enforcement.apply(contraction):
            return
        log.info(
            "contraction %s (%s) applied to connection %s",
            contraction.contraction_id,
            contraction.decision,
            conn.session_id,
        )
        notification = types.ToolListChangedNotification()
        await conn.server_session.send_notification(notification)
        self.record(
            conn,
            SERVER_TO_CLIENT,
            {"jsonrpc": "2.0", "method": notification.method},
        )

    # -- the middleware --------------------------------------------------------------------

    def _connection(self, ctx: ServerRequestContext[Any, Any]) -> ClientConnection:
        # The SDK (mcp 2.3) gives a request no public path to its connection's state; the
        # connection object is the one place it lives, and its exit stack the one hook
        # for its end.
        sdk_connection = ctx.session._connection
        conn = sdk_connection.state.get(_STATE_KEY)
        if conn is None:
            conn = ClientConnection(sdk_connection.session_id, ctx.session)
            sdk_connection.state[_STATE_KEY] = conn
            key = id(conn)
            self.connections[key] = conn
            sdk_connection.exit_stack.callback(self._forget, key)
        conn.server_session = ctx.session
        return conn

    def _forget(self, key: int) -> None:
        conn = self.connections.pop(key, None)
        if conn is not None and conn.upstream is not None:
            conn.upstream.close()

    async def middleware(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            raise MCPError(
                code=types.METHOD_NOT_FOUND,
                message="this gateway speaks the initialize handshake (MCP 2025-11-25)",
                data=ctx.method,
            )
        conn = self._connection(ctx)
        headers = _request_headers(ctx)
        kept = conn.headers = captured_headers(headers, conn.session_id)
        params: dict[str, Any] = dict(ctx.params or {})
        meta = params.get("_meta") if isinstance(params.get("_meta"), Mapping) else None
        await self._bind(conn, binding_keys(headers, meta, conn.session_id))
        self.record(conn, CLIENT_TO_SERVER, _message(ctx), kept)
        if ctx.request_id is None:
            # Notifications stay here: the SDK keeps the handshake's state from
            # notifications/initialized; the upstream session has its own handshake.
            return await call_next(ctx)
        try:
            try:
                result = await self._answer(conn, ctx.method, params, meta, ctx.request_id)
            except MCPError:
                raise
            except Exception as exc:  # the upstream's transport or result: the client is told
                failure = f"the upstream server failed: {type(exc).__name__}"
                raise MCPError(code=types.INTERNAL_ERROR, message=failure) from exc
        except MCPError as exc:
            error = exc.error.model_dump(by_alias=True, mode="json", exclude_none=True)
            answer = {"jsonrpc": "2.0", "id": ctx.request_id, "error": error}
            self.record(conn, SERVER_TO_CLIENT, answer, kept)
            raise
        self.record(
            conn, SERVER_TO_CLIENT, {"jsonrpc": "2.0", "id": ctx.request_id, "result": result}, kept
        )
        return result

    async def _answer(
        self,
        conn: ClientConnection,
        method: str,
        params: dict[str, Any],
        meta: Mapping[str, Any] | None,
        request_id: types.RequestId,
    ) -> dict[str, Any]:
        if method == "initialize":
            return await self._initialize(conn, params)
        if method == "ping":
            return {}
        upstream = conn.upstream
        if upstream is None:
            raise MCPError(code=types.INVALID_REQUEST, message="initialize first")
        tool = params.get("name") if method == "tools/call" else None
        refusal = conn.enforcement.refusal(method, tool if isinstance(tool, str) else None)
        if refusal is not None:
            raise refused(refusal)
        if method == "tools/list":
            result = await upstream.request(method, params)
            tools = [t for t in result.get("tools") or () if isinstance(t, Mapping)]
            if conn.inline is not None:
                conn.inline.see_tools(tools)
            result["tools"] = conn.enforcement.visible_tools(tools)
            return result
        if method == "tools/call" and isinstance(tool, str) and conn.inline is not None:
            action_id = f"{conn.session_id}:{request_id}"
            conn.inline.see_intent(meta)
            arguments = params.get("arguments")
            score = conn.inline.score(
                action_id, tool, arguments if isinstance(arguments, Mapping) else None
            )
            if score.flagged:
                raise refused(
                    drift_refusal(
                        tool, score.score, score.reasons, score.model_version, score.out_of_bounds
                    )
                )
            result = await upstream.request(method, params)
            conn.inline.see_result(action_id, result)
            return result
        return await upstream.request(method, params)

    async def _initialize(self, conn: ClientConnection, params: dict[str, Any]) -> dict[str, Any]:
        """Open this connection's upstream session and answer as the upstream server did,
        at the version the SDK commits to the connection, announcing ``tools.listChanged``
        (the gateway sends it when a contraction narrows the tools)."""
        if conn.upstream is not None:
            raise MCPError(code=types.INVALID_REQUEST, message="already initialized")
        if self._task_group is None:
            raise MCPError(code=types.INTERNAL_ERROR, message="the gateway is not running")
        init = types.InitializeRequestParams.model_validate(params, by_name=False)
        upstream = Upstream(
            self.spec,
            client_info=init.client_info,
            headers=dict(conn.headers),
            on_notification=lambda n: self._from_upstream(conn, n),
        )
        try:
            result = await upstream.open(self._task_group)
        except Exception as exc:
            raise MCPError(code=types.INTERNAL_ERROR, message=str(exc)) from exc
        conn.upstream = upstream
        if self.scorer is not None:
            conn.inline = InlineTrail(self.scorer, self.server_name)
            conn.inline.see_agent(init.client_info.model_dump(by_alias=True, mode="json"))
            for declaration in self.declarations.matching(conn.enforcement.keys):
                conn.inline.see_declaration(declaration)
        answer = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        requested = init.protocol_version
        answer["protocolVersion"] = (
            requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
        )
        capabilities = answer.setdefault("capabilities", {})
        capabilities.setdefault("tools", {})["listChanged"] = True
        return answer

    async def _from_upstream(
        self, conn: ClientConnection, notification: types.ServerNotification
    ) -> None:
        """A notification of the upstream server, passed on to the client and recorded."""
        await conn.server_session.send_notification(notification)
        self.record(
            conn,
            SERVER_TO_CLIENT,
            {
                "jsonrpc": "2.0",
                **notification.model_dump(by_alias=True, mode="json", exclude_none=True),
            },
        )

    # -- serving ---------------------------------------------------------------------------

    def build_server(self) -> Server[Any]:
        server: Server[Any] = Server("agentledger-gateway")
        server.middleware.append(self.middleware)
        return server

    async def run(
        self,
        host: str,
        port: int,
        stop: asyncio.Event,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        """Serve on ``host:port`` until ``stop`` is set; what is recorded is produced
        before it returns."""
        import uvicorn

        await ensure_topics(
            self.bootstrap,
            [
                self.topics.raw("mcp"),
                *self.topics.event_topics,
                self.topics.dlq,
                self.topics.contractions,
                self.topics.declared,
            ],
            self.partitions,
            self.settings,
        )
        producer = make_producer(self.bootstrap, self.settings)
        await producer.start()
        recorder = Recorder(BatchSender(producer), self.topics, ingest_batch=self.ingest_batch)
        self.recorder = recorder
        app = self.build_server().streamable_http_app(host=host)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        web = uvicorn.Server(config)
        done = asyncio.Event()
        subscribed = asyncio.Event()
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                tg.start_soon(recorder.run, done)
                tg.start_soon(self._consume, done, subscribed)
                tg.start_soon(self._serve_web, web, stop)
                while not (web.started and subscribed.is_set()):
                    if web.should_exit or stop.is_set():
                        break
                    await asyncio.sleep(0.02)
                if on_ready is not None and web.started:
                    on_ready()
                await stop.wait()
                web.should_exit = True
                for conn in list(self.connections.values()):
                    if conn.upstream is not None:
                        conn.upstream.close()
                while web.started:
                    await asyncio.sleep(0.02)
                done.set()
        finally:
            self._task_group = None
            await producer.flush()
            await producer.stop()

    async def _serve_web(self, web: Any, stop: asyncio.Event) -> None:
        try:
            await web.serve()
        finally:
            stop.set()  # the server ended on its own (a signal, a bind error): so does the rest
            web.started = False

    async def _consume(self, done: asyncio.Event, subscribed: asyncio.Event) -> None:
        handlers = {self.topics.contractions: on_contraction_bytes(self.on_contraction)}
        if self.scorer is not None:
            handlers[self.topics.declared] = on_declaration_bytes(self.on_declaration)
        await consume(self.bootstrap, handlers, done, settings=self.settings, ready=subscribed)
