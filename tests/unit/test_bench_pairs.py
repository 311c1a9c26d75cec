"""``agentledger bench --scoring-pairs``: alternating pairs of whole runs, and what scoring
took of each pair's events/s."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from agentledger.bench_pairs import (
    _T95,
    BAR,
    cpu_spread,
    mean_interval,
    peaks,
    run_pairs,
    share,
    stage_spread,
    summarize,
    summary_lines,
    verdict,
)
from agentledger.cli import main


def _pair(with_eps: float, without_eps: float, worker: float, ledger: float) -> dict[str, Any]:
    return {
        "with": {"events_per_s": with_eps, "cpu_seconds": {"worker": worker, "ledger": ledger}},
        "without": {"events_per_s": without_eps, "cpu_seconds": {"worker": 7.0, "ledger": 3.5}},
        "share": round(share(with_eps, without_eps), 4),
    }


def test_a_share_is_what_scoring_took_of_the_events_a_second() -> None:
    assert share(9_000.0, 10_000.0) == pytest.approx(0.10)
    assert share(10_500.0, 10_000.0) == pytest.approx(-0.05)  # the run with scoring was faster
    assert share(1.0, 0.0) == 0.0


def test_the_summary_gives_the_spread_the_bar_and_where_the_cpu_went() -> None:
    pairs = [
        _pair(9_200.0, 10_000.0, 8.0, 3.9),  # 8%
        _pair(8_800.0, 10_000.0, 8.5, 4.0),  # 12%
        _pair(9_500.0, 10_000.0, 7.9, 3.6),  # 5%
    ]
    summary = summarize(pairs)
    assert summary["share"] == {
        "mean": 0.0833,
        "median": 0.08,
        "min": 0.05,
        "max": 0.12,
        "interval_95": [-0.0039, 0.1706],  # three pairs this far apart decide nothing
    }
    assert summary["within_bar"] is True and summary["bar"] == BAR
    assert summary["verdict"] == "undecided"
    assert summary["cpu_seconds_added"] == {"ledger": 0.33, "worker": 1.13, "total": 1.46}
    # The runs with scoring spent 7.9-8.5 s of worker CPU; those without, 7.0 each time.
    assert summary["worker_cpu_spread"] == {"with": 0.0759, "without": 0.0}
    over = summarize([*pairs, _pair(8_000.0, 10_000.0, 9.0, 4.5)])  # a fourth, 20%
    assert over["share"]["mean"] == pytest.approx(0.1125) and over["within_bar"] is False
    # These runs gave no phases, peaks or stage figures: nothing to say of them.
    assert summary["seconds_added"] is None
    assert summary["peak_rss_mb"] == {"with": None, "without": None}
    assert summary["stage_us_per_action"] is None


def _phased(pair: dict[str, Any], runs: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """``pair`` with each side's intake and tail seconds (``runs``), its run their sum."""
    for side, (intake, tail) in runs.items():
        pair[side] |= {
            "seconds": intake + tail,
            "phases": {"intake": {"seconds": intake}, "tail": {"seconds": tail}},
        }
    return pair


def test_the_summary_says_which_phase_of_a_run_scoring_lengthened() -> None:
    pairs = [
        _phased(_pair(9_000.0, 10_000.0, 8.0, 3.9), {"with": (19.5, 3.5), "without": (19.0, 1.5)}),
        _phased(_pair(9_400.0, 10_000.0, 8.0, 3.9), {"with": (18.0, 2.0), "without": (18.5, 1.0)}),
    ]
    assert summarize(pairs)["seconds_added"] == {"intake": 0.0, "tail": 1.5, "run": 1.5}
    # One run without phases (a bench of before they were kept): no figure rather than a
    # mean of some of the pairs.
    del pairs[1]["without"]["phases"]
    assert summarize(pairs)["seconds_added"] is None
    pairs[1]["without"]["phases"] = {"intake": {"seconds": 18.5}}  # and a run with half of them
    assert summarize(pairs)["seconds_added"] is None


