"""Level-step, the default detector: how far a point is from the recent level, and how much of that
distance arrived in one step, each against its typical size over the last day (streaming, no
look-ahead, no quiet period after an alarm).

- deviation e = x - median of the previous `window_size` values (refreshed every window_size / 4 points,
  on the same schedule in batch and streaming, as for robust_zscore);
- arrived a = the part of e that the last step (x - previous finite x) brought, clipped to [0, |e|]: a
  step back towards the level counts 0, so the return from a spike is not a second anomaly;
- z = sign(e) x max(|e| / s_e, a / s_step), where s_e and s_step are 1.2533 x the mean |e| and the mean
  |step| of the previous `SCALE_WINDOWS x window_size` points (the sd for Gaussian noise; one day at
  one-minute steps with the default window). A long scale horizon ranks a point against the whole daily
  cycle rather than the last hour, and one earlier anomaly barely moves it, so a repeat scores like the
  first; a slow ramp scores by its distance from the level even when no single step is large;
- score = |z| / (|z| + threshold), i.e. 1 - p for a Pareto tail p = threshold / (|z| + threshold): 0.5 at
  the threshold, 0.75 at 3 x, 0.9 at 9 x, and below 1.0 for any finite z, so scores still rank even
  enormous anomalies (disk-write bursts at z in the thousands) against each other.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from math import isfinite

import numpy as np

from detectors.calibration import directional
from detectors.point_scores import PointScores
from detectors.rolling import WindowOrderStats, forward_fill, trailing_mean, window_median
from detectors.rules import DetectionRule
from detectors.zscore import LARGEST_FLOOR, block_hop, order_stats, scale_floor

SCALE_WINDOWS = 24
MEAN_ABS_TO_SD = 1.2533  # sqrt(pi / 2): sd / mean |N(0, sd)|


def score_from_level_step(z: np.ndarray | float, threshold: float | np.ndarray) -> np.ndarray:
    """|z| / (|z| + threshold): 0.5 at the threshold, never 1.0 for a finite z."""
    size = np.abs(np.asarray(z, dtype=float))
    with np.errstate(invalid="ignore"):
        return np.asarray(size / (size + threshold))


def steps(values: np.ndarray) -> np.ndarray:
    """x - previous finite x (NaN at a gap and up to the first finite point)."""
    previous = np.concatenate([np.full((values.shape[0], 1), np.nan), forward_fill(values)[:, :-1]], axis=1)
    previous[np.cumsum(np.isfinite(values), axis=1) <= 1] = np.nan
    return values - previous


def arrived(deviation: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The part of the deviation that the step brought: step along the deviation, clipped to [0, |e|]."""
    return np.clip(step * np.sign(deviation), 0.0, np.abs(deviation))


def combine(
    deviation: np.ndarray, step: np.ndarray, deviation_scale: np.ndarray, step_scale: np.ndarray
) -> np.ndarray:
    """sign(e) x max(|e| / s_e, arrived / s_step); NaN while either scale is unknown."""
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.maximum(
            np.abs(deviation) / deviation_scale, np.nan_to_num(arrived(deviation, step)) / step_scale
        )
        return np.sign(deviation) * size


@dataclass(frozen=True)
class LevelStepParts:
    """A (k, n) block's trailing level, deviation e, step, and the day-long scales s_e and s_step."""

    level: np.ndarray
    deviation: np.ndarray
    step: np.ndarray
    deviation_scale: np.ndarray
    step_scale: np.ndarray

    def z(self) -> np.ndarray:
        return combine(self.deviation, self.step, self.deviation_scale, self.step_scale)


def level_step_parts(
    values: np.ndarray, rule: DetectionRule, stats: WindowOrderStats | None = None
) -> LevelStepParts:
    """Level, deviation, step and their scales of every point of a (k, n) block.

    `stats`: the block's `order_stats` for this rule, when already computed (robust_zscore and iqr share it).
    """
    window, min_periods = rule.window_size, min(rule.min_samples, rule.window_size)
    level = (stats or order_stats(values, rule)).median
    deviation = values - level
    d = steps(values)
    horizon = SCALE_WINDOWS * window
    floor = scale_floor(level)
    deviation_scale = trailing_mean(np.abs(deviation), horizon, min_periods) * MEAN_ABS_TO_SD
    step_scale = trailing_mean(np.abs(d), horizon, min_periods) * MEAN_ABS_TO_SD
    return LevelStepParts(
        level, deviation, d, np.maximum(deviation_scale, floor), np.maximum(step_scale, floor)
    )


