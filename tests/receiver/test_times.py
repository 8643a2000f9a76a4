"""One time parser for CLI flags and API parameters: RFC 3339, Unix seconds, now, relative; finite only."""

from __future__ import annotations

import math

import pytest

from receiver.times import EARLIEST_TIME, LATEST_TIME, format_time, parse_time

NOW = 1_764_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-1h", NOW - 3600),
        ("now-90s", NOW - 90),
        ("-1h30m", NOW - 5400),
        ("1764000000", NOW),
        ("1764000000.5", NOW + 0.5),
        ("2025-11-24T16:00:00Z", NOW),
        ("2025-11-24T17:00:00+01:00", NOW),
        ("2025-11-24T16:00:00.123456789Z", NOW + 0.123456),
        ("2025-11-24T16:00:00", NOW),  # no offset: UTC
        (" now ", NOW),
        (NOW, NOW),
        (0, 0.0),
    ],
)
def test_accepted_forms(text: str | float, expected: float) -> None:
    assert math.isclose(parse_time(text, now=NOW), expected, abs_tol=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "nan",
        "inf",
        "-inf",
        "1e400",
        "1e18",
        "-1e12",
        "²",
        "",
        "yesterday",
        "-1x",
        "2025-13-01T00:00:00Z",
        True,
    ],
)
def test_rejected_forms_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r"RFC 3339|out of range|duration"):
        parse_time(text, now=NOW)


def test_relative_times_before_the_year_1_are_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_time("-10000000w", now=NOW)


@pytest.mark.parametrize("seconds", [EARLIEST_TIME, -1.0, 0.0, NOW, LATEST_TIME])
def test_format_time_writes_rfc3339_that_parses_back_at_every_year(seconds: float) -> None:
    """glibc's strftime wrote the year 1 as "1-01-01", which the on-demand request then refused."""
    text = format_time(seconds)
    assert len(text) == 20 and text.endswith("Z")
    assert parse_time(text) == seconds
