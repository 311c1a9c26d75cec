"""``agentledger model``: build the shipped drift model, judge it on domains it never saw,
and learn a deployment's baseline from its ledger."""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from agentledger.cli_common import console, data_dir_option, err_console, json_option, print_json
from kernel.config import load_settings

BENCHMARKS_SECTION = "## Drift model: `agentledger model evaluate`"


@click.group()
def model() -> None:
    """The drift model: build the default, evaluate it, train a deployment's baseline."""


@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    """A spinner that says which stage a long run is in (on stderr, so JSON stays clean)."""
    if quiet:
        yield lambda _: None
        return
    with err_console.status("starting") as status:
        began = time.monotonic()

        def say(stage: str) -> None:
            status.update(f"{stage} ({time.monotonic() - began:.0f} s)")

        yield say


@model.command("build-default")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write to [default: the package's models/default/].",
)
@json_option
def build_default_command(out: Path | None, as_json: bool) -> None:
    """Train the shipped default model (fixed seed) on the generator's training domains."""
    from models.building import build_default
    from models.corpus import training_scenarios
    from models.store import DEFAULT_DIR

    with _progress(as_json) as say:
        say("generating the training scenarios")
        scenarios = training_scenarios()
        card = build_default(scenarios, out or DEFAULT_DIR, progress=say)
    if as_json:
        print_json(card)
    else:
        console.print(
            f"built {card['version']}: {card['sessions']} sessions, {card['actions']} actions "
            f"from {len(card['domains'])} domains; threshold {card['threshold']:.3f}"
        )


@model.command("evaluate")
@json_option
@click.option(
    "--write-benchmarks",
    is_flag=True,
    help="Add a row of the figures (with the seeds and the machine) to BENCHMARKS.md's "
    "drift section, keeping the earlier rows and notes.",
)
@click.option(
    "--benchmarks-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("BENCHMARKS.md"),
    show_default=True,
)
@click.option("--seed", type=int, default=None, help="Seed of the test domains' sessions.")
@click.option("--sample-seed", type=int, default=None, help="Seed of the sample traffic.")
@click.option("--sample-sessions", type=int, default=2000, show_default=True)
@click.option(
    "--benign-budget",
    type=float,
    default=None,
    help="Share of benign sessions the threshold may contract on training domains held "
    "out of the fit [default: models.evaluation.BENIGN_BUDGET].",
)
@click.option(
    "--dev",
    is_flag=True,
    help="Iterate without the test domains: cross-validate on the training domains and "
    "replay sample traffic of a development seed (never written to BENCHMARKS.md).",
)
def evaluate_command(
    as_json: bool,
    write_benchmarks: bool,
    benchmarks_file: Path,
    seed: int | None,
    sample_seed: int | None,
    sample_sessions: int,
    benign_budget: float | None,
    dev: bool,
) -> None:
    """Leave-domains-out on the scenario generator (trained on some domains, tested on
    domains never seen in training), then out of distribution on the sample traffic."""
    from agentledger.drift_sample import DEV_SEED, TEST_SEED, replay_sample_traffic
    from models.corpus import TEST_SEED as SCENARIO_TEST_SEED
    from models.corpus import split as corpus_split
    from models.corpus import test_scenarios, training_scenarios
    from models.evaluation import BENIGN_BUDGET, develop, evaluate

    if dev and write_benchmarks:
        raise click.UsageError("--dev figures are for iterating; they are not benchmarks")
    budget = BENIGN_BUDGET if benign_budget is None else benign_budget
    with _progress(as_json) as say:
        say("generating the training scenarios")
        pool = training_scenarios()
        split = corpus_split(pool)
        if dev:
            result, scorer = develop(pool, split, progress=say, budget=budget)
            traffic_seed = DEV_SEED if sample_seed is None else sample_seed
        else:
            say("generating the test scenarios")
            test_seed = SCENARIO_TEST_SEED if seed is None else seed
            tests = test_scenarios(test_seed)
            result, scorer = evaluate(pool, tests, split, progress=say, budget=budget)
            result["seed"] = test_seed
            traffic_seed = TEST_SEED if sample_seed is None else sample_seed
        say(f"replaying {sample_sessions} sessions of sample traffic")
        result["sample_traffic"] = replay_sample_traffic(
            scorer, sessions=sample_sessions, seed=traffic_seed
        )
    if write_benchmarks:
        write_benchmarks_section(benchmarks_file, result)
    if as_json:
        print_json(result)
        return
    _print_evaluation(result)


