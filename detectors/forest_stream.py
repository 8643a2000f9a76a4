"""Streaming Isolation Forest for one series: refitted once as many new points came as it learnt from.

The forest learns the latest `FIT_SAMPLES` points (the batch forest's sample size) and is refitted when as
many new points have arrived as it learnt from: the history doubles between fits while it is young, then a
fit every `FIT_SAMPLES` points, about log2(FIT_SAMPLES) + n / FIT_SAMPLES fits in all. A level that moves
for good reads as new until the next fit, at most `FIT_SAMPLES` points later. Every point is scored by the
forest fitted before it (no look-ahead); between two fits the points can be scored in one call, which is
what `StreamingDetector.replay` does. A refit on 4,096 points (trees and cut) takes about 25 ms
(`detectors.isolation_trees`). A history beyond `HUGE` is scaled down as batch scales a series
(`overflow_scales`), and the buffers scored until the next fit with it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from detectors.isolation_forest import (
    FIT_SAMPLES,
    fit_forest,
    forest_scores,
    newest_window_features,
    window_features,
)
from detectors.rules import DetectionRule
from detectors.validation import overflow_scales

if TYPE_CHECKING:
    from collections.abc import Iterable

    from detectors.isolation_trees import IsolationTrees


class StreamingForest:
    """`observe` each value in time order (it may refit first); `score` buffers ending at observed points."""

    def __init__(self, rule: DetectionRule) -> None:
        self.rule = rule
        self._history: deque[float] = deque(maxlen=FIT_SAMPLES)
        self._seen = 0
        self._next_fit = 1  # the count of points seen at which the next fit happens
        self._forest: IsolationTrees | None = None
        self._cut = 0.0
        self._unit = 1.0  # the fitted history's overflow scale: buffers are scored in its units

    @property
    def points_until_fit(self) -> int:
        """How many further values `observe` takes before one of them refits (1: the next one does)."""
        return max(1, self._next_fit - self._seen)

    def observe(self, value: float) -> None:
        """Add the newest value, refitting on the history before it first when a fit is due."""
        if self._seen + 1 >= self._next_fit:
            self._fit(np.fromiter(self._history, dtype=np.float64, count=len(self._history)))
        self._history.append(value)
        self._seen += 1

    def extend(self, values: Iterable[float]) -> None:
        """`observe` each of `values`, none of which may be due to refit (see `points_until_fit`)."""
        added = list(values)
        if len(added) >= self.points_until_fit:
            raise ValueError("a refit is due within these values: observe them one at a time")
        self._history.extend(added)
        self._seen += len(added)

    def score(self, buffers: np.ndarray) -> np.ndarray:
        """Score in [0, 1] of the last point of each buffer (row): 0.5 at the forest's contamination cut,
        0 before the first fit."""
        if self._forest is None:
            return np.zeros(buffers.shape[0])
        # the last point's features need no more than its window and two differences
        recent = buffers[:, -(self.rule.window_size + 2) :] / self._unit
        feats = np.nan_to_num(newest_window_features(recent, self.rule.window_size), nan=0.0)
        return forest_scores(self._forest, self._cut, feats)

    def _fit(self, past: np.ndarray) -> None:
        finite = np.isfinite(past)
        if finite.sum() < self.rule.min_samples:
            self._next_fit = self._seen + 2  # try again with the next point
            return
        self._unit = float(overflow_scales(past[None, :])[0])
        feats = window_features(past[None, :] / self._unit, self.rule.window_size)[0]
        self._forest, self._cut = fit_forest(np.nan_to_num(feats, nan=0.0)[finite], self.rule.contamination)
        self._next_fit = self._seen + 1 + past.size


def scorable_buffers(values: np.ndarray, size: int, min_samples: int) -> np.ndarray:
    """Whether `StreamingDetector` scores each point of `values` (NaN: a gap) from its buffer, the `size`
    values up to it: a value last, `min_samples` values, not all equal (its `_gated` test), from running
    counts over the series instead of every buffer."""
    finite = np.isfinite(values)
    start = np.maximum(np.arange(values.size) - size + 1, 0)  # each buffer's first point
    counts = np.concatenate([[0], np.cumsum(finite)])
    at = np.flatnonzero(finite)  # the values, in order: a buffer varies if two successive ones in it do
    changes = np.concatenate([[0], np.cumsum(values[at[1:]] != values[at[:-1]])])
    first, last = np.searchsorted(at, start), np.searchsorted(at, np.arange(values.size))
    varies = changes[np.minimum(last, at.size - 1)] > changes[np.minimum(first, at.size - 1)]
    return finite & (counts[1:] - counts[start] >= min_samples) & varies
