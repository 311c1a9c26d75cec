"""``agentledger ingest`` reports success only for what the ledger holds.

The workers commit a batch's offsets on ``<prefix>.events`` only after its ledger write, so
an event is held once the worker group's committed offset has passed it. The ingest keeps
where each of its record batches went (``kernel.lag.SentRanges``) and waits here until the
group has passed all of them, or a timeout, or the stack it sends to exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ingest.files import InputFile
from ingest.pipeline import IngestReport
from kernel.config import Settings
from kernel.errors import StackError, StackGoneError
from kernel.kafka_offsets import OffsetProbe
from kernel.lag import SentRanges
from kernel.procs import alive
from kernel.topics import Topics

T = TypeVar("T")
DEFAULT_WAIT_TIMEOUT_S = 300.0


@dataclass(slots=True)
class LedgerWait:
    """How the wait for the ledger went: events sent, events the ledger holds."""

    events: int
    held: int
    waited_s: float

    @property
    def complete(self) -> bool:
        return self.held >= self.events

    @property
    def outstanding(self) -> int:
        return self.events - self.held


async def while_stack_runs(
    work: Awaitable[T], pid: int | None, doing: str, at_risk: Callable[[], str]
) -> T:
    """``work``, unless the ``agentledger up`` process ``pid`` exits first: then it is
    stopped and ``StackGoneError`` says what the command was doing and what is at risk."""
    task = asyncio.ensure_future(work)
    if pid is None:  # a Kafka cluster of someone else's: nothing of ours to watch
        return await task
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.2)
        if done:
            return task.result()
        if not alive(pid):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise StackGoneError(
                f"the ledger's `agentledger up` (pid {pid}) exited while ingest was {doing}; "
                f"{at_risk()}"
            )


def sent_events(sent: SentRanges, topics: Topics) -> int:
    """The events ``sent`` put on the topics the worker reads (``Topics.event_topics``)."""
    return sum(sent.total(topic) for topic in topics.event_topics)


async def wait_in_ledger(
    bootstrap: str,
    topics: Topics,
    sent: SentRanges,
    *,
    settings: Settings | None,
    timeout: float,
    on_progress: Callable[[int, int], None] | None = None,
    interval: float = 0.25,
) -> LedgerWait:
    """Until the worker group has committed past every event ``sent`` put on the topics it
    reads (``Topics.event_topics``), or ``timeout`` seconds passed; ``on_progress(held,
    total)`` hears each measure."""
    started = time.monotonic()
    total = sent_events(sent, topics)
    held = 0
    async with OffsetProbe(bootstrap, topics.worker_group, settings) as probe:
        while True:
            held = 0
            for topic in topics.event_topics:
                partitions = sent.partitions(topic)
                if partitions:
                    held += sent.held(topic, await probe.committed(topic, partitions))
            if on_progress is not None:
                on_progress(held, total)
            if held >= total or time.monotonic() - started >= timeout:
                break
            await asyncio.sleep(interval)
    return LedgerWait(total, held, round(time.monotonic() - started, 3))


async def wait_held(
    bootstrap: str,
    topics: Topics,
    sent: SentRanges,
    settings: Settings | None,
    console: Any = None,
    *,
    timeout: float,
) -> float:
    """Until the workers have committed past every event ``sent`` put on their topics, with
    a progress bar on ``console``; ``StackError`` after ``timeout`` seconds. A worker commits
    a batch once the ledger holds it, and an event it skips as held already (two identical
    records, or a replay) is passed too, where a count of the rows stored would wait for it
    for ever. Returns the ``perf_counter`` time it was seen."""
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(LedgerProgress(console)) if console is not None else None
        wait = await wait_in_ledger(
            bootstrap,
            topics,
            sent,
            settings=settings,
            timeout=timeout,
            on_progress=bar.update if bar is not None else None,
            interval=0.05,
        )
    if not wait.complete:
        raise StackError(
            f"only {wait.held} of {wait.events} events reached the ledger in "
            f"{timeout:.0f}s; see the worker log in the data directory's logs/"
        )
    return time.perf_counter()


class LedgerProgress:
    """A progress bar of events the ledger holds, for a terminal."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("in the ledger"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("events"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("ledger", total=None)

    def __enter__(self) -> LedgerProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, held: int, total: int) -> None:
        self._progress.update(self._task, completed=held, total=total)


