"""Values as people read them, by the unit their metric's name declares (Prometheus naming conventions).

A duration in ms or s (`_seconds`), bytes in kB to TB (`_bytes`), a Unix time as a UTC time
(`_timestamp_seconds`, `_time_seconds`) and a counter's rate per second (`rate(x_total[...])`). Anything
else keeps four significant digits: `1.796e+09 -> 1.797e+09` says nothing of a restart a day later, and
`2.003e+08` is easier to misread than `200.3 MB`.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

_TIMESTAMP = re.compile(r"(_timestamp|_time)_seconds$")
_BYTE_UNITS = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"))
_RATE = re.compile(r"\b(i?rate|increase)\s*\(")


def _plain(value: float) -> str:
    return f"{value:.4g}"


def _duration(seconds: float) -> str:
    if abs(seconds) < 1:
        return f"{seconds * 1000:.4g} ms"
    return f"{seconds:.4g} s"


def _bytes(value: float) -> str:
    for size, unit in _BYTE_UNITS:
        if abs(value) >= size:
            return f"{value / size:.4g} {unit}"
    return f"{value:.4g} B"


def _utc(value: float) -> str:
    try:
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return _plain(value)


def format_value(metric: str, value: float, query: str = "") -> str:
    """`value` of a series of `metric` (fetched by `query`) with the unit its name declares."""
    if not math.isfinite(value):
        return _plain(value)
    name = metric.lower().removesuffix(":mean")
    if name.endswith("_total"):
        rated = bool(_RATE.search(query))
        base = name.removesuffix("_total")
        if rated and base.endswith("_bytes"):
            return f"{_bytes(value)}/s"
        return f"{_plain(value)}/s" if rated and not base.endswith("_seconds") else _plain(value)
    if _TIMESTAMP.search(name):
        return _utc(value)
    if name.endswith("_seconds"):
        return _duration(value)
    if name.endswith(("_milliseconds", "_ms")):
        return f"{value:.4g} ms"
    if name.endswith("_bytes"):
        return _bytes(value)
    if name.endswith("_percent"):
        return f"{value:.4g} %"
    return _plain(value)


def format_difference(metric: str, value: float, query: str = "") -> str:
    """A difference between two values of `metric` (a timestamp's is a duration)."""
    if _TIMESTAMP.search(metric.lower()) and math.isfinite(value):
        return _duration(value)
    return format_value(metric, value, query)


def format_change(metric: str, before: float, after: float, query: str = "") -> tuple[str, str]:
    """`before` and `after` as `format_value` writes them; with more digits when four would make two
    different values read the same."""
    first, second = format_value(metric, before, query), format_value(metric, after, query)
    if first == second and before != after and math.isfinite(before) and math.isfinite(after):
        return f"{before:.10g}", f"{after:.10g}"
    return first, second
