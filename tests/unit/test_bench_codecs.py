"""``agentledger bench --codecs``: every codec's batches read back whole, figures per codec."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from agentledger.bench_codecs import CODECS, build_batches, codec_figures, read_batches
from agentledger.cli import main

# Records much like the ledger's: the same names again and again, a little changed each.
_VALUES = [
    orjson.dumps(
        {
            "eventName": "GetObject",
            "eventSource": "s3.amazonaws.com",
            "requestParameters": {"bucketName": "reports", "key": f"2026/12/{n:05d}.csv"},
        }
    )
    for n in range(3_000)
]


def test_every_codec_offered_is_measured() -> None:
    assert set(CODECS) == {"zstd", "lz4", "gzip", "snappy", "none"}


def test_batches_read_back_every_record_for_each_codec() -> None:
    for codec in CODECS:
        batches = build_batches(_VALUES, codec)
        assert len(batches) >= 1
        assert read_batches(batches) == len(_VALUES), codec


def test_batches_are_split_at_the_producers_batch_size() -> None:
    big = [bytes(300_000) + bytes([n]) for n in range(8)]  # 2.4 MB: more than one 1 MB batch
    batches = build_batches(big, "none")
    assert len(batches) >= 3
    assert read_batches(batches) == len(big)


def test_figures_give_bytes_and_ratio_per_codec() -> None:
    figures = codec_figures(_VALUES, ["none", "zstd"])
    assert figures["messages"] == len(_VALUES)
    assert figures["bytes_uncompressed"] == sum(map(len, _VALUES))
    plain, packed = figures["codecs"]["none"], figures["codecs"]["zstd"]
    assert plain["bytes"] >= figures["bytes_uncompressed"]  # batch and record headers
    assert packed["bytes"] * 5 < plain["bytes"]
    assert packed["ratio"] > 5 > plain["ratio"]
    for figures in (plain, packed):
        assert set(figures) == {"produce_cpu_s", "read_cpu_s", "bytes", "ratio"}


def test_no_records_make_no_batch_and_no_figures() -> None:
    assert build_batches([], "snappy") == []
    with pytest.raises(ValueError, match="no records"):
        codec_figures([], ["zstd"])


def test_codecs_is_a_bench_of_its_own_and_needs_records() -> None:
    for other in ("--queries", "--contractions"):
        refused = CliRunner().invoke(main, ["bench", "--codecs", other])
        assert refused.exit_code == 2 and "--codecs is a bench of its own" in refused.output
    none = CliRunner().invoke(main, ["bench", "--codecs", "--events", "0"])
    assert none.exit_code == 2 and "--events of at least 1" in none.output
