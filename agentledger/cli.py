"""The ``agentledger`` command."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from agentledger.cli_common import (
    console,
    data_dir_option,
    err_console,
    json_option,
    print_json,
)
from agentledger.cli_dashboards import dashboards
from agentledger.cli_export import export
from agentledger.cli_gateway import gateway
from agentledger.cli_ingest import ingest
from agentledger.cli_keys import keys
from agentledger.cli_ledger import actions, contractions, explain, sessions
from agentledger.cli_model import model
from agentledger.cli_native import native_group
from agentledger.cli_page import page
from agentledger.cli_query import (
    BENCH_MAX_RUNS,
    DEFAULT_BENCH_ACTIONS,
    DEFAULT_BENCH_MIN_SECONDS,
    DEFAULT_BENCH_REPEAT,
    query,
    query_bench,
)
from agentledger.cli_stack import down, up
from agentledger.cli_verify import verify
from agentledger.stack_state import normalizer_counts, read_state
from kernel.config import Settings, load_settings
from kernel.errors import LedgerError, StackError


class LedgerGroup(click.Group):
    """Turns product errors into one clear line and exit status 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True, highlight=False)
            sys.exit(2)


@click.group(cls=LedgerGroup)
@click.version_option(package_name="agentledger")
def main() -> None:
    """Agent Ledger: who did it, for whom, under which intent, and with what outcome."""


main.add_command(keys)
main.add_command(gateway)
main.add_command(sessions)
main.add_command(actions)
main.add_command(explain)
main.add_command(contractions)
main.add_command(model)
main.add_command(export)
main.add_command(page)
main.add_command(dashboards)
main.add_command(query)
main.add_command(verify)
main.add_command(up)
main.add_command(down)
main.add_command(ingest)
main.add_command(native_group)


@main.command()
@data_dir_option
@json_option
def status(data_dir: Path | None, as_json: bool) -> None:
    """What runs and where."""
    settings = load_settings(data_dir=data_dir)
    info = read_state(settings.data_dir)
    if info is None:
        if as_json:
            print_json({"running": False, "data_dir": str(settings.data_dir.resolve())})
        else:
            console.print(f"not running (data dir {settings.data_dir.resolve()})")
        sys.exit(1)
    payload = {"running": True, **info.as_json()}
    if info.raw_topics:
        payload["normalized"] = normalizer_counts(settings.data_dir, info.raw_topics)
    if as_json:
        print_json(payload)
        return
    for key, value in payload.items():
        if key == "normalized":
            value = "; ".join(
                f"{topic} ({c['source']}): {c['records']} normalized, "
                f"{c['dead_lettered']} dead-lettered"
                for topic, c in value.items()
            )
        elif key == "raw_topics":
            value = ", ".join(value)
        console.print(f"{key:<16} {value}")


@main.command()
@data_dir_option
@click.option(
    "--clickhouse", help="Rebuild a ClickHouse server's ledger instead of the embedded one."
)
@click.option(
    "--unverified",
    is_flag=True,
    help="Rebuild even if the records do not verify (`agentledger verify`).",
)
@json_option
def rebuild(data_dir: Path | None, clickhouse: str | None, unverified: bool, as_json: bool) -> None:
    """Rebuild sessions, actions and credentials from raw_events (workers stopped); only
    from records that verify, unless --unverified."""
    from agentledger.client import use_fingerprint_key
    from ledger.factory import embedded_path, open_store
    from processors.evidence import EVIDENCE_KEYS_FILE, published_keys
    from processors.rebuild import rebuild as rebuild_ledger

    settings = load_settings(data_dir=data_dir, clickhouse_url=clickhouse)
    use_fingerprint_key(settings)  # parsers link tokens by fingerprint (GitHub's hashed_token)
    if not settings.clickhouse_url:  # the embedded ledger: this process must own it
        running = read_state(settings.data_dir)
        if running is not None:
            raise StackError(
                f"the ledger at {settings.data_dir} is running (pid {running.pid}); its workers "
                "hold stitching state that a rebuild replaces: `agentledger down` first"
            )
        if not embedded_path(settings).is_dir():
            raise StackError(f"no ledger at {settings.data_dir.resolve()}")
    with open_store(settings) as store:
        keys_file = (settings.evidence_dir or settings.data_dir) / EVIDENCE_KEYS_FILE
        report = rebuild_ledger(
            store,
            public_keys=None if unverified else published_keys(keys_file),
            window=timedelta(seconds=settings.session_window_s),
            restitch=timedelta(seconds=settings.restitch_window_s),
        )
    if as_json:
        print_json(report.as_json())
    else:
        console.print(
            f"rebuilt {report.events} events into {report.sessions} sessions"
            + (f"; {report.unparseable} raw records no longer parse" if report.unparseable else "")
        )


@main.command()
@data_dir_option
@click.option(
    "--sessions", "session_count", default=40, show_default=True, help="Sessions to generate."
)
@json_option
def demo(data_dir: Path | None, session_count: int, as_json: bool) -> None:
    """Run the whole path on the embedded stack with generated agent sessions."""
    from agentledger.demo import run_demo

    settings = load_settings(data_dir=data_dir)
    asyncio.run(run_demo(settings, session_count, console=console, as_json=as_json))


