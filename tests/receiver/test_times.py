"""One time parser for CLI flags and API parameters: RFC 3339, Unix seconds, now, relative; finite only."""

from __future__ import annotations

import math

import pytest

from receiver.times import (
    EARLIEST_TIME,
    END_OF_TIME,
    format_time,
    in_time_range,
    parse_time,
    parse_timestamp,
)

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


@pytest.mark.parametrize("seconds", [EARLIEST_TIME, -1.0, 0.0, NOW, END_OF_TIME - 1])
def test_format_time_writes_rfc3339_that_parses_back_at_every_year(seconds: float) -> None:
    """glibc's strftime wrote the year 1 as "1-01-01", which the on-demand request then refused."""
    text = format_time(seconds)
    assert len(text) == 20 and text.endswith("Z")
    assert parse_time(text) == seconds


# --- the year-9999 edge: one bound for every interface ---------------------------------------------------

LAST_FLOAT_OF_9999 = math.nextafter(END_OF_TIME, 0.0)  # 9999-12-31T23:59:59.99997Z
IN_9999 = [
    LAST_FLOAT_OF_9999,
    repr(LAST_FLOAT_OF_9999),
    END_OF_TIME - 0.5,
    "9999-12-31T23:59:59.999999Z",  # the last microsecond
    "9999-12-31T23:59:59.999999999Z",
    "9999-12-31T23:59:59.999999",  # no offset: UTC
]
IN_10000 = [
    END_OF_TIME,  # 10000-01-01T00:00:00Z
    repr(END_OF_TIME),
    "253402300799.999999",  # as a float it is 10000-01-01T00:00:00Z
    "9999-12-31T23:00:00-01:00",  # the first instant of 10000 that RFC 3339 can write
    "9999-12-31T23:59:59.999999-00:01",
]


@pytest.mark.parametrize("value", IN_9999)
def test_every_time_of_the_year_9999_is_in_range_and_formats_as_9999(value: str | float) -> None:
    """parse_time stopped at 9999-12-31T23:59:59Z while webhook times were taken up to the year's end."""
    seconds = parse_time(value)
    assert in_time_range(seconds) and seconds < END_OF_TIME
    assert format_time(seconds) == "9999-12-31T23:59:59Z"


@pytest.mark.parametrize("value", IN_10000)
def test_the_first_instant_of_the_year_10000_is_out_of_range(value: str | float) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_time(value)


def test_in_time_range_draws_the_edge_where_parse_time_does() -> None:
    assert in_time_range(LAST_FLOAT_OF_9999) and not in_time_range(END_OF_TIME)
    assert in_time_range(EARLIEST_TIME) and not in_time_range(math.nextafter(EARLIEST_TIME, -math.inf))
    assert not any(in_time_range(x) for x in (math.nan, math.inf, -math.inf))


def test_a_time_of_the_year_10000_in_rfc3339_utc_is_not_a_time() -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time("10000-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("text", "in_range"),
    [("9999-12-31T23:59:59.999999Z", True), ("9999-12-31T23:00:00-01:00", False)],
)
def test_parse_timestamp_and_parse_time_agree_at_the_edge(text: str, in_range: bool) -> None:
    seconds = parse_timestamp(text)
    assert in_time_range(seconds) is in_range
    if in_range:
        assert parse_time(text) == seconds == LAST_FLOAT_OF_9999
