"""Empirical tail probabilities over a sorted history, with a resolution tolerance.

A point only counts as beyond a past value if it is beyond it by more than `tolerance x spread`, where the
spread is the 5-95 % range of that history. Without the tolerance, a value a hair below a flat floor (or
a tweet count one above the usual burst) is "the most extreme ever" and looks as rare as a real outage.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque

SPREAD_QUANTILES = (0.05, 0.95)


class SortedHistory:
    """Every value seen so far, kept sorted: O(log n) tail queries, O(n) memmove per insert.

    The newest `delay` values wait outside the comparison set, so an anomaly that builds up over a few
    points is not masked (within the tolerance) by its own onset.
    """

    def __init__(self, tolerance: float, delay: int = 0) -> None:
        self.tolerance = tolerance
        self._ordered: list[float] = []
        self._pending: deque[float] = deque()
        self.delay = delay

    def __len__(self) -> int:
        return len(self._ordered)

    def add(self, x: float) -> None:
        self._pending.append(x)
        if len(self._pending) > self.delay:
            insort(self._ordered, self._pending.popleft())

    def spread(self) -> float:
        """The 5-95 % range of the history (0.0 when empty)."""
        o, n = self._ordered, len(self._ordered)
        if n == 0:
            return 0.0
        lo, hi = SPREAD_QUANTILES
        return o[int(hi * (n - 1))] - o[int(lo * (n - 1))]

    def two_sided(self, x: float) -> float:
        """Add-one smoothed probability that a past value is at least as far out as x, on x's side."""
        o, n = self._ordered, len(self._ordered)
        slack = self.tolerance * self.spread()
        below, above = bisect_right(o, x + slack), n - bisect_left(o, x - slack)
        return min(1.0, 2.0 * (min(below, above) + 1) / (n + 1))

    def upper(self, x: float) -> float:
        """Add-one smoothed probability that a past value is >= x (up to the tolerance)."""
        o, n = self._ordered, len(self._ordered)
        slack = self.tolerance * self.spread()
        return (n - bisect_left(o, x - slack) + 1) / (n + 1)


def surprise(p: float) -> float:
    """-log10 of a probability: 1 for a one-in-ten event, 3 for one in a thousand."""
    return -math.log10(p)
