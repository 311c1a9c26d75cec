"""The upstream MCP server, as one client connection of the gateway sees it: a
``ClientSession`` of the SDK over Streamable HTTP (``--upstream URL``) or over the stdio of a
subprocess (``--upstream-cmd``), one per client connection, so that the upstream server keeps
each agent's session apart as it would without the gateway.

A session's transport and its task group must be entered and left by one task: each
upstream runs in a task of its own, started in the gateway's task group, and is told to
close when its client connection ends.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import httpx2
import mcp_types as types
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel, ConfigDict

from kernel.errors import ConfigError, StackError

log = logging.getLogger(__name__)

# Request headers passed on to an HTTP upstream: the agent's credential is for the server
# behind the gateway, and the trace goes on through it.
FORWARDED_HEADERS = ("authorization", "traceparent", "tracestate")
OnNotification = Callable[[types.ServerNotification], Awaitable[None]]


class RawResult(BaseModel):
    """Any result, kept as the upstream server wrote it (the gateway passes it on)."""

    model_config = ConfigDict(extra="allow")


class RawRequest(types.Request[dict[str, Any] | None, str]):
    """Any request by method name, its params passed on as the client sent them."""

    params: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """Where the upstream server is: a Streamable HTTP ``url``, or a ``command`` to run."""

    url: str | None = None
    command: tuple[str, ...] = ()

    @classmethod
    def parse(cls, url: str | None, command: str | None) -> UpstreamSpec:
        if (url is None) == (command is None):
            raise ConfigError(
                "give the upstream server as --upstream URL or --upstream-cmd COMMAND"
            )
        if url is not None:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(
                    f"--upstream {url!r}: expected an http(s):// URL of an MCP endpoint"
                )
            return cls(url=url)
        words = tuple(shlex.split(command or ""))
        if not words:
            raise ConfigError("--upstream-cmd is empty: give the command that starts the server")
        return cls(command=words)

    @property
    def name(self) -> str:
        """What the records call the server until it names itself."""
        if self.url is not None:
            return self.url
        return self.command[0].rsplit("/", 1)[-1]


class Upstream:
    """One upstream session. ``open`` returns once it is initialized (or raises)."""

    def __init__(
        self,
        spec: UpstreamSpec,
        *,
        client_info: types.Implementation | None,
        headers: Mapping[str, str],
        on_notification: OnNotification,
    ) -> None:
        self.spec = spec
        self.client_info = client_info
        self.headers = {k: v for k, v in headers.items() if k in FORWARDED_HEADERS}
        self.on_notification = on_notification
        self.session: ClientSession | None = None
        self.initialize_result: types.InitializeResult | None = None
        self._ready = anyio.Event()
        self._close = anyio.Event()
        self._closed = anyio.Event()
        self._error: BaseException | None = None

    async def open(self, task_group: anyio.abc.TaskGroup) -> types.InitializeResult:
        task_group.start_soon(self._run)
        await self._ready.wait()
        if self._error is not None or self.initialize_result is None:
            raise StackError(
                f"cannot reach the upstream MCP server {self.spec.name}: {self._error}"
            ) from self._error
        return self.initialize_result

    def close(self) -> None:
        self._close.set()

    async def request(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The upstream's raw result; its JSON-RPC error raises ``MCPError`` as it came."""
        if self.session is None:
            raise StackError("the upstream session is not open")
        request = RawRequest(method=method, params=dict(params) if params is not None else None)
        result = await self.session.send_request(request, RawResult)
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            log.warning("upstream %s: %s", self.spec.name, type(message).__name__)
            return
        await self.on_notification(message)

    async def _run(self) -> None:
        try:
            async with AsyncExitStack() as stack:
                if self.spec.url is not None:
                    # The SDK's own timeouts: a server may hold a response stream open.
                    http = await stack.enter_async_context(
                        httpx2.AsyncClient(
                            headers=self.headers, timeout=httpx2.Timeout(30, read=300)
                        )
                    )
                    streams = await stack.enter_async_context(
                        streamable_http_client(self.spec.url, http_client=http)
                    )
                else:
                    params = StdioServerParameters(
                        command=self.spec.command[0], args=list(self.spec.command[1:])
                    )
                    streams = await stack.enter_async_context(stdio_client(params))
                read_stream, write_stream = streams
                self.session = await stack.enter_async_context(
                    ClientSession(
                        read_stream,
                        write_stream,
                        message_handler=self._on_message,
                        client_info=self.client_info,
                    )
                )
                self.initialize_result = await self.session.initialize()
                self._ready.set()
                await self._close.wait()
        except Exception as exc:  # reported to the opener; a closing session only logs
            if not self._ready.is_set():
                self._error = exc
            else:
                log.warning("upstream %s closed: %s", self.spec.name, type(exc).__name__)
        finally:
            self.session = None
            self._ready.set()
            self._closed.set()