def _print_evaluation(result: dict[str, Any]) -> None:
    delay = result["detection_delay"]
    worst = result["worst_slice"]
    split = result["split"]
    where = (
        f"test domains {', '.join(split['test_domains'])} ({split['test_sessions']} sessions, "
        f"seed {result.get('seed')})"
        if "test_domains" in split
        else f"training domains in {split['folds']} folds (development figures)"
    )
    console.print(
        f"{where}, {result['actions']} actions\n"
        f"recall {result['recall']}  precision {result['precision']}  "
        f"benign sessions contracted {result['benign_sessions_contracted']:.2%}\n"
        f"detection delay: {delay['actions_mean']} drifting actions, "
        f"{delay['seconds_mean']} s (mean); {delay['missed_sessions']} of "
        f"{delay['drifting_sessions']} drifting sessions never flagged\n"
        f"worst slice {worst['slice']}: recall {worst['recall']} (n={worst['n']})"
        + (
            f"\nscoring {result['scoring_us_per_action']} µs/action"
            if "scoring_us_per_action" in result
            else ""
        )
    )
    for name, slices in result["by"].items():
        parts = ", ".join(f"{k} {v['recall']}" for k, v in slices.items())
        console.print(f"  by {name}: {parts}", soft_wrap=True)
    traffic = result["sample_traffic"]
    console.print(
        f"sample traffic (seed {traffic['seed']}): {traffic['scored_actions']} actions in "
        f"{traffic['scored_sessions']} sessions; benign sessions contracted "
        f"{traffic['benign_sessions_contracted']:.2%} (within the task only: "
        f"{traffic['within_task_sessions_contracted']:.2%}); autonomous actions flagged "
        f"{traffic['autonomous_recall']}; stage {traffic['stage_us_per_action']} µs/action"
    )
    for reason, count in traffic["top_benign_reasons"]:
        console.print(f"  {count:>5}  {reason}", soft_wrap=True)


@model.command("train")
@data_dir_option
@click.option("--clickhouse", help="Read a ClickHouse server instead of the data directory's.")
@json_option
def train_command(data_dir: Path | None, clickhouse: str | None, as_json: bool) -> None:
    """Learn each agent's baseline from the ledger's history; write a new model under
    DATA_DIR/models/ that the worker loads at its next start."""
    from ledger.queries import agent_history
    from models.baseline import fit_baselines
    from models.store import write_deployment_model

    settings = load_settings(data_dir=data_dir, clickhouse_url=clickhouse)
    with _progress(as_json) as say:
        say("reading the ledger's history")
        with _history_store(settings) as store:
            history = agent_history(store)
        say(f"fitting baselines on {len(history)} actions")
        baselines = fit_baselines(history)
        path = write_deployment_model(settings.data_dir, baselines)
    from models.store import load_model

    version = load_model(path).version
    result = {
        "version": version,
        "path": str(path),
        "actions": len(history),
        "agents": {
            agent: {
                "sessions": b.sessions,
                "tools": len(b.tools),
                "accesses": sorted(b.kinds),
                "session_calls_p99": b.session_calls_p99,
            }
            for agent, b in sorted(baselines.items())
        },
    }
    if as_json:
        print_json(result)
    else:
        console.print(
            f"wrote {path} ({version}): baselines of {len(baselines)} agents "
            f"from {len(history)} actions"
        )


