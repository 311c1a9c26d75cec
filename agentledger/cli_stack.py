"""``agentledger up`` and ``down``: start the stack, keep it running, stop it without losing
what the embedded broker holds (``agentledger.stack_drain``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import click

from agentledger.cli_common import console, data_dir_option, err_console
from agentledger.stack import Stack
from agentledger.stack_drain import (
    LagWatch,
    drain,
    lag_text,
    read_stop_report,
    request_stop,
    requested_drain_timeout,
    write_stop_report,
)
from agentledger.stack_state import read_state, require_state
from kernel.config import RawTopic, Settings, load_settings, parse_raw_topic
from kernel.errors import LedgerError

EXIT_BROKER_DIED = 3
EXIT_NOT_DRAINED = 1
PROGRESS_EVERY_S = 2.0


def _raw_topics(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[RawTopic] | None:
    """``--raw-topic`` values, each checked (form and source) before anything starts."""
    from ingest.normalizer import raw_sources

    try:
        parsed = [parse_raw_topic(value) for value in values]
        raw_sources(parsed)
    except (ValueError, LedgerError) as exc:
        raise click.BadParameter(str(exc)) from exc
    return parsed or None  # none given: AGENTLEDGER_RAW_TOPICS may name them


@click.command()
@data_dir_option
@click.option(
    "--kafka", help="Use an existing Kafka cluster (HOST:PORT) instead of the embedded broker."
)
@click.option(
    "--clickhouse", help="Use a ClickHouse server (http://user:pass@host:8123) instead of chDB."
)
@click.option("--workers", type=int, default=None, help="Faust worker processes [default 1].")
@click.option("--http-port", type=int, default=None, help="Port of the ledger HTTP interface.")
@click.option(
    "--raw-topic",
    "raw_topics",
    multiple=True,
    callback=_raw_topics,
    metavar="SOURCE=TOPIC",
    help="Normalize the SOURCE records that shippers write to the Kafka topic TOPIC; repeatable.",
)
def up(
    data_dir: Path | None,
    kafka: str | None,
    clickhouse: str | None,
    workers: int | None,
    http_port: int | None,
    raw_topics: list[RawTopic] | None,
) -> None:
    """Start the broker, the ledger and the workers; Ctrl-C stops them all.

    Stopping (Ctrl-C, or `agentledger down`) first lets the workers write what the embedded
    broker holds (AGENTLEDGER_DRAIN_TIMEOUT_S at most; a second Ctrl-C stops at once).
    """
    from ingest.normalizer import raw_sources

    settings = load_settings(
        data_dir=data_dir,
        kafka=kafka,
        clickhouse_url=clickhouse,
        workers=workers,
        http_port=http_port,
        raw_topics=raw_topics,
    )
    raw_sources(settings.raw_topics)  # AGENTLEDGER_RAW_TOPICS is checked as the option is
    sys.exit(asyncio.run(_run_stack(settings)))


async def _run_stack(settings: Settings) -> int:
    """Run until told to stop or the broker dies; the exit status."""
    stop = asyncio.Event()
    force = asyncio.Event()  # a second signal: stop without waiting for the drain

    def on_signal() -> None:
        if stop.is_set():
            force.set()
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    async with Stack(settings) as stack:
        await stack.wait_ready()
        stack.mark_ready()
        _print_up(stack, settings)
        watch = LagWatch(stack)
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                for index, code in stack.respawn_dead_workers():
                    err_console.print(
                        f"worker {index} exited with {code}; started again "
                        f"(log: {settings.data_dir / 'logs' / f'worker-{index}.log'})"
                    )
                if (exited := stack.respawn_dead_normalizer()) is not None:
                    err_console.print(
                        f"normalizer exited with {exited}; started again "
                        f"(log: {settings.data_dir / 'logs' / 'normalizer.log'})"
                    )
                if (broker_code := stack.broker_exit_code()) is not None:
                    message = watch.broker_lost(broker_code)
                    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
                    write_stop_report(
                        settings.data_dir,
                        os.getpid(),
                        drained=False,
                        broker_exit_code=broker_code,
                        lost=watch.last,
                        message=message,
                    )
                    return EXIT_BROKER_DIED
                if not stop.is_set():
                    await watch.measure_if_due()
        finally:
            await watch.close()
        return await _drain_and_report(stack, settings, force)


async def _drain_and_report(stack: Stack, settings: Settings, force: asyncio.Event) -> int:
    timeout = requested_drain_timeout(settings.data_dir, os.getpid(), settings.drain_timeout_s)
    embedded = stack.broker is not None
    if embedded:
        console.print(f"stopping: writing what the broker holds first (at most {timeout:.0f}s)…")
    else:
        console.print("stopping…")
    last_line = [time.monotonic()]

    def progress(lags: dict[str, int]) -> None:
        if time.monotonic() - last_line[0] >= PROGRESS_EVERY_S and any(lags.values()):
            last_line[0] = time.monotonic()
            console.print(f"  draining: {lag_text(lags)} not written yet", highlight=False)

    started = time.monotonic()
    try:
        left = await drain(stack, timeout, force=force, on_lag=progress)
    except LedgerError as exc:
        message = f"could not drain ({exc}); what the broker held may be lost"
        err_console.print(f"[bold red]error:[/] {message}", highlight=False)
        write_stop_report(settings.data_dir, os.getpid(), drained=False, message=message)
        return EXIT_NOT_DRAINED
    waited = round(time.monotonic() - started, 3)
    lost = {topic: n for topic, n in left.items() if n}
    if lost:
        why = "stopped at once (second signal)" if force.is_set() else f"after {timeout:.0f}s"
        message = (
            f"not drained ({why}): {lag_text(lost)} that the ledger had not written are lost "
            "with the embedded broker (memory-only); ingest them again"
        )
        err_console.print(f"[bold red]warning:[/] {message}", highlight=False)
    elif embedded:
        message = f"drained in {waited:.1f}s: the ledger holds everything the broker held"
        console.print(message)
    else:
        message = "stopped; the Kafka cluster keeps what the workers have not written yet"
    write_stop_report(
        settings.data_dir,
        os.getpid(),
        drained=not lost,
        lost=lost,
        drain_s=waited,
        message=message,
    )
    return EXIT_NOT_DRAINED if lost else 0


def _print_up(stack: Stack, settings: Settings) -> None:
    info = stack.info()
    console.print(f"[bold green]agentledger is up[/] (pid {info.pid})")
    console.print(
        f"  broker     {info.bootstrap}" + (" (embedded Tansu)" if info.embedded_broker else "")
    )
    console.print(
        f"  ledger     {info.http_url or info.sql_url} database {info.database}"
        + (" (embedded chDB)" if info.embedded_ledger else "")
    )
    if info.http_url:
        console.print(f"  chain page {info.http_url}/ui/ (sign in with an analyst key)")
    console.print(f"  data dir   {info.data_dir}")
    console.print(f"  workers    {', '.join(map(str, info.workers))}")
    if info.raw_topics:
        console.print(f"  raw topics {', '.join(info.raw_topics)}")
    if stack.signals is not None:
        receivers = ", ".join(r.name for r in settings.ssf_receivers) or "none configured"
        console.print(
            f"  signals    {stack.signals.transmitter.issuer}"
            f"/.well-known/ssf-configuration (receivers: {receivers})"
        )
    console.print("Ctrl-C or `agentledger down` stops everything.")


@click.command()
@data_dir_option
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    help="Seconds to wait for the stop once drained.",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds the workers may take to write what the embedded broker still holds before "
    "it stops [default AGENTLEDGER_DRAIN_TIMEOUT_S, 60]; 0 stops at once.",
)
def down(data_dir: Path | None, timeout: float, drain_timeout: float | None) -> None:
    """Stop the ledger started by `agentledger up`, after its workers wrote what the
    embedded broker holds (exit 1, naming what was lost, if they could not)."""
    settings = load_settings(data_dir=data_dir)
    info = require_state(settings.data_dir)
    drain_s = settings.drain_timeout_s if drain_timeout is None else drain_timeout
    request_stop(settings.data_dir, info.pid, drain_s)
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + drain_s + timeout
    while read_state(settings.data_dir) is not None:
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"pid {info.pid} still running after {drain_s + timeout:.0f}s"
            )
        time.sleep(0.1)
    report = read_stop_report(settings.data_dir, info.pid)
    if report is None:
        console.print(f"stopped (pid {info.pid}); it left no report of its drain")
        return
    console.print(f"stopped (pid {info.pid}): {report.get('message', '')}", highlight=False)
    if not report.get("drained"):
        sys.exit(EXIT_NOT_DRAINED)
