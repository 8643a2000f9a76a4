"""Streaming detection: one point at a time per series, state kept, no look-ahead.

The detector keeps the last `3 x window_size` points and scores the newest one with the same batch code
(`score_points`) run over that buffer, so streaming and batch agree on what a point's past implies.
IsolationForest is refitted every `window_size` points on the buffer and scores each new point as it comes.
`novelty` is natively streaming (`detectors.novelty`) and keeps its whole history instead of a buffer;
it also gets the timestamps (for its day-over-day comparison), as does `level_step_tail` (its seasonal
residual). `replay` scores a recorded series as a run of `update` calls would; for the buffer methods it
scores every full buffer in one columnar pass (the buffers as the rows of a block) instead of one at a time.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from detectors.batch import score_points
from detectors.errors import DetectorError
from detectors.isolation_forest import window_features
from detectors.level_step import LevelStepScorer
from detectors.level_step_tail import LevelStepTailScorer
from detectors.novelty import TailNoveltyScorer
from detectors.rules import DetectionRule

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest


REPLAY_BLOCK = 2048  # buffers scored per columnar pass in `replay` (a few MB per block)
_BUFFERED = frozenset({"zscore", "robust_zscore", "iqr", "changepoint", "ensemble"})


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

    def replay(self, timestamps: np.ndarray, values: np.ndarray, block: int = REPLAY_BLOCK) -> np.ndarray:
        """The scores `update` would give each point of a recorded series, in order, leaving the detector
        as those calls would. zscore, robust_zscore, iqr, changepoint and ensemble score each full buffer
        as one row of a columnar block (`block` rows at a time); the others call `update` per point."""
        v = np.asarray(values, dtype=np.float64).copy()
        v[~np.isfinite(v)] = np.nan
        size = self._values.maxlen or 1
        batched = self._seen == 0 and self.rule.method in _BUFFERED and v.size >= size
        head = size - 1 if batched else v.size  # the buffer is not full yet: one update at a time
        out = np.array(
            [self.update(float(t), float(x)) for t, x in zip(timestamps[:head], v[:head], strict=True)]
        )
        if not batched:
            return out
        rows = sliding_window_view(v, size)  # row j: the buffer when point j + size - 1 arrives
        scores = np.concatenate(
            [out, *(_buffer_scores(rows[a : a + block], self.rule) for a in range(0, len(rows), block))]
        )
        self._times.extend(float(t) for t in timestamps[-size:])
        self._values.extend(v[-size:].tolist())
        self._seen = v.size
        return scores

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


def _buffer_scores(buffers: np.ndarray, rule: DetectionRule) -> np.ndarray:
    """Score of the last point of each buffer (row), as `StreamingDetector.update` gives it: 0 for a gap,
    fewer than `min_samples` values or a flat buffer."""
    block = np.ascontiguousarray(buffers)
    finite = np.isfinite(block)
    ok = finite[:, -1] & (finite.sum(axis=1) >= rule.min_samples)
    ok &= np.where(finite, block, -np.inf).max(axis=1) != np.where(finite, block, np.inf).min(axis=1)
    scores = np.zeros(block.shape[0])
    if ok.any():
        last = score_points(block[ok], rule)[0].score[:, -1]
        scores[ok] = np.where(np.isfinite(last), last, 0.0)
    return scores
