"""Per-source fuzzing: malformed records of many kinds crash nothing, and every one of them
becomes valid events or a dead letter naming its source, its position and the reason.

The records are real samples (``../shared/data/real``) and generated captures of each
source, broken by ``tests.unit.fuzzing``: fields removed, wrong types, nulls, huge numbers,
deep nesting, bad timestamps, lone surrogates, truncated JSON, other encodings, non-object
JSON, blank lines, enormous strings, random bytes. Each goes the whole per-record way of the
ingest up to the producer (framing, redaction, parsing, the dead letter or the Avro event).

The unit suite runs 300 malformed records and 30 mixed streams a source, the same ones every
time (about 12 CPU seconds in all). ``AGENTLEDGER_FUZZ=full`` runs the bar: 10,000 malformed
records and 500 mixed streams a source, drawn afresh each run (38 to 55 CPU seconds a
source, about 6 CPU minutes in all: too long for the test command, so run on its own):

    AGENTLEDGER_FUZZ=full pytest tests/unit/test_fuzz_sources.py -s
"""

from __future__ import annotations

import os
import time
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.registry import SOURCES, get_source
from tests.planted import SAMPLES, base_records
from tests.unit.fuzzing import (
    FILE,
    Case,
    cases,
    holds_no_record,
    ingest_outcomes,
    mutated_value,
    protobuf_cases,
    serialize,
    truncations,
)

