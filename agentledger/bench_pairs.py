"""What scoring costs end to end: ``agentledger bench --scoring-pairs N``.

Scoring on the stream should cost at most a tenth of the events a second the pipeline takes
without it. One pair of runs says little: on a shared two-core machine the same command
varies by more than a tenth from one run to the next, and a slow spell can fall on either
side. So this runs N pairs, each run a whole ``agentledger bench --no-ceiling`` in a process
of its own on a fresh embedded stack, one with scoring and one without, the order
alternating from pair to pair. Each pair's share is the events a second that scoring took
(``1 - with / without``); the figure is their mean, with the median and the range beside
it, and the CPU seconds each process spent more with scoring (where the cost lands: the
worker's drift stage, the ledger's drift rows and their merges).

A mean of a few pairs moves by several points from one run of them to the next, so the
summary also gives the mean's 95% interval (Student's t over the pairs' shares) and a
verdict: ``within`` the bar only if the whole interval is, ``over`` only if the whole
interval is above it, else ``undecided`` (more pairs, or a clearer margin, would tell).

Where the added time lands (``seconds_added``: each phase's mean seconds more with scoring)
says what a cut has to reach. The intake (records pushed while the stack takes them in)
keeps both cores busy either way; the tail (the stack finishing what it holds) is the worker
working off its backlog on one core. At 200,000 events about four fifths of what scoring
added to a run was tail, and a pair's added seconds followed the worker's added CPU
(BENCHMARKS.md): the ledger's share of the added CPU shows only in the intake.

Each side's stack peaks (``peak_rss_mb``: the median and the most of the whole stack's, and
each process's most) are kept too, since the memory bar holds for every run; and the drift
stage's cost an action as the workers measured it in the stream (``stage_us_per_action``).

Every run of one side does the same work, so how far the worker's CPU seconds for it range
from run to run (``worker_cpu_spread``: the most over the least, less one) says how uneven
the machine itself was in that hour: on the same two cores one hour gave 13% over twelve
runs, another 27% over six, where a share of a few points was being read.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

BAR = 0.10  # the share of events/s scoring may take
# Student's t, two-sided 95%, for 1 to 30 degrees of freedom; beyond, the normal's 1.960.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
# What each run keeps of the bench's JSON: its figures, whether it scored (the bench's own
# word, not the flag it was given), and whether the hot path ran compiled (a pair of one
# compiled and one plain run compares nothing).
_KEPT = (
    "events_per_s",
    "seconds",
    "produce_seconds",
    "cpu_seconds",
    "phases",
    "peak_rss_mb",
    "peak_rss_mb_by_process",
    "drift_scoring",
    "scoring_us_per_action",
    "scoring_stage_us_per_action",
    "compiled_hot_path",
)

Runner = Callable[[int, bool], dict[str, Any]]


def run_one(events: int, scoring: bool) -> dict[str, Any]:
    """One ``agentledger bench --no-ceiling --json`` in a process of its own, on a stack it
    starts in a fresh data directory (never a ledger already running, whose worker scores
    or not as it was started, nor one the runs before filled)."""
    with tempfile.TemporaryDirectory(prefix="agentledger-pairs-") as data_dir:
        command = [sys.executable, "-m", "agentledger", "bench", "--events", str(events)]
        command += ["--data-dir", data_dir, "--no-ceiling", "--json"]
        command.append("--scoring" if scoring else "--no-scoring")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"the bench {'with' if scoring else 'without'} scoring failed "
            f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def share(with_scoring: float, without: float) -> float:
    """The share of events/s scoring took (negative: the run with scoring was faster)."""
    return 1.0 - with_scoring / without if without > 0 else 0.0


def run_pairs(
    events: int,
    pairs: int,
    runner: Runner = run_one,
    progress: Callable[[int, bool, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """``pairs`` pairs of runs of ``events`` events, with and without scoring, the first
    of each pair alternating; each run's figures and the summary."""
    if events < 1 or pairs < 1:
        raise ValueError("a pair needs at least one event and one pair")
    made: list[dict[str, Any]] = []
    for index in range(pairs):
        order = (True, False) if index % 2 == 0 else (False, True)
        runs: dict[bool, dict[str, Any]] = {}
        for scoring in order:
            result = runner(events, scoring)
            runs[scoring] = {key: result.get(key) for key in _KEPT}
            if progress is not None:
                progress(index, scoring, result)
        made.append(
            {
                "first": "with" if order[0] else "without",
                "with": runs[True],
                "without": runs[False],
                "share": round(share(runs[True]["events_per_s"], runs[False]["events_per_s"]), 4),
            }
        )
    return {"events": events, "pairs": made, **summarize(made)}


