"""Tail novelty: how rare is this point among everything the series has shown so far (streaming).

Four empirical tail probabilities against the whole history seen so far (`detectors.tail_probability`):
the value itself (two-sided), the size of the step from the previous value, the mean of the last
window_size / 3 values (among all past such means) and, when timestamps give the sampling interval, how
far that mean has moved since the same time one day earlier (among all past such daily moves). Each
comparison has a resolution tolerance (a fraction of the 5-95 % range of its own history), so only a
point beyond the past by a visible margin is rare; the newest 3 points stay out of the comparison set.
With s = -log10 of the smallest p, the score is s / (threshold x sqrt(log10(n + 2))): the sqrt keeps a
new extreme in a long history more alarming than in a short one, but not by the full log10(n) a raw
p-value would give. After a score >= 0.5 the next 2 x window_size points, or 3 % of the points seen so
far if that is more, score 0: one anomaly is reported once, not at every point of it, and a long history
(which has shown more ordinary near-records) alarms at most about once per 3 % of its length.
Distribution-free, so one configuration fits series of any scale or shape (this is the NAB detector).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from detectors.calibration import directional
from detectors.point_scores import PointScores
from detectors.rules import DetectionRule
from detectors.sampling_interval import MAX_LAG, DailyLag
from detectors.tail_probability import SortedHistory, surprise

MIN_HISTORY = 10
VALUE_TOLERANCE = 0.05
STEP_TOLERANCE = 0.2
DAILY_MOVE_TOLERANCE = 1.0
ONSET_POINTS = 3
QUIET_SHARE = 0.03


class TailNoveltyScorer:
    """Streaming tail-novelty score in [0, 1]; O(log n) search + O(n) memmove insert per point."""

    def __init__(self, rule: DetectionRule) -> None:
        self.scale = rule.threshold
        self.mean_len = max(2, rule.window_size // 3)
        self.quiet_len = 2 * rule.window_size
        self._values = SortedHistory(VALUE_TOLERANCE, ONSET_POINTS)
        self._steps = SortedHistory(STEP_TOLERANCE, ONSET_POINTS)
        self._means = SortedHistory(VALUE_TOLERANCE, ONSET_POINTS)
        self._daily_moves = SortedHistory(DAILY_MOVE_TOLERANCE, ONSET_POINTS)
        self._recent: deque[float] = deque(maxlen=self.mean_len)
        self._past_means: deque[float] = deque(maxlen=MAX_LAG)
        self._daily = DailyLag()
        self._previous: float | None = None
        self._seen = 0
        self._quiet = 0

    def update(self, value: float, timestamp: float | None = None) -> float:
        """Score `value` against the past, then learn it (`timestamp` in seconds enables the daily move)."""
        lag = self._daily.update(timestamp) if timestamp is not None else 0
        n = len(self._values)
        self._recent.append(value)
        mean = sum(self._recent) / self.mean_len if len(self._recent) == self.mean_len else None
        move = self._daily_move(mean, lag)
        score = min(1.0, self._surprise(value, mean, move) / (self.scale * math.sqrt(math.log10(n + 2))))
        self._learn(value, mean, move)
        seen, self._seen = self._seen, self._seen + 1
        if self._quiet > 0:
            self._quiet -= 1
            return 0.0
        if score >= 0.5:
            self._quiet = max(self.quiet_len, int(QUIET_SHARE * seen))
        return score

    def _daily_move(self, mean: float | None, lag: int) -> float | None:
        """The rolling mean now minus the rolling mean `lag` points (one day) ago, when both exist."""
        if mean is None or not 0 < lag <= len(self._past_means):
            return None
        return mean - self._past_means[-lag]

    def _surprise(self, value: float, mean: float | None, move: float | None) -> float:
        if len(self._values) < MIN_HISTORY:
            return 0.0
        s = surprise(self._values.two_sided(value))
        if self._previous is not None and len(self._steps) > 0:
            s = max(s, surprise(self._steps.upper(abs(value - self._previous))))
        if mean is not None and len(self._means) >= MIN_HISTORY:
            s = max(s, surprise(self._means.two_sided(mean)))
        if move is not None and len(self._daily_moves) >= MIN_HISTORY:
            s = max(s, surprise(self._daily_moves.two_sided(move)))
        return s

    def _learn(self, value: float, mean: float | None, move: float | None) -> None:
        self._values.add(value)
        if self._previous is not None:
            self._steps.add(abs(value - self._previous))
        self._previous = value
        if mean is not None:
            self._means.add(mean)
            self._past_means.append(mean)
        if move is not None:
            self._daily_moves.add(move)


def novelty_points(values: np.ndarray, rule: DetectionRule, threshold: np.ndarray) -> PointScores:
    """Batch form: replays each row through the streaming scorer (the one method that loops over points).

    No timestamps reach this function, so the daily-move comparison is off in batch.
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