def _history_store(settings: Any) -> Any:
    """The ClickHouse server given, else the running ledger (as the analyst), else the
    data directory's embedded ledger opened here (when nothing else holds it)."""
    from agentledger.client import analyst_store
    from agentledger.stack_state import read_state
    from ledger.factory import open_store

    if settings.clickhouse_url:
        return open_store(settings)
    info = read_state(settings.data_dir)
    if info is not None:
        return analyst_store(settings, info)
    return open_store(settings)


def write_benchmarks_section(path: Path, result: dict[str, Any]) -> None:
    """Add these figures to the drift model's section of BENCHMARKS.md: a new row in each of
    its tables and the new figures' details under them, earlier rows and notes kept (the
    section's introduction is rewritten, for the seed). Writes the section when it is
    missing."""
    import platform

    import psutil

    delay = result["detection_delay"]
    worst = result["worst_slice"]
    split = result["split"]
    machine = (
        f"{psutil.cpu_count(logical=True)} cores, "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB, CPython {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    by_threat = ", ".join(
        f"{k} {v['recall']} (n={v['n']})" for k, v in result["by"]["threat"].items()
    )
    by_domain = ", ".join(
        f"{k} {v['recall']} (n={v['n']})" for k, v in result["by"]["domain"].items()
    )
    caught = 1 - delay["missed_sessions"] / max(1, delay["drifting_sessions"])
    target = (
        "met"
        if (result["recall"] or 0) >= 0.95 and result["benign_sessions_contracted"] <= 0.02
        else "not met"
    )
    wrap = textwrap.fill
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    intro = wrap(
        "Leave-domains-out on the project's own scenario generator: trained on "
        f"{', '.join(split['train_domains'])}; tested on "
        f"{', '.join(split['test_domains'])} (never seen in training). Attack styles "
        "held out of training too: "
        f"{', '.join(split['held_out_styles']) or 'none labelled'}; phrasings held out: "
        f"{', '.join(split['held_out_phrasings']) or 'none labelled'}. The threshold is "
        "chosen on training domains held out of the fit, for at most "
        f"{result.get('benign_budget', 0.01):.1%} of benign sessions contracted. The test "
        f"domains' sessions are drawn with seed {result.get('seed', '-')}, one no "
        "development looked at. Recall counts drifting actions, so the many calls of an "
        "excessive-agency spree weigh most; the share of drifting sessions caught and "
        "the recall per threat say more about the rarer threats.",
        92,
    )
    header = [
        "| date | test sessions | drifting actions | recall | precision | benign sessions "
        "contracted | delay (drifting actions / s, mean) | drifting sessions caught | "
        "worst slice | µs/action (score / with trail updates) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    row = (
        f"| {today} | {split['test_sessions']:,} | "
        f"{result['drifting_actions']:,} | {result['recall']} | {result['precision']} | "
        f"{result['benign_sessions_contracted']:.2%} | {delay['actions_mean']} / "
        f"{delay['seconds_mean']} | {caught:.1%} ({delay['missed_sessions']} of "
        f"{delay['drifting_sessions']} missed) | {worst['slice']} {worst['recall']} "
        f"(n={worst['n']}) | "
        f"{result['scoring_us_per_action']} / {result.get('session_us_per_action', '-')} |"
    )
    details = [
        wrap(
            f"The {today} row (seed {result.get('seed', '-')}): recall by threat: {by_threat}.",
            92,
        ),
        "",
        wrap(f"Recall by test domain: {by_domain}.", 92),
        "",
        wrap(
            f"Held-out attack styles: recall {result.get('held_out_styles_recall')}. "
            "Against the targets (recall ≥ 0.95 of drifting actions with ≤ 2% of benign "
            f"sessions contracted): {target}. Machine: {machine}.",
            92,
        ),
        "",
    ]
    traffic = result.get("sample_traffic")
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(BENCHMARKS_SECTION)}\n.*?(?=^## |\Z)", re.M | re.S)
    found = pattern.search(text)
    if found is None:
        lines = [
            BENCHMARKS_SECTION,
            "",
            "```sh",
            "agentledger model evaluate --write-benchmarks",
            "```",
            "",
            intro,
            "",
            *header,
            row,
            "",
            *details,
            *_sample_traffic_lines(traffic, today, fresh=True),
        ]
        path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))
        return
    section = found.group(0).split("\n")
    section = _with_intro(section, intro)
    section = _with_row(
        section, "| date | test sessions |", row, details, ["", *header, row, "", *details]
    )
    if traffic:
        sample = _sample_traffic_lines(traffic, today, fresh=False)
        whole = _sample_traffic_lines(traffic, today, fresh=True)
        section = _with_row(section, "| date | seed |", sample[0], sample[1:], whole)
    path.write_text(text[: found.start()] + "\n".join(section) + text[found.end() :])