def test_pairs_alternate_which_side_runs_first_and_keep_each_runs_figures() -> None:
    ran: list[bool] = []
    seen: list[tuple[int, bool]] = []

    def runner(events: int, scoring: bool) -> dict[str, Any]:
        assert events == 500
        ran.append(scoring)
        return {
            "events_per_s": 900.0 if scoring else 1_000.0,
            "seconds": 0.5,
            "cpu_seconds": {"worker": 2.0 if scoring else 1.5},
            "peak_rss_mb": 100.0,
            "drift_scoring": scoring,
            "scoring_us_per_action": 20.0 if scoring else None,
            "compiled_hot_path": True,
        }

    result = run_pairs(500, 3, runner, progress=lambda i, s, _: seen.append((i, s)))
    assert ran == [True, False, False, True, True, False]
    assert seen == [(0, True), (0, False), (1, False), (1, True), (2, True), (2, False)]
    assert [pair["first"] for pair in result["pairs"]] == ["with", "without", "with"]
    assert all(pair["share"] == pytest.approx(0.10) for pair in result["pairs"])
    first = result["pairs"][0]
    assert first["with"]["scoring_us_per_action"] == 20.0
    assert first["without"]["scoring_us_per_action"] is None
    assert first["with"]["drift_scoring"] is True and first["without"]["drift_scoring"] is False
    assert first["with"]["compiled_hot_path"] is first["without"]["compiled_hot_path"] is True
    assert result["events"] == 500 and result["cpu_seconds_added"]["worker"] == 0.5
    with pytest.raises(ValueError):
        run_pairs(0, 1, runner)


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--stage"], "a bench of its own"),
        (["--no-scoring"], "a bench of its own"),
        (["--ceiling"], "a bench of its own"),
        (["--repeat", "2"], "a bench of its own"),
        (["--data-dir", "somewhere"], "--data-dir is not used"),
        (["--events", "0"], "--events of at least 1"),
    ],
)
def test_the_command_refuses_what_a_pair_cannot_take(extra: list[str], said: str) -> None:
    refused = CliRunner().invoke(main, ["bench", "--scoring-pairs", "2", *extra])
    assert refused.exit_code == 2 and said in refused.output


def test_the_mean_s_interval_uses_student_s_t_for_the_pairs_made() -> None:
    from scipy.stats import t  # installed with scikit-learn, which trains the drift model

    assert [round(float(t.ppf(0.975, df)), 3) for df in range(1, 31)] == list(_T95)
    two = mean_interval([0.10, 0.14])  # two pairs: one degree of freedom, t = 12.706
    assert two == pytest.approx((0.12 - 0.25412, 0.12 + 0.25412))
    many = mean_interval([0.08, 0.12] * 20)  # forty pairs: past the table, the normal's 1.960
    half = 1.960 * 0.020255 / 40**0.5
    assert many == pytest.approx((0.10 - half, 0.10 + half), abs=1e-5)
    assert mean_interval([0.2]) is None


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ([0.05, 0.06, 0.055, 0.05, 0.058, 0.052], "within"),  # the whole interval under 10%
        ([0.13, 0.14, 0.135, 0.13, 0.138, 0.132], "over"),  # the whole interval above
        ([0.079, 0.135, 0.116, 0.12, 0.09, 0.14], "undecided"),  # straddles the bar
        ([0.05], "undecided"),  # one pair gives no interval
    ],
)
def test_the_verdict_is_within_or_over_only_where_the_whole_interval_is(
    shares: list[float], expected: str
) -> None:
    assert verdict(mean_interval(shares)) == expected


def test_the_cpu_spread_is_the_most_over_the_least_of_one_sides_runs() -> None:
    pairs = [_pair(9_000.0, 10_000.0, 8.0, 4.0), _pair(9_000.0, 10_000.0, 10.0, 4.0)]
    assert cpu_spread(pairs, "with") == 0.25
    assert cpu_spread(pairs, "with", role="ledger") == 0.0
    assert cpu_spread(pairs[:1], "with") is None  # one run: no spread
    assert cpu_spread(pairs, "with", role="broker") is None  # a role no run reported