def level_step_z(
    values: np.ndarray, rule: DetectionRule, stats: WindowOrderStats | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Signed z and the level (trailing median) of every point of a (k, n) block."""
    parts = level_step_parts(values, rule, stats)
    return parts.z(), parts.level


def level_step_points(
    values: np.ndarray, rule: DetectionRule, threshold: np.ndarray, stats: WindowOrderStats | None = None
) -> PointScores:
    """Batch form over a (k, n) block; equal to `LevelStepScorer` run over each row."""
    z, level = level_step_z(values, rule, stats)
    z = np.where(np.isnan(z), np.nan, directional(z, rule.direction))
    score = score_from_level_step(z, rule.threshold)
    score[~np.isfinite(values)] = np.nan
    return PointScores(z=z, score=score, baseline=level, threshold=threshold)


def point_scale_floor(level: float) -> float:
    """`scale_floor` of one finite level (1e-9 for an unknown one), for the streaming scorers."""
    return max(min(abs(level) * 1e-6, LARGEST_FLOOR), 1e-9) if math.isfinite(level) else 1e-9


class _TrailingMean:
    """Mean of the finite values among the last `size` pushed (NaN below `min_periods`), O(1) a point."""

    def __init__(self, size: int, min_periods: int) -> None:
        self._items: deque[float] = deque([math.nan] * size, maxlen=size)  # NaN: nothing pushed yet
        self._sum = 0.0
        self._count = 0
        self._needed = max(min_periods, 1)

    def push(self, value: float) -> float:
        """The mean before `value` (of the earlier values), then take `value` in."""
        total, count, items = self._sum, self._count, self._items
        mean = total / count if count >= self._needed else math.nan
        old = items[0]
        if isfinite(old):
            total -= old
            count -= 1
        items.append(value)
        if isfinite(value):
            total += value
            count += 1
        self._sum, self._count = total, count
        return mean


class LevelStepScorer:
    """Streaming level-step score of each new point: O(window x SCALE_WINDOWS) memory, O(1) a point
    plus one sort of `window_size` values every window_size / 4 points."""

    def __init__(self, rule: DetectionRule) -> None:
        self.rule = rule
        self.hop = block_hop(rule.window_size)
        self.min_periods = min(rule.min_samples, rule.window_size)
        self._recent: deque[float] = deque([math.nan] * rule.window_size, maxlen=rule.window_size)
        horizon = SCALE_WINDOWS * rule.window_size
        self._deviation_size = _TrailingMean(horizon, self.min_periods)
        self._step_size = _TrailingMean(horizon, self.min_periods)
        self._previous = math.nan
        self._seen = 0
        self._level = math.nan
        self.floor = point_scale_floor(self._level)  # of the current level, refreshed with it

    def update(self, value: float) -> tuple[float, float]:
        """(score, signed z) of `value` given only the past, then learn it (a NaN gap scores NaN)."""
        z = self.observe(value)[-1]
        if (self.rule.direction == "up" and z < 0) or (self.rule.direction == "down" and z > 0):
            z = 0.0
        return abs(z) / (abs(z) + self.rule.threshold), z

    def observe(self, value: float) -> tuple[float, float, float, float, float, float]:
        """(level, deviation, step, s_e, s_step, z) of `value` given only the past, then learn it."""
        if self._seen % self.hop == 0:
            self._level = self._median()
            self.floor = point_scale_floor(self._level)
        self._seen += 1
        deviation, step = value - self._level, value - self._previous
        # s_e and s_step as `level_step_parts` has them (NaN below min_periods): of the earlier points only
        deviation_scale = max(self._deviation_size.push(abs(deviation)) * MEAN_ABS_TO_SD, self.floor)
        step_scale = max(self._step_size.push(abs(step)) * MEAN_ABS_TO_SD, self.floor)
        z = math.nan  # `combine` for one point: NaN while the level or a scale is unknown, and for a gap
        if isfinite(deviation) and isfinite(deviation_scale) and isfinite(step_scale):
            size = abs(deviation) / deviation_scale
            along = step if deviation > 0 else -step
            if along > 0.0 and isfinite(along):  # else the arrived part is 0, never above |e| / s_e
                arrived = along if along <= abs(deviation) else abs(deviation)
                if arrived / step_scale > size:
                    size = arrived / step_scale
            z = math.copysign(size, deviation) if deviation else 0.0
        self._recent.append(value)
        if isfinite(value):
            self._previous = value
        return self._level, deviation, step, deviation_scale, step_scale, z

    def _median(self) -> float:
        """Median of the last `window_size` values (NaN below min_periods), as `hopped_order_stats` has it."""
        return window_median(self._recent, self.min_periods)
