"""Timestamps as the sources write them: the direct reading of ``…Z`` and the general one
agree on every shape."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.base import parse_time
from kernel.errors import RecordError

Z_FORMS = [
    "2026-11-20T09:00:20Z",
    "2026-11-20T09:00:20.6Z",
    "2026-11-20T09:00:20.602Z",
    "2026-11-20T09:00:20.6025Z",
    "2026-11-20T09:00:20.602512Z",
    "1900-01-01T00:00:00Z",
    "2299-12-30T23:59:59.999999Z",
]


@pytest.mark.parametrize("text", Z_FORMS)
def test_z_reads_as_the_same_instant_as_an_explicit_utc_offset(text: str) -> None:
    direct = parse_time(text, "ts")
    general = parse_time(text[:-1] + "+00:00", "ts")
    assert direct == general
    assert direct.tzinfo is UTC and general.tzinfo is UTC


def test_other_shapes_still_read() -> None:
    expected = datetime(2026, 11, 20, 9, 0, 20, 602512, tzinfo=UTC)
    for text in (
        "2026-11-20T09:00:20.602512123Z",  # nine digits: cut to six
        "2026-11-20 09:00:20.602512",  # Okta's, UTC by contract
        " 2026-11-20T09:00:20.602512z ",
        "2026-11-20T10:00:20.602512+01:00",
    ):
        assert parse_time(text, "ts") == expected, text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-13-20T09:00:20Z", "not a timestamp"),
        ("2026-02-30T09:00:20.5Z", "not a timestamp"),
        ("1899-12-31T23:59:59Z", "is outside 1900–2299"),
        ("2300-01-01T00:00:00Z", "is outside 1900–2299"),
    ],
)
def test_impossible_or_out_of_range_z_times_name_the_field(text: str, reason: str) -> None:
    for form in (text, text[:-1] + "+00:00"):
        with pytest.raises(RecordError) as caught:
            parse_time(form, "published")
        assert caught.value.field == "published"
        assert reason in caught.value.reason


@pytest.mark.parametrize("value", [-5_000_000_000, 10_500_000_000, 1e11, 99_999_999_999_999])
def test_epoch_numbers_outside_the_ledgers_range_name_the_field(value: float) -> None:
    """Seconds or milliseconds that read as 1811 or 5138: the ledger holds 1900–2299 only."""
    with pytest.raises(RecordError) as caught:
        parse_time(value, "published")
    assert caught.value.field == "published"
    assert "outside 1900–2299" in caught.value.reason


def test_epoch_numbers_inside_the_range_still_read() -> None:
    expected = datetime(2026, 11, 20, 9, 0, 20, tzinfo=UTC)
    assert parse_time(1_795_165_220, "ts") == expected
    assert parse_time(1_795_165_220_000, "ts") == expected
