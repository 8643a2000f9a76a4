"""The largest-jump baseline of the trading benchmarks (`bench.trading`, `bench.exporters`): a series' robust
jump at a time, a counter judged by its rate."""

from __future__ import annotations

import math

import numpy as np


def per_second(times: np.ndarray, values: np.ndarray, counter: bool) -> tuple[np.ndarray, np.ndarray]:
    """A counter's rate between consecutive scrapes (resets dropped); a gauge's values (`times`, `values`:
    the scrapes only)."""
    if not counter:
        return times, values
    rate = np.diff(values) / np.diff(times)
    return times[1:][rate >= 0], rate[rate >= 0]


def robust_jump(
    times: np.ndarray, values: np.ndarray, at: float, recent: float, before: float = math.inf
) -> float:
    """|median of the `recent` seconds up to `at` - median of the `before` seconds ahead of them| in MADs of
    the latter (the whole history ahead of them by default); 0 with fewer than 10 values ahead."""
    last = values[(times > at - recent) & (times <= at)]
    ahead = values[(times > at - recent - before) & (times <= at - recent)]
    if last.size == 0 or ahead.size < 10:
        return 0.0
    centre = float(np.median(ahead))
    scale = max(1.4826 * float(np.median(np.abs(ahead - centre))), 1e-3 * abs(centre), 1e-12)
    return abs(float(np.median(last)) - centre) / scale
