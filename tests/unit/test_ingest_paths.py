"""What ``agentledger ingest`` reads from files and directories: which files, in which order,
plain or gzip, and where each record (or a break in a file) is said to be."""

from __future__ import annotations

import gzip
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.cloudtrail import CloudTrailSource
from ingest.files import (
    IngestPathError,
    LineReader,
    collect_inputs,
    frame_stream,
    is_log_name,
    name_time,
    time_order,
)
from ingest.framing import Framed, Unframed

CT = "AWSLogs/111122223333/CloudTrail"


def _ct_name(region: str, stamp: str, suffix: str = "Ab12") -> str:
    return f"111122223333_CloudTrail_{region}_{stamp}_{suffix}.json.gz"


def _lines(data: bytes) -> tuple[list[str], LineReader]:
    reader = LineReader(io.BytesIO(data))
    return list(reader), reader


# -- which files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        f"{CT}/us-east-1/2024/08/01/{_ct_name('us-east-1', '20240801T1215Z')}",
        "okta/system-log.jsonl",
        "envoy/access.log",
        "envoy/access.log.1.gz",
        "mcp/capture",  # no suffix at all
        "traces.json",
    ],
)
def test_a_walk_reads_log_files(relative: str) -> None:
    assert is_log_name(relative)


@pytest.mark.parametrize(
    "relative",
    [
        ".DS_Store",
        "okta/.system-log.jsonl.partial",
        ".git/objects/ab/cdef",
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/08/01/x.json.gz",
        "111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240801T121500Z.json.gz",
        "README.md",
        "README",
        "LICENSE",
        "samples/AWS.CloudTrail.rule-tests.index.tsv",
        "export.csv.gz",
        "config.yaml",
        "download.json.part",
    ],
)
def test_a_walk_skips_hidden_digest_and_non_log_files(relative: str) -> None:
    assert not is_log_name(relative)


# -- in which order ------------------------------------------------------------------------------


def test_cloudtrail_objects_are_ordered_by_the_time_in_their_names() -> None:
    late = f"{CT}/eu-west-1/2024/08/02/{_ct_name('eu-west-1', '20240802T0005Z', 'zz')}"
    early = f"{CT}/us-east-1/2024/08/01/{_ct_name('us-east-1', '20240801T2355Z', 'aa')}"
    middle = f"{CT}/ap-south-1/2024/08/02/{_ct_name('ap-south-1', '20240802T0000Z', 'mm')}"
    # Path order would put ap-south-1 first, and the modification times say the opposite.
    files = [(late, 1.0), (early, 3.0), (middle, 2.0)]
    assert time_order(files) == [early, middle, late]


def test_names_without_a_time_are_ordered_by_modification_time_then_path() -> None:
    files = [("b/rotated.log", 200.0), ("a/current.log", 300.0), ("c.log", 200.0)]
    assert time_order(files) == ["b/rotated.log", "c.log", "a/current.log"]


def test_a_timestamp_or_date_in_a_name_is_read_as_utc() -> None:
    assert name_time(_ct_name("us-east-1", "20240801T1215Z")) == datetime(
        2024, 8, 1, 12, 15, tzinfo=UTC
    )
    assert name_time("okta-2024-08-01T10:30:00Z.jsonl") == datetime(2024, 8, 1, 10, 30, tzinfo=UTC)
    assert name_time("signins-2024-08-01.json") == datetime(2024, 8, 1, tzinfo=UTC)
    assert name_time("gateway-20240801.log.gz") == datetime(2024, 8, 1, tzinfo=UTC)
    # An account id or a number that is no date says nothing about time.
    assert name_time("111122223333.json") is None
    assert name_time("part-20241399.jsonl") is None
    assert name_time("access.log") is None


def test_a_directory_is_walked_in_time_order_and_positions_name_the_path_in_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "AWSLogs"
    second = (
        root
        / "111122223333/CloudTrail/us-east-1/2024/08/02"
        / _ct_name("us-east-1", "20240802T0000Z")
    )
    first = (
        root
        / "111122223333/CloudTrail/us-west-2/2024/08/01"
        / _ct_name("us-west-2", "20240801T0000Z")
    )
    skipped = root / "111122223333/CloudTrail-Digest/us-east-1/2024/08/01/digest.json.gz"
    for path in (second, first, skipped, root / ".hidden.json", root / "notes.md"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(b'{"Records": []}'))
    inputs = collect_inputs([str(root)])
    assert [i.path for i in inputs] == [first, second]
    assert inputs[0].name == f"{root}/{first.relative_to(root).as_posix()}"
    assert [i.size for i in inputs] == [first.stat().st_size, second.stat().st_size]


