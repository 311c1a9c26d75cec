"""Waiting for the ledger to catch up: the dead letters of a run, the token exchanges still
waiting (the events themselves: ``agentledger.ingest_wait.wait_held``)."""

from __future__ import annotations

import asyncio
import time

from kernel.errors import StackError
from ledger.queries import stored_count, waiting_exchanges
from ledger.store import LedgerStore


async def wait_until_dead_lettered(
    store: LedgerStore, ingest_batch: str, expected: int, *, timeout: float = 60
) -> None:
    """Until ``expected`` rejections of ``ingest_batch`` are in the ledger's dead letters
    (each at its own source and position, so none is kept as another's repeat)."""
    deadline = time.monotonic() + timeout
    while True:
        kept = await asyncio.to_thread(stored_count, store, ingest_batch, "dead_letters")
        if kept >= expected:
            return
        if time.monotonic() > deadline:
            raise StackError(
                f"only {kept} of {expected} rejected records reached the ledger's dead letters "
                f"in {timeout:.0f}s; see the logs in the data directory's logs/"
            )
        await asyncio.sleep(0.25)


async def wait_until_exchanges_settled(
    store: LedgerStore, *, timeout: float = 60, interval: float = 0.25
) -> bool:
    """Until no token exchange waits to be decided (``processors.federation``); False if
    some still did after ``timeout`` seconds (the stream is neither a re-stitch window past
    them nor idle, or no session's token accounts for them)."""
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(waiting_exchanges, store):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True
