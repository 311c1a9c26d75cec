"""The gateway's record of every MCP message it passes, refuses or sends, into the ledger's
MCP source.

Each message becomes one capture envelope ``{"ts", "direction", "server", "headers",
"message"}``, the shape ``ingest.mcp`` parses, and goes the way every ingest path goes:
framed and redacted (``ingest.framing``: the bearer token is replaced by its keyed
fingerprint and claims before anything else sees the record), parsed, then produced, the
redacted raw record to ``ledger.raw.mcp`` and its events to ``ledger.events.calls``
(``ingest.pipeline``), where the stack's workers stitch them. The stack's normalizer reads
only topics outside the ledger's prefix (shippers' topics), so the gateway ingests as the
OTLP endpoint does rather than leaving raw records for it.

Recording never holds a request up: messages are queued and produced in batches by a task
of their own. A batch that cannot be produced is logged and dropped (the proxy goes on).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from ingest.framing import frame_value
from ingest.mcp import McpSource
from ingest.pipeline import IngestReport, ingest_stream
from kernel.kafka import BatchSender
from kernel.topics import Topics

log = logging.getLogger(__name__)

CLIENT_TO_SERVER: Final = "client_to_server"
SERVER_TO_CLIENT: Final = "server_to_client"
# The request headers kept with each message: what binds it to a session, and what
# says which protocol and client sent it. Authorization is redacted by framing.
CAPTURED_HEADERS: Final = (
    "authorization",
    "traceparent",
    "tracestate",
    "mcp-session-id",
    "mcp-protocol-version",
    "user-agent",
)


def captured_headers(headers: Mapping[str, str], session_id: str | None) -> dict[str, str]:
    """The headers kept for one message (``headers`` lower-cased). A message of a session
    carries its ``Mcp-Session-Id`` even when the request had none yet (``initialize``, whose
    answer assigns it), so ingest binds the opening exchange to the session too."""
    kept = {name: headers[name] for name in CAPTURED_HEADERS if headers.get(name)}
    if session_id and "mcp-session-id" not in kept:
        kept["mcp-session-id"] = session_id
    return kept


def envelope(
    direction: str, server: str, headers: Mapping[str, str], message: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "ts": datetime.now(UTC).isoformat(),
        "direction": direction,
        "server": server,
        "headers": dict(headers),
        "message": dict(message),
    }


class Recorder:
    """Queues envelopes and produces them in batches (``batch_max`` or every ``wait_s``)."""

    def __init__(
        self,
        sender: BatchSender,
        topics: Topics,
        *,
        ingest_batch: str,
        batch_max: int = 1_000,
        wait_s: float = 0.05,
    ) -> None:
        self.sender = sender
        self.topics = topics
        self.ingest_batch = ingest_batch
        self.batch_max = batch_max
        self.wait_s = wait_s
        self.source = McpSource()
        self.report = IngestReport()
        self.recorded = 0
        self.dropped = 0
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._chunks = 0

    def record(self, item: dict[str, Any]) -> None:
        self._queue.put_nowait(item)

    async def run(self, stop: asyncio.Event) -> None:
        """Produce what is queued until ``stop`` is set, then what is left."""
        while not stop.is_set() or not self._queue.empty():
            try:
                first = await asyncio.wait_for(self._queue.get(), timeout=self.wait_s)
            except TimeoutError:
                continue
            batch = [first]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self.produce(batch)

    async def produce(self, batch: list[dict[str, Any]]) -> None:
        self._chunks += 1
        name = f"gateway:{self.ingest_batch}:{self._chunks}"
        try:
            # Framing redacts in place: the envelopes are this recorder's own.
            framed = list(frame_value(self.source, batch, name))
            await ingest_stream(
                self.sender,
                self.topics,
                self.source,
                framed,
                ingest_batch=self.ingest_batch,
                report=self.report,
            )
            self.recorded += len(batch)
        except Exception as exc:  # the proxy must go on; the loss is counted and logged
            self.dropped += len(batch)
            log.error("%d recorded messages not produced: %s", len(batch), type(exc).__name__)

    async def drain(self) -> None:
        """Until everything queued so far is produced (tests, and shutdown)."""
        while not self._queue.empty():
            await asyncio.sleep(self.wait_s)
