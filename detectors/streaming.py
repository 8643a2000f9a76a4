"""Streaming detection: one point at a time per series, state kept, no look-ahead.

The detector keeps the last `3 x window_size` points and scores the newest one with the same batch code
(`score_points`) run over that buffer, so streaming and batch agree on what a point's past implies.
IsolationForest is refitted every `window_size` points on the buffer and scores each new point as it comes.
`novelty` is natively streaming (`detectors.novelty`) and keeps its whole history instead of a buffer;
it also gets the timestamps (for its day-over-day comparison), as does `level_step_tail` (its seasonal
residual).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from detectors.batch import score_points
from detectors.errors import DetectorError
from detectors.isolation_forest import window_features
from detectors.level_step import LevelStepScorer
from detectors.level_step_tail import LevelStepTailScorer
from detectors.novelty import TailNoveltyScorer
from detectors.rules import DetectionRule

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest


class StreamingDetector:
    """Feed `update(timestamp, value)` in time order; each call returns the newest point's score in [0, 1]."""

    def __init__(self, rule: DetectionRule) -> None:
        if rule.method == "multivariate":
            raise DetectorError("multivariate needs several aligned series: use detect_batch instead")
        self.rule = rule
        size = 3 * rule.window_size
        self._times: deque[float] = deque(maxlen=size)
        self._values: deque[float] = deque(maxlen=size)
        self._seen = 0
        self._forest: IsolationForest | None = None
        self._forest_cut = 0.0
        self._novelty = TailNoveltyScorer(rule) if rule.method == "novelty" else None
        self._level_step = LevelStepScorer(rule) if rule.method == "level_step" else None
        self._level_step_tail = LevelStepTailScorer(rule) if rule.method == "level_step_tail" else None

    def update(self, timestamp: float, value: float) -> float:
        """Score of this point given only the points before it (0.0 while warming up or for a gap)."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = float("nan")
        if not math.isfinite(v):
            v = float("nan")
        if self._novelty is not None:
            return self._novelty.update(v, float(timestamp)) if math.isfinite(v) else 0.0
        if self._level_step_tail is not None:
            score = self._level_step_tail.update(v, float(timestamp))[0]
            return score if math.isfinite(score) else 0.0
        if self._level_step is not None:
            score = self._level_step.update(v)[0]
            return score if math.isfinite(score) else 0.0
        self._times.append(float(timestamp))
        self._values.append(v)
        self._seen += 1
        if not np.isfinite(v):
            return 0.0
        buffer = np.array(self._values)[None, :]
        if np.isfinite(buffer).sum() < self.rule.min_samples or np.nanmax(buffer) == np.nanmin(buffer):
            return 0.0
        if self.rule.method == "isolation_forest":
            return self._forest_score(buffer)
        score = float(score_points(buffer, self.rule)[0].score[0, -1])
        return score if np.isfinite(score) else 0.0

    def _forest_score(self, buffer: np.ndarray) -> float:
        feats = np.nan_to_num(window_features(buffer, self.rule.window_size)[0], nan=0.0)
        if self._forest is None or self._seen % self.rule.window_size == 0:
            past = feats[:-1][np.isfinite(buffer[0, :-1])]
            if past.shape[0] < self.rule.min_samples:
                return 0.0
            from sklearn.ensemble import IsolationForest  # lazy: scikit-learn costs ~30 MB of RSS

            self._forest = IsolationForest(contamination=self.rule.contamination, random_state=0).fit(past)
            self._forest_cut = -float(self._forest.offset_)
        anomaly = -float(self._forest.score_samples(feats[-1:])[0])
        cut = self._forest_cut
        return float(np.clip(0.5 + (anomaly - cut) / (2.0 * max(1.0 - cut, 1e-6)), 0.0, 1.0))
