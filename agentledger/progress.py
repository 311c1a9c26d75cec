"""Waiting for the ledger to catch up, with a progress bar when someone is watching."""

from __future__ import annotations

import asyncio
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kernel.errors import StackError
from ledger.queries import stored_count, waiting_exchanges
from ledger.store import LedgerStore


async def wait_until_stored(
    store: LedgerStore,
    ingest_batch: str,
    expected: int,
    *,
    dead_letters: int = 0,
    timeout: float = 600,
    console: Console | None = None,
    interval: float = 0.25,
) -> float:
    """Until ``expected`` events (and ``dead_letters`` rejections) of ``ingest_batch`` are
    queryable; returns the ``perf_counter`` time at which that was seen."""
    deadline = time.monotonic() + timeout
    progress = None
    task = None
    if console is not None:
        progress = Progress(
            TextColumn("stored in the ledger"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        progress.start()
        task = progress.add_task("stored", total=expected)
    try:
        while True:
            count = await asyncio.to_thread(stored_count, store, ingest_batch)
            if progress is not None and task is not None:
                progress.update(task, completed=count)
            if count >= expected:
                kept = 0
                if dead_letters:
                    kept = await asyncio.to_thread(
                        stored_count, store, ingest_batch, "dead_letters"
                    )
                if kept >= dead_letters:
                    return time.perf_counter()
            if time.monotonic() > deadline:
                raise StackError(
                    f"only {count} of {expected} events reached the ledger in {timeout:.0f}s; "
                    "see the worker log in the data directory's logs/"
                )
            await asyncio.sleep(interval)
    finally:
        if progress is not None:
            progress.stop()


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
