"""Tail novelty: how rare is this point among everything the series has shown so far (streaming).

Three empirical tail probabilities against the whole history seen so far (exact ranks in sorted lists):
the value itself (two-sided), the size of the step from the previous value, and the mean of the last
window_size / 5 values (among all past such means). With s = -log10 of the smallest p, the score is
s / (threshold x sqrt(log10(n + 2))): the sqrt keeps a new extreme in a long history more alarming than
in a short one, but not by the full log10(n) a raw p-value would give. After a score >= 0.5 the next
2 x window_size points score 0, so one anomaly is reported once, not at every point of it.
Distribution-free, so one configuration fits series of any scale or shape (this is the NAB detector).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque

import numpy as np

from detectors.calibration import directional
from detectors.point_scores import PointScores
from detectors.rules import DetectionRule

MIN_HISTORY = 10


def two_sided_tail(ordered: list[float], x: float) -> float:
    """Empirical two-sided tail probability of x among sorted past values (add-one smoothed)."""
    n = len(ordered)
    below, above = bisect_right(ordered, x), n - bisect_left(ordered, x)
    return min(1.0, 2.0 * (min(below, above) + 1) / (n + 1))


def upper_tail(ordered: list[float], x: float) -> float:
    """Empirical probability that a past value is >= x (add-one smoothed)."""
    n = len(ordered)
    return (n - bisect_left(ordered, x) + 1) / (n + 1)


class TailNoveltyScorer:
    """Streaming tail-novelty score in [0, 1]; O(log n) search + O(n) memmove insert per point."""

    def __init__(self, rule: DetectionRule) -> None:
        self.scale = rule.threshold
        self.mean_len = max(2, rule.window_size // 5)
        self.quiet_len = 2 * rule.window_size
        self._values: list[float] = []
        self._steps: list[float] = []
        self._means: list[float] = []
        self._recent: deque[float] = deque(maxlen=self.mean_len)
        self._previous: float | None = None
        self._quiet = 0

    def update(self, value: float) -> float:
        """Score `value` against the past, then learn it."""
        n = len(self._values)
        surprise = 0.0
        if n >= MIN_HISTORY:
            surprise = -math.log10(two_sided_tail(self._values, value))
            if self._previous is not None and self._steps:
                surprise = max(surprise, -math.log10(upper_tail(self._steps, abs(value - self._previous))))
            if len(self._recent) == self.mean_len and len(self._means) >= MIN_HISTORY:
                mean = (sum(self._recent) - self._recent[0] + value) / self.mean_len
                surprise = max(surprise, -math.log10(two_sided_tail(self._means, mean)))
        self._learn(value)
        score = min(1.0, surprise / (self.scale * math.sqrt(math.log10(n + 2))))
        if self._quiet > 0:
            self._quiet -= 1
            return 0.0
        if score >= 0.5:
            self._quiet = self.quiet_len
        return score

    def _learn(self, value: float) -> None:
        insort(self._values, value)
        if self._previous is not None:
            insort(self._steps, abs(value - self._previous))
        self._previous = value
        self._recent.append(value)
        if len(self._recent) == self.mean_len:
            insort(self._means, sum(self._recent) / self.mean_len)


def novelty_points(values: np.ndarray, rule: DetectionRule, threshold: np.ndarray) -> PointScores:
    """Batch form: replays each row through the streaming scorer (the one method that loops over points).

    z is the robust z of the value against the row median / MAD (for severity only).
    """
    k, n = values.shape
    score = np.zeros((k, n))
    for r in range(k):
        scorer = TailNoveltyScorer(rule)
        for i, v in enumerate(values[r].tolist()):
            score[r, i] = scorer.update(v) if math.isfinite(v) else np.nan
    med = np.nanmedian(values, axis=1, keepdims=True)
    mad = 1.4826 * np.nanmedian(np.abs(values - med), axis=1, keepdims=True)
    scale = np.where(mad > 0, mad, np.nanstd(values, axis=1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = directional((values - med) / np.maximum(scale, 1e-9), rule.direction)
    if rule.direction != "both":
        score = np.where(z == 0, np.minimum(score, 0.49), score)
    return PointScores(z=z, score=score, baseline=np.broadcast_to(med, (k, n)), threshold=threshold)
