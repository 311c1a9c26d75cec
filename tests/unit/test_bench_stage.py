"""``agentledger bench --stage``: the drift stage timed alone over stitched batches, and a
digest of what it scored that names the output, not the run."""

from __future__ import annotations

import orjson
from click.testing import CliRunner

from agentledger.bench_stage import BATCH, run_stage_bench, stitched_batches
from agentledger.cli import main


def test_the_batches_hold_every_event_in_arrival_order() -> None:
    _, batches = stitched_batches(4_500)
    sizes = [len(envelopes) for envelopes, _ in batches]
    assert sizes[:-1] == [BATCH] * (len(sizes) - 1) and 0 < sizes[-1] <= BATCH
    raw = [row for _, out in batches for row in out.raw_events]
    assert len(raw) == sum(sizes)  # each event stitched once


def test_the_same_records_give_the_same_digest_and_other_records_another() -> None:
    first = run_stage_bench(3_000, passes=2)
    again = run_stage_bench(3_000, passes=1)
    other = run_stage_bench(2_000, passes=1)
    assert first["actions_scored"] > 500 and first["batches"] == 2
    cpu = first["stage_cpu_us_per_action"]
    assert len(cpu["passes"]) == 2 and all(value > 0 for value in cpu["passes"])
    assert cpu["least"] == min(cpu["passes"])
    assert len(first["digest"]) == 16 and first["digest"] == again["digest"]
    assert other["digest"] != first["digest"]
    assert other["actions_scored"] < first["actions_scored"]


def test_the_command_prints_its_figures_and_refuses_other_benches() -> None:
    ran = CliRunner().invoke(
        main, ["bench", "--stage", "--events", "1500", "--repeat", "1", "--json"]
    )
    assert ran.exit_code == 0, ran.output
    figures = orjson.loads(ran.stdout)
    assert figures["events"] == 1500 and figures["actions_scored"] > 0
    assert len(figures["stage_cpu_us_per_action"]["passes"]) == 1
    for other in (["--queries"], ["--contractions"], ["--no-scoring"]):
        refused = CliRunner().invoke(main, ["bench", "--stage", *other])
        assert refused.exit_code == 2 and "--stage is a bench of its own" in refused.output
    none = CliRunner().invoke(main, ["bench", "--stage", "--events", "0"])
    assert none.exit_code == 2 and "--events of at least 1" in none.output
