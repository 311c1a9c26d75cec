"""``agentledger ingest``: read files into the ledger and report what the ledger holds."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from agentledger.cli_common import console, data_dir_option, err_console, json_option, print_json
from agentledger.ingest_wait import DEFAULT_WAIT_TIMEOUT_S
from agentledger.stack_state import require_state
from ingest.registry import SOURCES
from kernel.config import Settings, load_settings
from kernel.errors import LedgerError
from kernel.topics import Topics

EXIT_NOT_IN_LEDGER = 3  # sent, but the ledger did not hold it all in time


def _target(data_dir: Path | None, kafka: str | None) -> tuple[str, Topics, Settings, int | None]:
    """The broker, topics and settings to ingest with, and the pid of the `up` to watch
    (none for a cluster given with --kafka)."""
    settings = load_settings(data_dir=data_dir, kafka=kafka)
    if settings.kafka:
        return settings.kafka, Topics(settings.topic_prefix), settings, None
    info = require_state(settings.data_dir)
    return info.bootstrap, Topics(info.topic_prefix), settings, info.pid


@click.command()
@click.option(
    "--source",
    "source_name",
    required=True,
    type=click.Choice(sorted(SOURCES)),
    help="Format of the records.",
)
@click.argument("paths", nargs=-1, required=True)
@data_dir_option
@click.option(
    "--kafka", help="Produce to this Kafka cluster instead of the running ledger's broker."
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait until the ledger holds every event sent (the workers committed past it); "
    "--no-wait returns once the broker has them.",
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the ledger; then exit 3 naming what it does not hold yet.",
)
@json_option
def ingest(
    source_name: str,
    paths: tuple[str, ...],
    data_dir: Path | None,
    kafka: str | None,
    wait: bool,
    wait_timeout: float,
    as_json: bool,
) -> None:
    """Read PATHS and send every record into the ledger; report what the ledger holds.

    A PATH is a file, a directory or - for stdin; gzip is read as such, whatever the name.
    A directory is read recursively, oldest file first (by the time in a CloudTrail S3
    object's name or another timestamp in the name, else the file's modification time),
    skipping hidden files and files that are no logs (README, *.md, *.csv, *.tsv, …) and
    CloudTrail digests: `agentledger ingest --source cloudtrail AWSLogs/` reads an S3 sync.
    A corrupt gzip keeps what was read before the break; the break goes to the dead letters.

    By default the command returns once the workers have written every event it sent (or
    skipped it as a duplicate, or dead-lettered it): exit 0 means the ledger holds them.
    """
    from agentledger.ingest_wait import run_ingest
    from ingest.files import collect_inputs
    from kernel.priority import yield_to_stitching
    from kernel.procs import tune_gc_for_throughput

    tune_gc_for_throughput()
    try:
        inputs = collect_inputs(paths)  # a wrong path is named before anything else is asked
        bootstrap, topics, settings, pid = _target(data_dir, kafka)
        yield_to_stitching(settings.ingest_nice)  # the broker holds what it sends
        outcome = asyncio.run(
            run_ingest(
                bootstrap,
                topics,
                settings,
                source_name,
                inputs,
                stack_pid=pid,
                wait_timeout=wait_timeout if wait else None,
                console=None if as_json or not err_console.is_terminal else err_console,
            )
        )
    except LedgerError as exc:
        if not as_json:
            raise
        # A script reading --json always gets an object, never nothing.
        print_json({"error": str(exc), "in_ledger": False, **getattr(exc, "details", {})})
        sys.exit(2)
    if as_json:
        print_json(outcome.as_json())
    else:
        for line in outcome.lines():
            console.print(line, highlight=False, soft_wrap=True)
        for reason, count in outcome.report.reasons.most_common():
            console.print(f"  {count:>6}  {reason}  (first at {outcome.report.examples[reason]})")
    if outcome.wait is not None and not outcome.wait.complete:
        sys.exit(EXIT_NOT_IN_LEDGER)
    if outcome.report.rejected and not outcome.report.accepted:
        sys.exit(1)