@dataclass(slots=True)
class IngestOutcome:
    """What ``agentledger ingest`` did: its report, and (unless --no-wait) the wait."""

    report: IngestReport
    events_on_broker: int
    wait: LedgerWait | None
    wait_timeout: float | None

    def as_json(self) -> dict[str, Any]:
        payload = self.report.as_json()
        payload["events_on_broker"] = self.events_on_broker
        if self.wait is None:  # --no-wait: the broker has them, the ledger may not yet
            payload.update(in_ledger=False, waited_s=0.0, events_in_ledger=None)
        else:
            payload.update(
                in_ledger=self.wait.complete,
                waited_s=self.wait.waited_s,
                events_in_ledger=self.wait.held,
                events_not_in_ledger=self.wait.outstanding,
            )
        return payload

    def lines(self) -> list[str]:
        """The text report's first line: what the ledger holds, or where the records are."""
        report, wait = self.report, self.wait
        counts = f"{report.accepted} records ({report.events} events)"
        if wait is None:
            return [
                f"{counts} sent, rejected {report.rejected}: they are only on the broker "
                "until the workers write them (not waited for: --no-wait)"
            ]
        if wait.complete:
            return [
                f"{counts} in the ledger, rejected {report.rejected} "
                f"(waited {wait.waited_s:.1f}s for the workers)"
            ]
        return [
            f"not in the ledger yet: {wait.outstanding} of {wait.events} events (from "
            f"{report.accepted} records) are on the broker but the workers had not written "
            f"them after {self.wait_timeout or 0:.0f}s ({wait.held} are in the ledger); see "
            "the worker logs (data directory logs/) or wait longer with --wait-timeout"
        ]


async def run_ingest(
    bootstrap: str,
    topics: Topics,
    settings: Settings,
    source_name: str,
    inputs: Sequence[InputFile],
    *,
    stack_pid: int | None,
    wait_timeout: float | None,
    console: Any = None,
) -> IngestOutcome:
    """Send ``inputs``, then (``wait_timeout`` not ``None``) wait for the ledger to hold
    them, both while the ``up`` process ``stack_pid`` runs; ``console``: progress bars."""
    from aiokafka.errors import KafkaError

    from agentledger.client import use_fingerprint_key
    from agentledger.ingesting import ProgressBar, ingest_inputs

    use_fingerprint_key(settings)
    report, sent = IngestReport(), SentRanges()
    held = [0]

    def at_risk(stage: str) -> Callable[[], str]:
        def describe() -> str:
            on_broker = sent_events(sent, topics)
            return (
                f"{report.accepted} records ({report.events} events) were read, the broker had "
                f"taken {on_broker} events and the ledger held {held[0]} of them{stage}. The "
                f"other {on_broker - held[0]} are at risk: the embedded broker keeps them in "
                "memory only. Start the ledger again and ingest the same input: what the "
                "ledger already holds is skipped as a duplicate"
            )

        return describe

    def gone_details() -> dict[str, object]:
        on_broker = sent_events(sent, topics)
        return {
            **report.as_json(),
            "events_on_broker": on_broker,
            "events_in_ledger": held[0],
            "events_at_risk": on_broker - held[0],
        }

    async def send() -> None:
        if console is None:
            await ingest_inputs(
                bootstrap, topics, source_name, inputs, settings=settings, report=report, sent=sent
            )
            return
        with ProgressBar(console, inputs) as progress:
            await ingest_inputs(
                bootstrap,
                topics,
                source_name,
                inputs,
                progress=progress,
                settings=settings,
                report=report,
                sent=sent,
            )

    try:
        await while_stack_runs(send(), stack_pid, "sending", at_risk(" (none is confirmed)"))
        if wait_timeout is None:
            return IngestOutcome(report, sent_events(sent, topics), None, None)

        def seen(now_held: int, total: int) -> None:
            held[0] = now_held
            if bar is not None:
                bar.update(now_held, total)

        bar = LedgerProgress(console) if console is not None else None
        with bar if bar is not None else contextlib.nullcontext():
            wait = await while_stack_runs(
                wait_in_ledger(
                    bootstrap,
                    topics,
                    sent,
                    settings=settings,
                    timeout=wait_timeout,
                    on_progress=seen,
                ),
                stack_pid,
                "waiting for the ledger",
                at_risk(" when last measured"),
            )
    except StackGoneError as exc:
        raise StackGoneError(str(exc), gone_details()) from exc
    except KafkaError as exc:  # said as the product's error: in --json too
        raise StackGoneError(
            f"the broker at {bootstrap} failed ({exc}); {at_risk('')()}", gone_details()
        ) from exc
    return IngestOutcome(report, sent_events(sent, topics), wait, wait_timeout)