FULL = os.environ.get("AGENTLEDGER_FUZZ") == "full"
RECORDS = 10_000 if FULL else 300  # malformed records fed a source
STREAMS = 500 if FULL else 30  # mixed streams of good and bad lines a source
# About 45 CPU seconds a source in full: on a machine shared by many, far longer than that.
TIMEOUT = 3_600 if FULL else 300
FUZZ = settings(
    max_examples=RECORDS,
    deadline=None,
    derandomize=not FULL,  # the unit suite runs the same examples every time
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Fields without which a record of the source is no record: dropping one must dead-letter it
# (kept by hand, from the sources' documentation, so that a parser that starts guessing fails).
REQUIRED: dict[str, tuple[str, ...]] = {
    "okta": ("eventType", "published"),
    "cloudtrail": ("eventTime", "eventName", "eventSource"),
    "mcp": ("ts",),  # of a captured message's envelope (a bare JSON-RPC message has none)
    "entra": ("time", "category", "createdDateTime", "activityDateTime"),
    "github": ("action",),
    "envoy": ("start_time", "response_code"),
    "otel": ("resourceSpans",),
}


@cache
def _bases(path: Path) -> dict[str, list[Any]]:
    return base_records(path)


@cache
def _text_lines(path: Path, name: str) -> list[str]:
    """A source's text-format lines (Envoy's default access log), to break as text."""
    if name != "envoy":
        return []
    return (path / SAMPLES["envoy"]).read_text(encoding="utf-8").splitlines()


def test_every_source_is_fuzzed() -> None:
    assert set(REQUIRED) == set(SOURCES)


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_malformed_records_become_events_or_dead_letters(real_data: Path, name: str) -> None:
    source = get_source(name)
    bases = _bases(real_data)[name]
    tally: Counter[str] = Counter()

    extra = protobuf_cases(bases) if name == "otel" else None

    @FUZZ
    @given(cases(bases, REQUIRED[name], _text_lines(real_data, name), extra))
    def one(case: Case) -> None:
        found = ingest_outcomes(source, case.data, otlp=name == "otel")
        if not holds_no_record(source, case.data):
            assert found.ways["file"] and found.ways["message"], case
        if case.must_reject:
            assert not found.events and found.letters, case
        tally["records"] += 1
        tally[case.kind] += 1
        tally["dead letters"] += len(found.letters)
        tally["events"] += len(found.events)
        tally["refused OTLP bodies"] += len(found.refused)

    started = time.process_time()
    one()
    seconds = time.process_time() - started
    print(f"\n{name}: {dict(tally)} in {seconds:.1f} CPU s")
    assert tally["records"] >= RECORDS
    assert tally["dead letters"] > 0


def _line(case_bytes: bytes) -> str:
    """One line of a JSON Lines stream: no line breaks inside, never blank."""
    text = case_bytes.decode("utf-8", errors="replace").replace("\r", " ").replace("\n", " ")
    return text if text.strip() else "-"


@st.composite
def _stream(draw: st.DrawFn, bases: list[Any]) -> tuple[list[str], list[bool]]:
    """A JSON Lines stream whose first line is a good record, then good and bad ones mixed."""
    bad = st.one_of(
        mutated_value(bases).map(serialize),
        st.binary(max_size=80),
        st.sampled_from(bases).flatmap(truncations),
    )
    good = st.sampled_from(bases).map(lambda b: orjson.dumps(b).decode())
    lines = [draw(good)]
    goods = [True]
    for _ in range(draw(st.integers(1, 12))):
        is_good = draw(st.booleans())
        lines.append(draw(good) if is_good else _line(draw(bad)))
        goods.append(is_good)
    return lines, goods


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_bad_lines_do_not_stop_the_good_ones_around_them(real_data: Path, name: str) -> None:
    """Every line of a mixed stream has its own outcome at its own line: a good line gives
    the events it gives alone, a bad one its events or its dead letter."""
    source = get_source(name)
    bases = _bases(real_data)[name]
    alone = {}
    for base in bases:
        text = orjson.dumps(base).decode()
        alone[text] = sorted(e.event_id for e in ingest_outcomes(source, text.encode()).events)

    @settings(FUZZ, max_examples=STREAMS)
    @given(_stream(bases))
    def one(stream: tuple[list[str], list[bool]]) -> None:
        lines, goods = stream
        data = ("\n".join(lines) + "\n").encode()
        found = ingest_outcomes(source, data)
        at_line: dict[int, list[str]] = {}
        for event in found.events:
            at_line.setdefault(_line_of(event.position), []).append(event.event_id)
        lettered = {_line_of(letter["position"]) for letter in found.letters}
        for number, (line, is_good) in enumerate(zip(lines, goods, strict=True), start=1):
            if is_good:
                # Both ways (file and message) give the line's events, as they do alone.
                assert sorted(at_line.get(number, [])) == alone[line], number
                assert number not in lettered
            elif not holds_no_record(source, line.encode()):
                assert number in at_line or number in lettered, (number, line)

    one()


def _line_of(position: str) -> int:
    """The line number of ``fuzz/capture.jsonl:7[2]`` or of ``raw-fuzz/0/17:7``."""
    tail = position.removeprefix(FILE).rsplit(":", 1)[-1]
    return int(tail.split("[", 1)[0])


# What the fuzzing found once, kept as plain examples: each crashed a parser or framing, or
# (the year 1811) was accepted where the ledger cannot hold it. Whether each is refused.
FOUND = [
    ("mcp", b'{"direction":{},"ts":"2026-01-01T00:00:00Z","message":{"id":1}}', True),
    (
        "okta",
        b'{"eventType":"app.oauth2.as.token.grant.access_token","published":'
        b'"2026-01-01T00:00:00Z","actor":{"type":[1]},"target":[{"type":{}},{"type":["x"]}]}',
        False,
    ),
    ("okta", b'{"eventType":"x","published":-5000000000}', True),
    ("okta", b'{"eventType":"x","published":1,"a":' + b"[" * 600 + b"]" * 600 + b"}", True),
    (
        "github",
        b'{"action":"x","@timestamp":1,"a":' + b'{"b":' * 300 + b"1" + b"}" * 300 + b"}",
        True,
    ),
    ("cloudtrail", b'{"Records":[' + b'{"a":\n' * 1100 + b"1" + b"}" * 1100 + b"]}", True),
]


@pytest.mark.parametrize(("name", "data", "refused"), FOUND)
def test_what_fuzzing_found_is_a_dead_letter_or_events(
    name: str, data: bytes, refused: bool
) -> None:
    found = ingest_outcomes(get_source(name), data)
    assert found.ways["file"] and found.ways["message"]
    assert bool(found.letters) is refused and bool(found.events) is not refused
    assert all(letter["reason"] for letter in found.letters)