def test_inputs_keep_the_order_given_and_stdin_is_one_of_them(tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.write_text("{}\n")
    two.write_text("{}\n")
    os.utime(one, (2_000_000_000, 2_000_000_000))  # a file named is read where it is named
    inputs = collect_inputs([str(one), "-", str(two)])
    assert [(i.path, i.name) for i in inputs] == [
        (one, str(one)),
        (None, "stdin"),
        (two, str(two)),
    ]


def test_paths_that_cannot_be_read_are_all_named_before_anything_is_sent(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "README.md").write_text("not a log")
    with pytest.raises(IngestPathError) as raised:
        collect_inputs([str(tmp_path / "missing.json.gz"), str(empty)])
    message = str(raised.value)
    assert f"no such file or directory: {tmp_path / 'missing.json.gz'}" in message
    assert f"no log files under {empty}" in message


# -- reading plain and gzip bytes ----------------------------------------------------------------

LINES = b'{"a": 1}\r\n{"b": 2}\n\n{"c": 3}'


def test_plain_and_gzip_bytes_read_the_same_whatever_the_name() -> None:
    expected = ['{"a": 1}\n', '{"b": 2}\n', "\n", '{"c": 3}']
    plain, reader = _lines(LINES)
    assert plain == expected and not reader.compressed and reader.error is None
    unzipped, reader = _lines(gzip.compress(LINES))
    assert unzipped == expected and reader.compressed and reader.error is None
    # Several members (what `cat a.gz b.gz` makes) are one stream.
    members, _ = _lines(gzip.compress(LINES[:12]) + gzip.compress(LINES[12:]))
    assert members == expected


def test_text_that_starts_like_gzip_only_in_name_is_plain() -> None:
    lines, reader = _lines(b"\x1f not gzip\n")
    assert lines == ["\x1f not gzip\n"] and not reader.compressed


def test_a_truncated_gzip_keeps_every_line_read_before_the_break() -> None:
    records = b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * 40) for i in range(20_000))
    packed = gzip.compress(records)
    lines, reader = _lines(packed[: len(packed) // 2])
    assert reader.error is not None and reader.error.startswith("unreadable gzip: ")
    assert lines and all(json.loads(line)["n"] == i for i, line in enumerate(lines))
    assert reader.line == len(lines) + 1
    assert records.decode().startswith("".join(lines) + reader.tail)


def test_garbage_after_a_gzip_member_is_reported_after_its_lines() -> None:
    lines, reader = _lines(gzip.compress(LINES) + b"trailing junk")
    assert len(lines) == 3 and reader.error is not None and "gzip" in reader.error
    assert reader.tail == '{"c": 3}'  # a line the break cut off goes to the dead letter


def _cloudtrail(records: list[dict[str, object]]) -> bytes:
    return json.dumps({"Records": records}).encode()


RECORD: dict[str, object] = {
    "eventVersion": "1.08",
    "eventTime": "2024-08-01T12:19:16Z",
    "eventSource": "sts.amazonaws.com",
    "eventName": "GetCallerIdentity",
    "awsRegion": "us-east-1",
    "eventID": "ab04bb55-b6d5-492b-8697-9d11867c6c43",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
}


def test_records_of_a_gzip_cloudtrail_file_are_placed_by_file_line_and_index() -> None:
    name = f"{CT}/us-east-1/2024/08/01/x.json.gz"
    data = gzip.compress(_cloudtrail([RECORD, {**RECORD, "eventName": "ListBuckets"}]))
    items = list(frame_stream(CloudTrailSource(), io.BytesIO(data), name))
    assert [i.position for i in items if isinstance(i, Framed)] == [f"{name}:1[0]", f"{name}:1[1]"]
    # The same records as a plain file are the same records at the same positions.
    plain = list(frame_stream(CloudTrailSource(), io.BytesIO(gzip.decompress(data)), name))
    assert plain == items


def test_a_corrupt_gzip_is_one_dead_letter_naming_the_file_and_line() -> None:
    data = gzip.compress(_cloudtrail([RECORD] * 50))
    items = list(frame_stream(CloudTrailSource(), io.BytesIO(data[:-30]), "d/broken.json.gz"))
    [dead] = items
    assert isinstance(dead, Unframed)
    assert dead.error.position == "d/broken.json.gz:1"
    assert dead.error.source == "cloudtrail"
    assert dead.error.reason.startswith("unreadable gzip: ")


def test_the_unfinished_text_of_a_break_is_masked() -> None:
    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    data = gzip.compress(json.dumps({"Records": [{"token": secret}] * 2000}).encode())
    [dead] = list(frame_stream(CloudTrailSource(), io.BytesIO(data[:-8]), "t.json.gz"))
    assert isinstance(dead, Unframed) and dead.text and secret not in dead.text
