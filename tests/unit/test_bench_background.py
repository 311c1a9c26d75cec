"""The traffic ``agentledger bench`` plays: the contraction bench's background, of the sources
asked, as many records as asked, and a clear error for a source the generator does not
write; live or a backlog's event times, for it and for the events bench."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
from click.testing import CliRunner

from agentledger.bench import LIVE_PACE, _spooled_apart, spool_by_source
from agentledger.bench_drift import _Background, _background
from agentledger.cli import main


def test_the_background_holds_only_the_sources_asked() -> None:
    every = _background(300, "bg-test", per_block=50)
    assert {source for source, _ in every.blocks} == {"okta", "cloudtrail", "mcp"}
    without_mcp = _background(300, "bg-test", per_block=50, sources=("okta", "cloudtrail"))
    assert {source for source, _ in without_mcp.blocks} == {"okta", "cloudtrail"}
    # As many records as asked, of those sources: more sessions were generated for them.
    assert sum(len(block) for _, block in without_mcp.blocks) == 300
    assert sum(len(block) for _, block in every.blocks) == 300


def test_an_unknown_background_source_is_refused_by_name() -> None:
    result = CliRunner().invoke(
        main, ["bench", "--contractions", "--background-sources", "okta,syslog"]
    )
    assert result.exit_code == 2
    assert "--background-sources" in result.output and "syslog" in result.output
    assert "okta, cloudtrail, mcp" in result.output


def _span_s(background: _Background) -> float:
    times = [e.event_time for _, block in background.blocks for p in block for e in p.events]
    return (max(times) - min(times)).total_seconds()


def test_live_times_advance_as_fast_as_the_background_is_played() -> None:
    # 3,000 records at 1,000 a second of event time: their sessions begin within about 3 s,
    # and each session's own records run on for up to about a minute.
    live = _background(3000, "bg-times", per_block=100, eps=1000)
    assert _span_s(live) < 120
    # The generator's own spacing, a backlog's: sessions about 42 s apart, these 3,000
    # records over about two and a half hours (a run's 100,000 over days).
    backlog = _background(3000, "bg-times", per_block=100)
    assert _span_s(backlog) > 3600


def test_live_sources_play_in_time_order_merged_by_time() -> None:
    live = _background(3000, "bg-order", per_block=100, eps=1000)
    played: dict[str, list[datetime]] = {}
    for source, block in live.blocks:
        played.setdefault(source, []).extend(e.event_time for p in block for e in p.events)
    assert set(played) == {"okta", "cloudtrail", "mcp"}
    assert all(times == sorted(times) for times in played.values())
    firsts = [block[0].events[0].event_time for _, block in live.blocks]
    assert firsts == sorted(firsts)  # shippers' batches, each source's in turn with the others'


def test_the_events_bench_spools_live_traffic_each_source_in_time_order(tmp_path: Path) -> None:
    chunks = spool_by_source(12_000, "spool-live", tmp_path, pace=LIVE_PACE)
    assert sum(path.read_bytes().count(b"\n") + 1 for _, path in chunks) == 12_000
    times: dict[str, list[datetime]] = {}
    for source, path in chunks:
        for line in path.read_bytes().split(b"\n"):
            record = orjson.loads(line)
            stamp = record.get("published") or record.get("eventTime") or record.get("ts")
            times.setdefault(source, []).append(datetime.fromisoformat(stamp))
    assert set(times) == {"okta", "cloudtrail", "mcp"}
    assert all(found == sorted(found) for found in times.values())
    everything = sorted(t for found in times.values() for t in found)
    assert (everything[-1] - everything[0]).total_seconds() < 120  # not days: live


def test_live_or_backlog_times_go_with_the_benches_that_play_traffic() -> None:
    for other in (["--stage"], ["--codecs"], ["--queries"], ["--scoring-pairs", "2"]):
        refused = CliRunner().invoke(main, ["bench", "--live-times", *other])
        assert refused.exit_code == 2, other
        assert "go with --events or --contractions" in refused.output


def test_the_records_are_spooled_in_a_process_of_their_own_as_in_this_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "apart").mkdir()
    (tmp_path / "here").mkdir()
    apart = _spooled_apart(600, "apart", tmp_path / "apart", LIVE_PACE)
    here = spool_by_source(600, "apart", tmp_path / "here", LIVE_PACE)
    assert [source for source, _ in apart] == [source for source, _ in here]
    assert [path.read_bytes() for _, path in apart] == [path.read_bytes() for _, path in here]
