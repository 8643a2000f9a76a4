"""Rolling z-score (mean/std) and its robust variant (median/MAD) over trailing windows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detectors.calibration import directional, score_from_z
from detectors.point_scores import PointScores
from detectors.rolling import (
    TrailingMoments,
    WindowOrderStats,
    hopped_order_stats,
    hopped_order_stats_from,
    trailing_moments,
)
from detectors.rules import DetectionRule


def block_hop(window: int) -> int:
    """How often hopped order statistics are refreshed (points)."""
    return max(1, window // 4)


LARGEST_FLOOR = float(np.finfo(float).max) * 1e-6


def scale_floor(center: np.ndarray) -> np.ndarray:
    """Smallest spread used as a divisor: a flat baseline still yields finite z-scores."""
    floor = np.abs(center) * 1e-6
    np.minimum(floor, LARGEST_FLOOR, out=floor)  # an infinite centre counts as the largest float
    return np.fmax(floor, 1e-9, out=floor)  # NaN counts as 0


def order_stats(values: np.ndarray, rule: DetectionRule, since: int = 0) -> WindowOrderStats:
    """Trailing-window order statistics with the rule's window, refreshed every window/4 points (NaN in
    the hop blocks that end before column `since`)."""
    window = rule.window_size
    return hopped_order_stats(values, window, block_hop(window), min(rule.min_samples, window), since)


def order_stats_from(values: np.ndarray, rule: DetectionRule, since: int) -> WindowOrderStats:
    """`order_stats` of the columns from `since` on only (the same floats; `hopped_order_stats_from`)."""
    window = rule.window_size
    return hopped_order_stats_from(values, window, block_hop(window), min(rule.min_samples, window), since)


def trailing_stats(
    values: np.ndarray, rule: DetectionRule, moments: TrailingMoments | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the rule's trailing window (what zscore and the adaptive threshold share)."""
    moments = moments if moments is not None else trailing_moments(values)
    return moments.mean_std(rule.window_size, min(rule.min_samples, rule.window_size))


def zscore_points(
    values: np.ndarray,
    rule: DetectionRule,
    threshold: np.ndarray,
    trailing: tuple[np.ndarray, np.ndarray] | None = None,
) -> PointScores:
    """z = (x - mean) / std of the previous `window_size` points."""
    mean, std = trailing if trailing is not None else trailing_stats(values, rule)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = directional((values - mean) / np.maximum(std, scale_floor(mean)), rule.direction)
    return PointScores(z=z, score=score_from_z(z, threshold), baseline=mean, threshold=threshold)


StdOf = Callable[[], np.ndarray]  # the trailing std of the rule's window, computed when first needed


def trailing_std_of(values: np.ndarray, rule: DetectionRule) -> StdOf:
    """The std of the `window_size` points before each point of `values`, computed on demand."""
    return lambda: trailing_stats(values, rule)[1]


def robust_zscore_points(
    values: np.ndarray,
    rule: DetectionRule,
    threshold: np.ndarray,
    stats: WindowOrderStats | None = None,
    trailing_std: StdOf | None = None,
) -> PointScores:
    """z = (x - median) / (1.4826 MAD) of the previous `window_size` points (refreshed every window/4);
    where the MAD is 0, the trailing std (`trailing_std`, by default of `values`) is the scale."""
    stats = stats or order_stats(values, rule)
    med, scale = stats.median, stats.mad
    if (scale == 0).any():
        scale = np.where(scale > 0, scale, (trailing_std or trailing_std_of(values, rule))())
    with np.errstate(invalid="ignore", divide="ignore"):
        z = directional((values - med) / np.maximum(scale, scale_floor(med)), rule.direction)
    return PointScores(z=z, score=score_from_z(z, threshold), baseline=med, threshold=threshold)
