"""The ledger's HTTP front as a server a test can take away and bring back.

``ledger.http_front`` over this process's chDB, served by uvicorn on one fixed loopback port,
as the workers reach a ClickHouse server. ``take_away`` is the server dying: the listening
socket is closed first (a new connection is refused from then on) and every open
connection is cut, with no answer to what was in flight. ``bring_back`` serves again on the
same port, so the workers' URL holds throughout.

``WriteGate`` decides the moment: armed with a table, it trips on the next insert into it,
and that insert's answer never comes. ``before`` holds the request before the engine sees
it (nothing of it lands); ``after`` lets the engine take it and holds the answer (the rows
are in the ledger, the writer does not know), as when a server dies between committing an
insert and replying.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import threading
from typing import Literal
from urllib.parse import parse_qs, quote

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.procs import free_port
from ledger.chdb_store import ChdbStore
from ledger.http_front import WRITER, Credentials, build_app
from tests.polling import wait_for

Moment = Literal["before", "after"]


class WriteGate:
    """Passes every request but the one insert it is armed for (see the module)."""

    def __init__(self, app: ASGIApp, database: str) -> None:
        self.app = app
        self.database = database
        self._armed: tuple[str, Moment] | None = None
        self.tripped = threading.Event()
        self.held_status: int | None = None  # the answer the engine gave and nobody got
        self._held: list[asyncio.Event] = []  # set when the server dies: the request ends

    def release(self) -> None:
        """End what is held, on the server's loop once its connections are cut: nothing
        is answered (the client is gone), and the request ends quietly."""
        for held in self._held:
            held.set()
        self._held.clear()

    async def _hold(self) -> None:
        held = asyncio.Event()
        self._held.append(held)
        self.tripped.set()
        await held.wait()

    def arm(self, table: str, moment: Moment) -> None:
        self.tripped.clear()
        self.held_status = None
        self._armed = (table, moment)

    def _claims(self, scope: Scope) -> Moment | None:
        if self._armed is None or scope["type"] != "http":
            return None
        table, moment = self._armed
        # clickhouse-connect sends an insert's statement in the URL, its rows as the body.
        query = parse_qs(scope["query_string"].decode()).get("query", [""])[0]
        statement = rf"\s*INSERT\s+INTO\s+`?{re.escape(self.database)}`?\.`?{table}\b"
        if re.match(statement, query, re.IGNORECASE) is None:
            return None
        self._armed = None
        return moment

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        moment = self._claims(scope)
        if moment is None:
            await self.app(scope, receive, send)
            return
        if moment == "before":
            await self._hold()
            return
        lost = False

        async def answer_lost(message: Message) -> None:
            nonlocal lost
            if message["type"] == "http.response.start":
                self.held_status = int(message["status"])
                await self._hold()
                lost = True  # the client is gone: nothing more goes out
            if not lost:
                await send(message)

        await self.app(scope, receive, answer_lost)


class LedgerFront:
    """The writer's interface to ``store``, on ``port``, until taken away."""

    def __init__(self, store: ChdbStore, database: str) -> None:
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        password = secrets.token_urlsafe(18)  # this front's alone, never written anywhere
        self._password = password
        # No analyst: only the workers' writer credential gets in.
        self.gate = WriteGate(build_app(store, Credentials(password, "", "")), database)
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.outages = 0

    @property
    def writer_url(self) -> str:
        return f"http://{WRITER}:{quote(self._password, safe='')}@{self.host}:{self.port}"

    def shows_password(self, text: str) -> bool:
        return self._password in text

    def bring_back(self) -> None:
        assert self._thread is None, "the ledger is already up"
        config = uvicorn.Config(
            self.gate,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._serve, args=(server, loop), daemon=True)
        self._server, self._loop, self._thread = server, loop, thread
        thread.start()
        wait_for(
            lambda: server.started or not thread.is_alive(),
            timeout=15,
            interval=0.02,
            what=f"the ledger's front on {self.host}:{self.port}",
        )
        assert server.started, f"the ledger's front did not start again on port {self.port}"

    @staticmethod
    def _serve(server: uvicorn.Server, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve())
        finally:
            # What was held (an answer never given) goes with the server.
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.close()

    def take_away(self) -> None:
        """The server dies: new connections refused, open ones cut, nothing answered."""
        server, loop, thread = self._server, self._loop, self._thread
        assert server is not None and loop is not None and thread is not None, "not up"

        def die() -> None:
            for listener in server.servers:
                listener.close()  # first: a client's immediate retry is refused too
            for connection in list(server.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
            self.gate.release()
            server.force_exit = True
            server.should_exit = True

        loop.call_soon_threadsafe(die)
        thread.join(15)
        assert not thread.is_alive(), "the ledger's front did not stop"
        self._server = self._loop = self._thread = None
        self.outages += 1

    def refuses(self) -> bool:
        """Whether a connection to the port is refused (nothing listens there)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=2):
                return False
        except ConnectionRefusedError:
            return True

    def close(self) -> None:
        if self._thread is not None:
            self.take_away()
