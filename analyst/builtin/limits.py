"""A series' value as a share of its limit, when its name says it is one (a percent, ratio or utilisation).

A resource at AT_LIMIT of its limit or more is saturated: a pod at 100 % of its CPU is throttled, one whose
memory rose to 70 % is not short of memory, however far each moved.
"""

from __future__ import annotations

import re

# The level of most saturation alerts in the rule corpus (`used / max * 100 > 90`, `> 0.9 * limit`), not
# chosen on any benchmark.
AT_LIMIT = 0.9
_PERCENT = re.compile(r"percent|pct")
_SHARE = re.compile(r"(^|_)ratio|fraction|utili[sz]ation")  # not a du_ratio_n
_HEADROOM = re.compile(r"free|avail|idle|remaining|headroom")  # a share left over, not one in use
# A share of 1 can overshoot a little (CPU above its request); above this it can only be a percentage.
_SHARE_CEILING = 1.5


def utilisation(metric: str, value: float) -> float | None:
    """`value` of a series as a share of its limit, when its name says it is one: a percent (/ 100), or a
    ratio, fraction or utilisation (as is; / 100 above 1.5, where it can only be a percentage). None for
    a share of what is left (free, available, idle)."""
    name = metric.lower()
    if _HEADROOM.search(name):
        return None
    if _PERCENT.search(name):
        return value / 100.0
    if _SHARE.search(name):
        return value / 100.0 if value > _SHARE_CEILING else value
    return None