def test_the_text_report_says_how_uneven_the_machine_was(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [_pair(9_000.0, 10_000.0, 8.0, 4.0), _pair(9_500.0, 10_000.0, 10.0, 4.0)]

    def fake_pairs(events: int, count: int, progress: Any = None) -> dict[str, Any]:
        return {"events": events, "pairs": pairs, **summarize(pairs)}

    monkeypatch.setattr("agentledger.bench_pairs.run_pairs", fake_pairs)
    result = CliRunner().invoke(main, ["bench", "--scoring-pairs", "2", "--events", "500"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "7.5% of events/s (mean of 2 pairs" in said
    assert "ranged by 0% over the runs without scoring and 25% over those with it" in said


def test_the_text_report_says_which_phase_scoring_lengthened() -> None:
    pairs = [
        _phased(_pair(9_000.0, 10_000.0, 8.0, 3.9), {"with": (19.5, 3.5), "without": (19.0, 1.5)}),
        _phased(_pair(9_400.0, 10_000.0, 8.0, 3.9), {"with": (18.0, 2.0), "without": (18.5, 1.0)}),
    ]
    lines = summary_lines({"events": 500, "pairs": pairs, **summarize(pairs)}, len(pairs))
    assert "seconds more with scoring (mean): intake +0.00, tail +1.50, run +1.50" in lines
    unphased = [_pair(9_000.0, 10_000.0, 8.0, 4.0)]
    lines = summary_lines({"events": 500, "pairs": unphased, **summarize(unphased)}, 1)
    assert lines[1] == "one pair gives no interval: undecided"
    assert not any(line.startswith("seconds more") for line in lines)


def _measured(
    pair: dict[str, Any], stage: float, peak: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """``pair`` with the stage's µs an action (with scoring) and each side's stack peak and
    worker peak (``peak``)."""
    pair["with"]["scoring_stage_us_per_action"] = stage
    for side, (stack, worker) in peak.items():
        pair[side] |= {
            "peak_rss_mb": stack,
            "peak_rss_mb_by_process": {"worker": worker, "ledger": stack - worker},
        }
    return pair


def test_the_summary_gives_each_sides_peaks_and_the_stage_in_the_stream() -> None:
    pairs = [
        _measured(_pair(9_000.0, 10_000.0, 8.0, 3.9), 38.5, {"with": (1_800.0, 700.0)}),
        _measured(_pair(9_400.0, 10_000.0, 8.0, 3.9), 45.25, {"with": (1_700.0, 750.0)}),
        _measured(_pair(9_200.0, 10_000.0, 8.0, 3.9), 36.0, {"with": (1_950.0, 720.0)}),
    ]
    for pair, without in zip(pairs, (1_600.0, 1_650.0, 1_620.0), strict=True):
        _measured(pair, pair["with"]["scoring_stage_us_per_action"], {"without": (without, 600.0)})
    summary = summarize(pairs)
    # The bar holds for every run: the most is what it is judged on, not the median.
    assert summary["peak_rss_mb"]["with"] == {
        "median": 1_800.0,
        "max": 1_950.0,
        "max_by_process": {"ledger": 1_230.0, "worker": 750.0},  # from different runs
    }
    assert summary["peak_rss_mb"]["without"]["max"] == 1_650.0
    assert summary["stage_us_per_action"] == {"mean": 39.9, "min": 36.0, "max": 45.2}
    assert stage_spread(pairs[:1]) == {"mean": 38.5, "min": 38.5, "max": 38.5}
    assert peaks(pairs, "with") == summary["peak_rss_mb"]["with"]
    lines = summary_lines({"events": 500, "pairs": pairs, **summary}, len(pairs))
    assert "the drift stage in the stream: 39.9 µs an action (mean; 36.0 to 45.2)" in lines
    assert "the stack's peak with scoring: median 1,800.0 MB, at most 1,950.0 MB" in lines
    assert "the stack's peak without scoring: median 1,620.0 MB, at most 1,650.0 MB" in lines