def summarize(pairs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The shares' mean, median and range, whether the mean is within ``BAR``, and the
    mean CPU seconds each process spent more with scoring than without."""
    shares = [pair["share"] for pair in pairs]
    roles = sorted(
        {
            role
            for pair in pairs
            for side in ("with", "without")
            for role in pair[side]["cpu_seconds"]
        }
    )
    added = {
        role: round(
            statistics.fmean(
                pair["with"]["cpu_seconds"].get(role, 0.0)
                - pair["without"]["cpu_seconds"].get(role, 0.0)
                for pair in pairs
            ),
            2,
        )
        for role in roles
    }
    added["total"] = round(sum(added.values()), 2)
    mean = statistics.fmean(shares)
    interval = mean_interval(shares)
    return {
        "share": {
            "mean": round(mean, 4),
            "median": round(statistics.median(shares), 4),
            "min": min(shares),
            "max": max(shares),
            "interval_95": [round(end, 4) for end in interval] if interval else None,
        },
        "within_bar": mean <= BAR,
        "verdict": verdict(interval),
        "bar": BAR,
        "cpu_seconds_added": added,
        "seconds_added": phase_seconds_added(pairs),
        "worker_cpu_spread": {side: cpu_spread(pairs, side) for side in ("with", "without")},
        "peak_rss_mb": {side: peaks(pairs, side) for side in ("with", "without")},
        "stage_us_per_action": stage_spread(pairs),
    }


def peaks(pairs: Sequence[dict[str, Any]], side: str) -> dict[str, Any] | None:
    """The stack's peak memory over the runs of ``side``: the median and the most, and each
    process's most (issue 13's bar is the whole stack's peak in every run, not its mean).
    ``None`` where no run reported one."""
    runs = [pair[side] for pair in pairs if pair[side].get("peak_rss_mb")]
    if not runs:
        return None
    stack = [float(run["peak_rss_mb"]) for run in runs]
    by_process: dict[str, float] = {}
    for run in runs:
        for role, mb in (run.get("peak_rss_mb_by_process") or {}).items():
            by_process[role] = max(by_process.get(role, 0.0), float(mb))
    return {
        "median": round(statistics.median(stack), 1),
        "max": round(max(stack), 1),
        "max_by_process": {role: round(mb, 1) for role, mb in sorted(by_process.items())},
    }


def stage_spread(pairs: Sequence[dict[str, Any]]) -> dict[str, float] | None:
    """The drift stage's CPU an action in the runs with scoring, as their workers measured
    it in the stream: the mean, the least and the most. Set beside ``bench --stage`` (the
    stage alone), it says how much of a change reached the stream and how much the hour's
    unevenness moved it. ``None`` where no run reported it."""
    reported = (pair["with"].get("scoring_stage_us_per_action") for pair in pairs)
    stage = [float(value) for value in reported if value]
    if not stage:
        return None
    return {
        "mean": round(statistics.fmean(stage), 1),
        "min": round(min(stage), 1),
        "max": round(max(stage), 1),
    }


def phase_seconds_added(pairs: Sequence[dict[str, Any]]) -> dict[str, float] | None:
    """The mean seconds the intake and the tail of a run took more with scoring than
    without, and the whole run's (``None`` where a run gave no phases)."""
    runs = [pair[side] for pair in pairs for side in ("with", "without")]
    if not pairs or any(not {"intake", "tail"} <= set(run.get("phases") or {}) for run in runs):
        return None

    def added(seconds: Callable[[dict[str, Any]], float]) -> float:
        return round(
            statistics.fmean(seconds(pair["with"]) - seconds(pair["without"]) for pair in pairs),
            2,
        )

    return {
        "intake": added(lambda run: float(run["phases"]["intake"]["seconds"])),
        "tail": added(lambda run: float(run["phases"]["tail"]["seconds"])),
        "run": added(lambda run: float(run["seconds"])),
    }


def cpu_spread(pairs: Sequence[dict[str, Any]], side: str, role: str = "worker") -> float | None:
    """How far ``role``'s CPU seconds ranged over the runs of ``side`` (``with`` or
    ``without``), the most over the least, less one (``None`` for fewer than two runs)."""
    reported = (float(pair[side]["cpu_seconds"].get(role, 0.0)) for pair in pairs)
    seconds = [value for value in reported if value > 0]
    if len(seconds) < 2:
        return None
    return round(max(seconds) / min(seconds) - 1, 4)


def mean_interval(shares: Sequence[float]) -> tuple[float, float] | None:
    """The 95% interval of the shares' mean (``None`` for fewer than two pairs)."""
    if len(shares) < 2:
        return None
    freedom = len(shares) - 1
    t = _T95[freedom - 1] if freedom <= len(_T95) else 1.960
    half = t * statistics.stdev(shares) / math.sqrt(len(shares))
    mean = statistics.fmean(shares)
    return mean - half, mean + half


def verdict(interval: tuple[float, float] | None) -> str:
    """``within`` or ``over`` the bar where the whole interval is, else ``undecided``."""
    if interval is None:
        return "undecided"
    low, high = interval
    if high <= BAR:
        return "within"
    if low > BAR:
        return "over"
    return "undecided"


def summary_lines(result: dict[str, Any], pairs: int) -> list[str]:
    """``run_pairs``' result as the lines the command prints without ``--json``."""
    spread = result["share"]
    interval = spread["interval_95"]
    lines = [
        f"scoring took {100 * spread['mean']:.1f}% of events/s (mean of {pairs} pairs; median "
        f"{100 * spread['median']:.1f}%, {100 * spread['min']:.1f}% to "
        f"{100 * spread['max']:.1f}%): the mean is "
        f"{'within' if result['within_bar'] else 'over'} the bar of {100 * result['bar']:.0f}%"
    ]
    where = (
        f"95% interval of the mean {100 * interval[0]:.1f}% to {100 * interval[1]:.1f}%"
        if interval
        else "one pair gives no interval"
    )
    lines.append(f"{where}: {result['verdict']}")
    added = ", ".join(f"{role} {cpu:+.2f}" for role, cpu in result["cpu_seconds_added"].items())
    lines.append(f"CPU seconds more with scoring (mean): {added}")
    longer = result["seconds_added"]
    if longer is not None:
        lines.append(
            f"seconds more with scoring (mean): intake {longer['intake']:+.2f}, "
            f"tail {longer['tail']:+.2f}, run {longer['run']:+.2f}"
        )
    spreads = result["worker_cpu_spread"]
    if spreads["without"] is not None and spreads["with"] is not None:
        lines.append(
            "the worker's CPU for the same work ranged by "
            f"{100 * spreads['without']:.0f}% over the runs without scoring and "
            f"{100 * spreads['with']:.0f}% over those with it (the machine's own unevenness)"
        )
    stage = result["stage_us_per_action"]
    if stage is not None:
        lines.append(
            f"the drift stage in the stream: {stage['mean']:.1f} µs an action (mean; "
            f"{stage['min']:.1f} to {stage['max']:.1f})"
        )
    for side in ("with", "without"):
        peak = result["peak_rss_mb"][side]
        if peak is not None:
            lines.append(
                f"the stack's peak {side} scoring: median {peak['median']:,.1f} MB, "
                f"at most {peak['max']:,.1f} MB"
            )
    return lines
