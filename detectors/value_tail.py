"""How rare a value is among every earlier value of its series, two-sided, in linear time.

p = 2 x (c + 1) / (n + 1), c = how many of the n earlier values lie as far out on the value's side (below it
for the low side, above it for the high side, each up to a tolerance), as novelty's `SortedHistory.two_sided`
has it. The tolerance is novelty's 5 % of the 5-95 % range, with that range taken as 3.29 sd of the earlier
values (the Gaussian identity; a running sd costs two prefix sums, running quantiles would not be linear).
Only rare values matter, so c is counted among the TAIL_COUNT most extreme earlier values of each side: a
value with at least TAIL_COUNT earlier values beyond it on both sides is ordinary (surprise 0); with
TAIL_COUNT = 4 such a value would score below the alarm level (novelty's normalisation, threshold 3) on any
series up to about 10,000 points anyway (the scheduler's default window holds 1,440).
Batch keeps the k-th smallest earlier value for k = 1..TAIL_COUNT (each a running minimum over the previous
order's: O(TAIL_COUNT x n), vectorised over rows); streaming keeps the TAIL_COUNT extremes of each side.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort

import numpy as np

from detectors.rolling import prefix_sum

TAIL_COUNT = 4  # 8 or 16: the same NAB and bench.ops figures at twice / four times the cost
TOLERANCE = 0.05 * 3.29  # novelty's VALUE_TOLERANCE of the 5-95 % range, in sd
MIN_HISTORY = 10  # novelty's: fewer earlier values say nothing


def earlier_spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point of a (k, n) block (NaN = no value): how many finite values came before it and their sd.

    Sums of the values less each row's first finite value, so that large offsets do not cancel.
    """
    finite = np.isfinite(values)
    first = values[np.arange(values.shape[0]), np.argmax(finite, axis=1)][:, None]
    d = np.where(finite, values - first, 0.0)
    n = prefix_sum(finite.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = prefix_sum(d) / n
        sd = np.sqrt(np.maximum(prefix_sum(d * d) / n - mean * mean, 0.0))
    return n, sd


def _earlier_beyond(values: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Per point: how many of the TAIL_COUNT smallest earlier values are <= its bound (NaN values skipped)."""
    x = np.where(np.isfinite(values), values, np.inf)
    count = np.zeros(values.shape, dtype=np.int8)  # at most TAIL_COUNT: small integers add fastest
    count[:, 0] = TAIL_COUNT * (np.inf <= bound[:, 0])  # before the first point every order is +inf
    order = np.minimum.accumulate(x, axis=1)  # the k-th smallest up to and including each point, k = 1
    merged = np.empty(values.shape)
    merged[:, 0] = np.inf
    hit = np.empty((values.shape[0], values.shape[1] - 1), dtype=bool)
    for k in range(TAIL_COUNT):
        before = order[:, :-1]  # the k-th smallest before each point (from the second on)
        np.less_equal(before, bound[:, 1:], out=hit)
        np.add(count[:, 1:], hit, out=count[:, 1:], casting="unsafe")
        if k + 1 < TAIL_COUNT:
            # the (k+1)-th smallest up to t = min over j <= t of max(k-th smallest before j, x_j)
            np.maximum(before, x[:, 1:], out=merged[:, 1:])
            np.minimum.accumulate(merged, axis=1, out=order)
    return count


def value_tail_surprise(values: np.ndarray) -> np.ndarray:
    """-log10 p of each value of a (k, n) block among the earlier values of its row (0: NaN or ordinary)."""
    c, n = value_tail_counts(values)
    rare = c < TAIL_COUNT
    out = np.zeros(values.shape)
    out[rare] = -np.log10(np.minimum(1.0, 2.0 * (c[rare] + 1.0) / (n[rare] + 1.0)))
    return out


def value_tail_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per value of a (k, n) block: c, how many of the earlier values lie as far out on its side (TAIL_COUNT
    where ordinary, NaN, or fewer than MIN_HISTORY earlier values), and n, the earlier values."""
    n, sd = earlier_spread(values)
    slack = TOLERANCE * sd
    with np.errstate(invalid="ignore"):
        below = _earlier_beyond(values, values + slack)
        above = _earlier_beyond(-values, -(values - slack))
    c = np.minimum(below, above)
    c[~((n >= MIN_HISTORY) & np.isfinite(values))] = TAIL_COUNT
    return c, n


class ValueTail:
    """Streaming `value_tail_surprise`: O(TAIL_COUNT) a point."""

    def __init__(self) -> None:
        self._low: list[float] = []  # the TAIL_COUNT smallest earlier values, ascending
        self._high: list[float] = []  # the TAIL_COUNT largest, as negatives, ascending
        self._first = math.nan
        self._n = 0
        self._sum = self._squares = 0.0

    def observe(self, value: float) -> float:
        """-log10 p of `value` among the earlier values, then learn it (NaN: 0, not learnt)."""
        if not math.isfinite(value):
            return 0.0
        surprise = self._surprise(value)
        self.learn(value)
        return surprise

    def learn(self, value: float) -> None:
        """Learn `value` without ranking it (NaN: not learnt)."""
        if not math.isfinite(value):
            return
        if not math.isfinite(self._first):
            self._first = value
        d = value - self._first
        self._n += 1
        self._sum += d
        self._squares += d * d
        _keep_smallest(self._low, value)
        _keep_smallest(self._high, -value)

    def count_beyond(self, value: float) -> int:
        """`value_tail_counts`' c of `value` among the earlier values (TAIL_COUNT: ordinary, NaN, too few)."""
        if self._n < MIN_HISTORY or not math.isfinite(value):
            return TAIL_COUNT
        mean = self._sum / self._n
        slack = TOLERANCE * math.sqrt(max(self._squares / self._n - mean * mean, 0.0))
        below = bisect_right(self._low, value + slack)
        above = bisect_right(self._high, -(value - slack))
        return min(below, above, TAIL_COUNT)

    def surprise_of(self, beyond: int) -> float:
        """-log10 p of a value with `beyond` (< TAIL_COUNT) of the earlier values as far out."""
        return -math.log10(min(1.0, 2.0 * (beyond + 1.0) / (self._n + 1.0)))

    def _surprise(self, value: float) -> float:
        beyond = self.count_beyond(value)
        return self.surprise_of(beyond) if beyond < TAIL_COUNT else 0.0


def _keep_smallest(side: list[float], x: float) -> None:
    """Insert `x` into the ascending list of the TAIL_COUNT smallest values so far."""
    if len(side) < TAIL_COUNT or x < side[-1]:  # else it would be inserted last and dropped at once
        insort(side, x)
        if len(side) > TAIL_COUNT:
            side.pop()
