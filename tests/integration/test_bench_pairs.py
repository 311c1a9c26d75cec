"""``agentledger bench --scoring-pairs``: one real pair, each run a whole bench on a fresh
embedded stack in a process of its own."""

from __future__ import annotations

import pytest

from agentledger.bench_pairs import run_pairs


def test_a_pair_runs_the_bench_with_and_without_scoring() -> None:
    result = run_pairs(1_000, 1)
    (pair,) = result["pairs"]
    with_scoring, without = pair["with"], pair["without"]
    assert pair["first"] == "with"
    assert with_scoring["events_per_s"] > 0 and without["events_per_s"] > 0
    # The drift stage ran in the run with scoring, and only there.
    assert with_scoring["drift_scoring"] is True and with_scoring["scoring_us_per_action"] > 0
    assert without["drift_scoring"] is False and without["scoring_us_per_action"] is None
    assert set(with_scoring["cpu_seconds"]) >= {"ingest", "ledger", "worker"}
    # The run in its two phases: the seconds add up to the run's, and the intake's CPU is
    # part of the run's.
    phases = with_scoring["phases"]
    assert phases["intake"]["seconds"] + phases["tail"]["seconds"] == pytest.approx(
        with_scoring["seconds"], abs=0.01
    )
    assert phases["intake"]["seconds"] == pytest.approx(with_scoring["produce_seconds"], abs=0.01)
    assert 0 < phases["intake"]["cpu_seconds"]["ingest"] <= with_scoring["cpu_seconds"]["ingest"]
    assert phases["tail"]["cores"]["all"] > 0
    assert pair["share"] == pytest.approx(
        1 - with_scoring["events_per_s"] / without["events_per_s"], abs=1e-4
    )
    assert result["share"]["mean"] == pair["share"] == result["share"]["median"]
