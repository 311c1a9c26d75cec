"""A port the API cannot listen on is named before anything starts, and uvicorn's exit when
it cannot bind becomes a ``StackError`` the stack can clean up after."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
import uvicorn

from agentledger.api import serve_http, server_without_signals
from kernel.errors import StackError
from kernel.procs import refuse_taken_port


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_a_port_another_server_listens_on_is_refused_by_name(listening: int) -> None:
    with pytest.raises(
        StackError, match=rf"cannot listen on 127\.0\.0\.1:{listening}: .*--http-port"
    ):
        refuse_taken_port("127.0.0.1", listening)


def test_a_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refuse_taken_port("127.0.0.1", port)  # nothing listens there now: no error


def test_an_ipv6_loopback_is_probed_as_ipv6() -> None:
    with socket.socket(socket.AF_INET6) as held:
        held.bind(("::1", 0))
        port = held.getsockname()[1]
        held.listen()
        with pytest.raises(StackError, match=rf"cannot listen on ::1:{port}: "):
            refuse_taken_port("::1", port)
    refuse_taken_port("::1", port)  # let go: free again


def test_a_host_that_resolves_to_nothing_is_named() -> None:
    with pytest.raises(StackError, match=r"cannot listen on no-such-host\.invalid:8123: "):
        refuse_taken_port("no-such-host.invalid", 8123)


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("never served")


def test_uvicorn_unable_to_bind_raises_a_stack_error(listening: int) -> None:
    config = uvicorn.Config(_app, host="127.0.0.1", port=listening, log_level="critical")
    server = server_without_signals(config)
    with pytest.raises(StackError, match=rf"could not listen on 127\.0\.0\.1:{listening}"):
        asyncio.run(serve_http(server, "127.0.0.1", listening))
