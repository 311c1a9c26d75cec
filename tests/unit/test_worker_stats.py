"""Where a worker's time goes: the sink's timings, the file each worker keeps them in, and
what ``agentledger bench`` makes of the files of several workers."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from agentledger.bench_drift import scoring_stats
from kernel.config import Settings
from processors.sink_parts import SinkStats
from processors.worker import write_scoring_stats


def test_timings_are_per_event_consumed() -> None:
    stats = SinkStats(
        batches=4,
        consumed=2_000,
        decode_ns=60_000_000,
        lookup_ns=20_000_000,
        asked=150,
        duplicates=3,
        stitch_ns=200_000_000,
        columns_ns=24_000_000,
        write_ns=500_000_000,
        writes=2,
        inserts=17,
    )
    assert stats.timings() == {
        "events": 2_000,
        "batches": 4,
        "decode_us_per_event": 30.0,
        "lookup_us_per_event": 10.0,
        "asked": 150,
        "duplicates": 3,
        "stitch_us_per_event": 100.0,
        "columns_us_per_event": 12.0,
        "write_us_per_event": 250.0,
        "writes": 2,
        "inserts": 17,
    }
    assert SinkStats().timings()["stitch_us_per_event"] == 0.0  # nothing read yet


def test_the_file_is_kept_at_most_once_a_second_unless_the_writes_caught_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([100.0, 100.5, 100.6, 102.0])  # what time.monotonic gives, call by call
    monkeypatch.setattr("processors.worker.time.monotonic", lambda: next(clock))
    path = tmp_path / "run" / "worker-0.scoring.json"
    stats = SinkStats(batches=1, consumed=100, stitch_ns=5_000_000)
    write_scoring_stats(path, None, stats)
    assert orjson.loads(path.read_bytes()) == {"worker": stats.timings()}  # scoring off
    stats.consumed = 300
    write_scoring_stats(path, None, stats)  # within the second: not kept
    assert orjson.loads(path.read_bytes())["worker"]["events"] == 100
    write_scoring_stats(path, None, stats, caught_up=True)
    assert orjson.loads(path.read_bytes())["worker"]["events"] == 300
    stats.consumed = 400
    write_scoring_stats(path, None, stats)  # a second and more since: kept
    assert orjson.loads(path.read_bytes())["worker"]["events"] == 400


def _worker_file(run: Path, index: int, body: dict[str, object]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / f"worker-{index}.scoring.json").write_bytes(orjson.dumps(body))


def test_the_bench_weighs_each_worker_by_the_events_it_read(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _worker_file(
        run,
        0,
        {
            "worker": SinkStats(
                consumed=3_000,
                decode_ns=90_000_000,
                asked=70,
                stitch_ns=300_000_000,
                columns_ns=40_000_000,
                write_ns=0,
                duplicates=4,
                writes=3,
                inserts=25,
            ).timings(),
            "scored": 1_000,
            "flagged": 10,
            "contractions": 2,
            "model_us_per_action": 40.0,
            "stage_us_per_action": 120.0,
        },
    )
    # A stand-by worker read nothing; one from a run without scoring has no scoring counts.
    _worker_file(
        run,
        1,
        {
            "worker": SinkStats(
                consumed=1_000, asked=5, stitch_ns=200_000_000, writes=1, inserts=8
            ).timings()
        },
    )
    _worker_file(run, 2, {"worker": SinkStats().timings()})
    (run / "worker-3.scoring.json").write_bytes(b"{not json")  # half written: left out
    got = scoring_stats(Settings(data_dir=tmp_path))
    assert got["actions_scored"] == 1_000 and got["contractions"] == 2
    assert got["scoring_stage_us_per_action"] == 120.0
    assert got["worker_us_per_event"] == {
        "decode": 22.5,  # 90 ms over 4,000 events
        "lookup": 0.0,
        "stitch": 125.0,  # (300 + 200) ms over 4,000
        "score": 30.0,  # 1,000 actions at 120 µs over 4,000 events
        "columns": 10.0,  # 40 ms over 4,000
        "ledger_write": 0.0,
        "events": 4_000,
        "asked_the_ledger": 75,  # summed over the workers
        "duplicates_skipped": 4,
        "ledger_writes": 4,  # summed over the workers, as their inserts
        "ledger_inserts": 33,
    }