def _with_intro(section: list[str], intro: str) -> list[str]:
    """``section`` with its "Leave-domains-out ..." paragraph replaced by ``intro``."""
    start = next((i for i, line in enumerate(section) if line.startswith("Leave-domains-out")), -1)
    if start < 0:
        return section
    end = next((i for i in range(start, len(section)) if not section[i].strip()), len(section))
    return [*section[:start], *intro.split("\n"), *section[end:]]


def _with_row(
    section: list[str], header: str, row: str, after: list[str], block: list[str]
) -> list[str]:
    """``section`` with ``row`` added as the last row of the table whose header starts with
    ``header`` and the lines ``after`` under that table (before what was there); without
    such a table, ``block`` (a whole table and its notes) is appended."""
    start = next((i for i, line in enumerate(section) if line.startswith(header)), -1)
    if start < 0:
        return [*section, *block]
    end = start
    while end < len(section) and section[end].startswith("|"):
        end += 1
    rest = section[end + 1 :] if end < len(section) and not section[end].strip() else section[end:]
    return [*section[:end], row, "", *after, *rest]


def _sample_traffic_lines(traffic: dict[str, Any] | None, today: str, *, fresh: bool) -> list[str]:
    """The out-of-distribution report: the sample traffic, stitched and scored as the
    worker does. ``fresh``: the whole report, as a new section has it; else its table row
    first, then the notes that go under the table."""
    if not traffic:
        return []
    wrap = textwrap.fill
    met = "met" if traffic["benign_sessions_contracted"] <= 0.02 else "not met"
    reasons = "; ".join(f"{count} × {reason}" for reason, count in traffic["top_benign_reasons"])
    row = (
        f"| {today} | {traffic['seed']} | "
        f"{traffic['scored_sessions']:,} | {traffic['scored_actions']:,} | "
        f"{traffic['benign_sessions_contracted']:.2%} (of {traffic['benign_sessions']:,}) | "
        f"{traffic['within_task_sessions_contracted']:.2%} (of "
        f"{traffic['within_task_sessions']:,}) | {traffic['autonomous_recall']} (n="
        f"{traffic['autonomous_actions']}) | {traffic['extra_step_actions_flagged']} (n="
        f"{traffic['extra_step_actions']}) | {traffic['stage_us_per_action']} |"
    )
    notes = [
        wrap(
            f"{today}: against the target (≤ 2% of benign sessions contracted): {met}. Most "
            f"frequent first reasons on benign sessions: {reasons or 'none'}.",
            92,
        ),
        "",
    ]
    if not fresh:
        return [row, *notes]
    return [
        wrap(
            "Out of distribution: the project's sample traffic (`agentledger.sampledata`, "
            "written before the drift model and never used to build it: Okta grants, MCP "
            "calls whose intent the client asserted or declared, CloudTrail calls made with "
            "the agent's STS keys), stitched and scored as the worker does. A session is "
            "benign when attribution labels none of its actions `agent_autonomous` (the "
            "steps an agent adds beyond the tools its client declared). Where the client "
            "only asserted its intent, attribution cannot tell those added steps; the "
            "sessions free of them are counted apart (within the task).",
            92,
        ),
        "",
        "| date | seed | sessions | actions | benign sessions contracted | within-task "
        "sessions contracted | autonomous actions flagged | added steps flagged | stage "
        "µs/action |",
        "|---|---|---|---|---|---|---|---|---|",
        row,
        "",
        *notes,
    ]
