"""Time parsing for every interface: webhook timestamps, API parameters, CLI flags."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

GO_ZERO_TIME_YEAR = 1
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def _rfc3339(value: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # trim fractional digits beyond microseconds (Go writes nanoseconds)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    return datetime.fromisoformat(text)


def format_time(ts: float) -> str:
    """Unix seconds as RFC 3339 in UTC, to the second (`2026-12-05T01:36:38Z`)."""
    t = time.gmtime(ts)  # not strftime: glibc writes year 1 as "1", which no RFC 3339 parser takes
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"


def parse_timestamp(value: str) -> float:
    """RFC 3339 with any precision or offset (as Alertmanager and other senders write it) to Unix seconds."""
    parsed = _rfc3339(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamp needs a UTC offset or Z")
    if parsed.year <= GO_ZERO_TIME_YEAR:
        return 0.0
    return unix_seconds(parsed)


def parse_duration(text: str) -> float:
    """`90s`, `5m`, `1h30m`, `2d`, or plain seconds (`60`, `0.5`) → seconds."""
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: use e.g. 60 (seconds), 30s, 5m, 6h, 2d")
    return sum(float(n) * _UNITS[u] for n, u in parts)


# Times outside the years 1..9999 UTC (what datetime and time.gmtime can represent) are rejected: from
# 0001-01-01T00:00:00Z up to, not including, 10000-01-01T00:00:00Z.
EARLIEST_TIME, END_OF_TIME = -62_135_596_800.0, 253_402_300_800.0
_LAST_MOMENT = datetime.max.replace(tzinfo=UTC)  # 9999-12-31T23:59:59.999999Z
_LAST_SECONDS = math.nextafter(END_OF_TIME, 0.0)  # the last float in the year 9999, 15 µs before its end


def in_time_range(seconds: float) -> bool:
    """Whether Unix `seconds` fall in the years 1..9999 UTC (9999-12-31T23:59:59-01:00 does not); the one
    range check of webhook times, API parameters and CLI flags."""
    return EARLIEST_TIME <= seconds < END_OF_TIME


def unix_seconds(moment: datetime) -> float:
    """An aware datetime as Unix seconds. A float rounds the last 15 µs of the year 9999 up to the year
    10000: those become the last float before it, so a time in range stays in range."""
    seconds = moment.timestamp()
    return _LAST_SECONDS if seconds == END_OF_TIME and moment <= _LAST_MOMENT else seconds


def parse_time(value: float | str, now: float | None = None) -> float:
    """Unix seconds, RFC 3339 (without an offset: UTC), `now`, or relative to now (`-6h`, `now-6h`); a time
    that is not finite or lies outside the years 1..9999 is a ValueError."""
    seconds = _parse_time(value, now)
    if not in_time_range(seconds):  # also false for nan
        raise ValueError(f"time {value!r} is out of range: use a time between the years 1 and 9999")
    return seconds


def _parse_time(value: float | str, now: float | None) -> float:
    if isinstance(value, bool):
        raise ValueError(f"invalid time {value!r}: use RFC 3339, Unix seconds, now or -6h")
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    if text == "now" or (re.fullmatch(r"(?:now)?-\d.*", text) and not _is_number(text)):
        current = time.time() if now is None else now
        return current if text == "now" else current - parse_duration(text.split("-", 1)[1])
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = _rfc3339(text)
    except ValueError:
        raise ValueError(f"invalid time {text!r}: use RFC 3339, Unix seconds, now or -6h") from None
    return unix_seconds(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