@main.command()
@click.option(
    "--events", "event_count", default=200_000, show_default=True, help="Records to push."
)
@click.option(
    "--contractions",
    "measure_contractions",
    is_flag=True,
    help="Measure instead how long a drifting action takes to become a contraction on "
    "<prefix>.contractions, while background traffic flows.",
)
@click.option(
    "--background-eps",
    default=5_000,
    show_default=True,
    help="With --contractions: events a second of other traffic.",
)
@click.option(
    "--sessions",
    "drifting_sessions",
    default=40,
    show_default=True,
    help="With --contractions: drifting sessions played, one every --spacing seconds.",
)
@click.option("--spacing", default=0.5, show_default=True, help="With --contractions: seconds.")
@click.option(
    "--warmup",
    "warmup_s",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="With --contractions: seconds of background alone before the first drifting session.",
)
@click.option(
    "--background-sources",
    default="okta,cloudtrail,mcp",
    show_default=True,
    help="With --contractions: the sources of the background traffic, comma-separated (MCP "
    "traffic shares the drifting calls' lane, ledger.events.calls; the others do not).",
)
@click.option(
    "--live-times/--backlog-times",
    default=None,
    help="Event times advance as fast as the records are played, in time order and from as "
    "many people as the rate needs, as live traffic's do; or span days, each session's "
    "records together, as a backlog's. [default: live with --contractions, else backlog]",
)
@click.option(
    "--scoring/--no-scoring",
    default=True,
    show_default=True,
    help="Score actions for drift on the stream (compare events/s with and without).",
)
@click.option(
    "--ceiling/--no-ceiling",
    "measure_ceiling",
    default=None,
    help="After the run, time a bare consume of its events and a bare columnar insert of "
    "its rows, and give events/s as a share of that ceiling (the default; --no-ceiling skips "
    "it). A running ledger needs AGENTLEDGER_WRITER_PASSWORD for the insert.",
)
@click.option(
    "--codecs",
    "measure_codecs",
    is_flag=True,
    help="Time instead what each record-batch codec (AGENTLEDGER_KAFKA_COMPRESSION) costs "
    "to produce and to read the --events' records, and the bytes it sends; no broker.",
)
@click.option(
    "--stage",
    "measure_stage",
    is_flag=True,
    help="Time instead the drift stage alone, in this process, over the --events' records "
    "stitched beforehand: its least CPU per scored action of --repeat passes [default 3], "
    "and a digest of its drift rows and contractions (the same digest, the same scores).",
)
@click.option(
    "--queries",
    "measure_queries",
    is_flag=True,
    help="Time the saved analyst queries and dashboard panels through the SQL endpoint on "
    "a generated scratch ledger instead.",
)
@click.option(
    "--actions",
    "query_actions",
    type=click.IntRange(min=1),
    default=None,
    help=f"With --queries: actions generated [default {DEFAULT_BENCH_ACTIONS:,}].",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=None,
    help="With --queries: timed runs of each query at least, after a first run timed "
    f"apart [default {DEFAULT_BENCH_REPEAT}]. With --stage: passes over the batches.",
)
@click.option(
    "--min-time",
    "min_seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="With --queries: a fast query goes on running until it has been timed this many "
    f"seconds, up to {BENCH_MAX_RUNS} runs [default {DEFAULT_BENCH_MIN_SECONDS:g}].",
)
@click.option(
    "--scoring-pairs",
    "scoring_pairs",
    type=click.IntRange(min=1),
    default=None,
    help="Measure instead what scoring costs end to end: this many pairs of runs of --events, "
    "with and without scoring, each on a fresh stack in a process of its own, the order "
    "alternating; the share of events/s scoring took per pair, their mean and median, and "
    "the CPU each process spent more.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=None,
    help="Workers of the ledger the bench starts [default: AGENTLEDGER_WORKERS, 1]; "
    "one stitches, the others stand by.",
)
@data_dir_option
@json_option
def bench(
    event_count: int,
    measure_contractions: bool,
    background_eps: int,
    drifting_sessions: int,
    spacing: float,
    background_sources: str,
    warmup_s: float,
    live_times: bool | None,
    scoring: bool,
    measure_ceiling: bool | None,
    measure_codecs: bool,
    measure_stage: bool,
    measure_queries: bool,
    query_actions: int | None,
    repeat: int | None,
    min_seconds: float | None,
    scoring_pairs: int | None,
    workers: int | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Push generated records through the full path and measure it end to end."""
    if live_times is not None and (
        scoring_pairs is not None or measure_codecs or measure_stage or measure_queries
    ):
        raise click.UsageError("--live-times/--backlog-times go with --events or --contractions")
    if scoring_pairs is not None:
        others = measure_codecs or measure_stage or measure_queries or measure_contractions
        query_options = (query_actions, repeat, min_seconds)
        if (
            others
            or not scoring
            or measure_ceiling
            or workers is not None
            or any(option is not None for option in query_options)
        ):
            raise click.UsageError("--scoring-pairs is a bench of its own: give it with --events")
        if data_dir is not None:
            raise click.UsageError(
                "--scoring-pairs starts a fresh stack for each run; --data-dir is not used"
            )
        if event_count < 1:
            raise click.UsageError("--scoring-pairs needs --events of at least 1")
        pairs_bench(event_count, scoring_pairs, as_json)
        return
    if measure_codecs:
        if measure_queries or measure_contractions:
            raise click.UsageError("--codecs is a bench of its own: give it alone")
        if event_count < 1:
            raise click.UsageError("--codecs needs --events of at least 1")
        codec_bench(event_count, as_json)
        return
    if measure_stage:
        if measure_queries or measure_contractions or not scoring:
            raise click.UsageError("--stage is a bench of its own, with scoring: give it alone")
        if event_count < 1:
            raise click.UsageError("--stage needs --events of at least 1")
        stage_bench(load_settings(data_dir=data_dir), event_count, repeat or 3, as_json)
        return
    if measure_queries:
        if measure_contractions:
            raise click.UsageError("--queries and --contractions are two benches: give one")
        query_bench(query_actions, repeat, min_seconds, as_json)
        return
    if query_actions is not None or repeat is not None or min_seconds is not None:
        raise click.UsageError("--actions, --repeat and --min-time go with --queries")
    from agentledger.bench import run_bench
    from agentledger.bench_ceiling import ceiling_lines
    from agentledger.bench_drift import background_sources_of

    settings = load_settings(data_dir=data_dir)
    settings = settings.model_copy(update={"drift_scoring": scoring})
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    options = None
    if measure_contractions:
        if not scoring:
            raise click.UsageError("--contractions needs scoring on")
        options = {
            "sessions": drifting_sessions,
            "background_eps": background_eps,
            "spacing_s": spacing,
            "background_sources": background_sources_of(background_sources),
            "warmup_s": warmup_s,
            "live_times": live_times is not False,
        }
        if measure_ceiling:
            raise click.UsageError("--ceiling measures the events bench, not --contractions")
    result = asyncio.run(
        run_bench(
            settings,
            event_count,
            console=None if as_json else err_console,
            contractions=options,
            ceiling=measure_ceiling is not False,
            live_times=bool(live_times),
        )
    )
    if as_json:
        print_json(result)
        return
    for key, value in result.items():
        if key != "ceiling":
            console.print(f"{key:<14} {value}")
    if "ceiling" in result:
        for line in ceiling_lines(result["ceiling"], result["events_per_s"]):
            console.print(line, highlight=False)


def stage_bench(settings: Settings, event_count: int, passes: int, as_json: bool) -> None:
    """``bench --stage``: the drift stage's CPU per scored action, and its output's digest
    (with the model and policy of the settings' data directory)."""
    from agentledger.bench_stage import run_stage_bench

    with err_console.status(f"stitching {event_count:,} records' events, then scoring them"):
        result = run_stage_bench(event_count, passes, settings)
    if as_json:
        print_json(result)
        return
    cpu = result["stage_cpu_us_per_action"]
    console.print(
        f"{result['actions_scored']:,} actions scored: least {cpu['least']} µs CPU an action "
        f"(passes {', '.join(map(str, cpu['passes']))}); digest {result['digest']}",
        highlight=False,
    )


def pairs_bench(event_count: int, pairs: int, as_json: bool) -> None:
    """``bench --scoring-pairs``: the share of events/s scoring takes, over alternating
    pairs of whole runs."""
    from agentledger.bench_pairs import run_pairs, summary_lines

    def progress(index: int, scoring: bool, result: dict[str, Any]) -> None:
        err_console.print(
            f"pair {index + 1}/{pairs} {'with' if scoring else 'without'} scoring: "
            f"{result['events_per_s']:,} events/s",
            highlight=False,
        )

    result = run_pairs(event_count, pairs, progress=progress)
    if as_json:
        print_json(result)
        return
    for line in summary_lines(result, pairs):
        console.print(line, highlight=False)


def codec_bench(event_count: int, as_json: bool) -> None:
    """``bench --codecs``: each codec's CPU to produce and read the records, and its bytes."""
    from agentledger.bench_codecs import run_codec_bench

    with err_console.status(f"generating {event_count:,} records and timing each codec"):
        result = run_codec_bench(event_count)
    if as_json:
        print_json(result)
        return
    console.print(
        f"{result['messages']:,} messages, {result['bytes_uncompressed'] / 1e6:,.1f} MB as sent "
        "uncompressed"
    )
    for name, figures in result["codecs"].items():
        console.print(
            f"{name:<7} produce {figures['produce_cpu_s']:>7.2f} s CPU  read "
            f"{figures['read_cpu_s']:>6.2f} s CPU  {figures['bytes'] / 1e6:>8.1f} MB  "
            f"ratio {figures['ratio']:>5.2f}",
            highlight=False,
        )


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run one Faust worker (settings from AGENTLEDGER_* variables)."""
    from processors.worker import main as worker_main

    sys.argv = ["agentledger-worker", "worker", "-l", "info", "--without-web", *ctx.args]
    worker_main()
