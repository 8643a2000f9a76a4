"""Tail novelty: how rare is this point among everything the series has shown so far (streaming).

Five empirical tail probabilities against the whole history seen so far (`detectors.tail_probability`):
- the value itself (two-sided);
- the size of the step from the previous value (upper tail). With timestamps, a step that recurs daily is
  not new: when the largest step within +-1 % of a day around the same time one day earlier is at least
  0.6 x this one, only the excess over it is compared (the history still keeps every raw step), so the
  daily rise of a periodic series does not alarm each time it comes out a little larger than before;
- the mean of the last window_size / 3 values, among all past such means (two-sided);
- with timestamps, how far that mean has moved since the same time one day earlier (two-sided);
- a burst: the mean step surprise over the last window_size points, among all past such means (upper
  tail), so a stretch of many moderately unusual steps alarms even when no single step beats the largest
  one the history has seen (a busy early spike no longer masks every later, smaller one).
Each comparison has a resolution tolerance (a fraction of the 5-95 % range of its own history), so only a
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
BURST_TOLERANCE = 0.05
ONSET_POINTS = 3
QUIET_SHARE = 0.03
DAILY_STEP_SHARE = 0.6
DAILY_STEP_SPAN = 0.01
PAST_STEPS = MAX_LAG + math.ceil(DAILY_STEP_SPAN * MAX_LAG) + 1  # the steps `_daily_step` can reach back to


class TailNoveltyScorer:
    """Streaming tail-novelty score in [0, 1]; O(log n) search + O(n) memmove insert per point."""

    def __init__(self, rule: DetectionRule, *, quiet: bool = True) -> None:
        """`quiet=False` drops the quiet period after an alarm (leave dedupe to the alert layer)."""
        self.scale = rule.threshold
        self.quiet = quiet
        self.mean_len = max(2, rule.window_size // 3)
        self.quiet_len = 2 * rule.window_size
        self._values = SortedHistory(VALUE_TOLERANCE, ONSET_POINTS)
        self._steps = SortedHistory(STEP_TOLERANCE, ONSET_POINTS)
        self._means = SortedHistory(VALUE_TOLERANCE, ONSET_POINTS)
        self._daily_moves = SortedHistory(DAILY_MOVE_TOLERANCE, ONSET_POINTS)
        self._bursts = SortedHistory(BURST_TOLERANCE, ONSET_POINTS)
        self._recent: deque[float] = deque(maxlen=self.mean_len)
        self._step_surprises: deque[float] = deque(maxlen=max(2, rule.window_size))
        self._past_means: deque[float] = deque(maxlen=MAX_LAG)
        self._past_steps: list[float] = []  # the last PAST_STEPS steps at least (trimmed in _learn)
        self._daily = DailyLag()
        self._previous: float | None = None
        self._seen = 0
        self._quiet = 0

    def update(self, value: float, timestamp: float | None = None) -> float:
        """Score `value` against the past, then learn it (`timestamp` in seconds enables the daily terms)."""
        lag = self._daily.update(timestamp) if timestamp is not None else 0
        n = len(self._values)
        self._recent.append(value)
        mean = sum(self._recent) / self.mean_len if len(self._recent) == self.mean_len else None
        move = self._daily_move(mean, lag)
        step = abs(value - self._previous) if self._previous is not None else None
        raw_step = self._step_surprise(step)
        self._step_surprises.append(raw_step)
        burst = None
        if len(self._step_surprises) == self._step_surprises.maxlen:
            burst = sum(self._step_surprises) / len(self._step_surprises)
        score = 0.0
        if self._quiet == 0:  # in the quiet period a point scores 0 whatever its surprise: not measured
            new_step = raw_step
            if step is not None and lag and (discounted := self._daily_step(step, lag)) != step:
                new_step = self._step_surprise(discounted)
            s = self._surprise(value, new_step, mean, move, burst)
            score = min(1.0, s / (self.scale * math.sqrt(math.log10(n + 2))))
        self._learn(value, step, mean, move, burst)
        seen, self._seen = self._seen, self._seen + 1
        if self._quiet > 0:
            self._quiet -= 1
            return 0.0
        if score >= 0.5 and self.quiet:
            self._quiet = max(self.quiet_len, int(QUIET_SHARE * seen))
        return score

    def _daily_move(self, mean: float | None, lag: int) -> float | None:
        """The rolling mean now minus the rolling mean `lag` points (one day) ago, when both exist."""
        if mean is None or not 0 < lag <= len(self._past_means):
            return None
        return mean - self._past_means[-lag]

    def _daily_step(self, step: float, lag: int) -> float:
        """The step less the largest step near the same time one day earlier, when that one was comparable."""
        span = max(1, round(DAILY_STEP_SPAN * lag))
        n = len(self._past_steps)
        if lag <= span or lag + span > min(n, PAST_STEPS):
            return step
        past = max(self._past_steps[n - lag - span : n - lag + span + 1])  # steps lag +- span points ago
        return max(0.0, step - past) if past >= DAILY_STEP_SHARE * step else step

    def _step_surprise(self, step: float | None) -> float:
        """Surprise of a step among all past steps (0.0 when there is no step or no past step)."""
        if step is None or len(self._steps) == 0:
            return 0.0
        return surprise(self._steps.upper(step))

    def _surprise(
        self, value: float, step: float, mean: float | None, move: float | None, burst: float | None
    ) -> float:
        if len(self._values) < MIN_HISTORY:
            return 0.0
        s = max(surprise(self._values.two_sided(value)), step)
        if burst is not None and len(self._bursts) >= MIN_HISTORY:
            s = max(s, surprise(self._bursts.upper(burst)))
        if mean is not None and len(self._means) >= MIN_HISTORY:
            s = max(s, surprise(self._means.two_sided(mean)))
        if move is not None and len(self._daily_moves) >= MIN_HISTORY:
            s = max(s, surprise(self._daily_moves.two_sided(move)))
        return s

    def _learn(
        self, value: float, step: float | None, mean: float | None, move: float | None, burst: float | None
    ) -> None:
        self._values.add(value)
        self._past_steps.append(step if step is not None else 0.0)
        if len(self._past_steps) > 2 * PAST_STEPS:  # trimmed in batches: a slice is cheaper than a deque walk
            del self._past_steps[:-PAST_STEPS]
        if step is not None:
            self._steps.add(step)
        self._previous = value
        if burst is not None:
            self._bursts.add(burst)
        if mean is not None:
            self._means.add(mean)
            self._past_means.append(mean)
        if move is not None:
            self._daily_moves.add(move)


def novelty_points(values: np.ndarray, rule: DetectionRule, threshold: np.ndarray) -> PointScores:
    """Batch form: replays each row through the streaming scorer (the one method that loops over points).

    No timestamps reach this function, so the daily terms (daily move, daily-recurring step) are off in batch.
    z is the robust z of the value against the row median / MAD (for severity only).
    """
    k, n = values.shape
    score = np.zeros((k, n))
    for r in range(k):
        update = TailNoveltyScorer(rule).update
        score[r] = [update(v) if math.isfinite(v) else math.nan for v in values[r].tolist()]
    med = np.nanmedian(values, axis=1, keepdims=True)
    mad = 1.4826 * np.nanmedian(np.abs(values - med), axis=1, keepdims=True)
    scale = np.where(mad > 0, mad, np.nanstd(values, axis=1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = directional((values - med) / np.maximum(scale, 1e-9), rule.direction)
    if rule.direction != "both":
        score = np.where(z == 0, np.minimum(score, 0.49), score)
    return PointScores(z=z, score=score, baseline=np.broadcast_to(med, (k, n)), threshold=threshold)
