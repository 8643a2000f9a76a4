"""How many points make a day: the sampling interval, learnt from a series' first timestamps (streaming)."""

from __future__ import annotations

import math
import statistics

import numpy as np

DAY_SECONDS = 86_400.0
INTERVALS_NEEDED = 50
MIN_LAG, MAX_LAG = 4, 5_000


class DailyLag:
    """Feed timestamps (seconds) in order; `points` is the number of points per day once known, else 0.

    The interval is the median of the first 50 gaps, so a few missing or repeated points do not move it.
    Series sampled slower than every 6 hours or faster than every ~17 s get 0 (no daily comparison).
    """

    def __init__(self) -> None:
        self._gaps: list[float] = []
        self._last: float | None = None
        self.points = 0

    def update(self, timestamp: float) -> int:
        if len(self._gaps) < INTERVALS_NEEDED and math.isfinite(timestamp):
            if self._last is not None:
                self._gaps.append(timestamp - self._last)
                if len(self._gaps) == INTERVALS_NEEDED:
                    self.points = lag_for(statistics.median(self._gaps))
            self._last = timestamp
        return self.points


def day_points_of(timestamps: np.ndarray) -> int:
    """What `DailyLag` learns from a grid of timestamps (seconds): points per day (0: unknown, too short)."""
    ts = np.asarray(timestamps, dtype=float).ravel()
    ts = ts[np.isfinite(ts)][: INTERVALS_NEEDED + 1]
    if ts.size < INTERVALS_NEEDED + 1:
        return 0
    return lag_for(statistics.median(np.diff(ts).tolist()))


def lag_for(interval: float) -> int:
    """Points per day for a sampling interval in seconds; 0 when that is outside [4, 5000]."""
    if interval <= 0:
        return 0
    lag = round(DAY_SECONDS / interval)
    return lag if MIN_LAG <= lag <= MAX_LAG else 0
