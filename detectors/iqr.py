"""Tukey fences over a trailing window.

A point beyond Q3 + k IQR (or below Q1 - k IQR) is flagged. Its z-equivalent is 0.674 + 1.349 f for a
point f IQRs beyond the quartile (exact for normal data), so the fence sits where that reaches the
threshold: k = (threshold - 0.674) / 1.349, i.e. 1.72 for threshold 3 and Tukey's classic 1.5 for 2.7.
"""

from __future__ import annotations

import numpy as np

from detectors.calibration import directional, score_from_z
from detectors.point_scores import PointScores
from detectors.rolling import WindowOrderStats
from detectors.rules import DetectionRule
from detectors.zscore import StdOf, order_stats, scale_floor, trailing_std_of

Q3_Z = 0.6745  # z of the upper quartile of a normal distribution
IQR_Z = 1.349  # IQR of a standard normal


def iqr_points(
    values: np.ndarray,
    rule: DetectionRule,
    threshold: np.ndarray,
    stats: WindowOrderStats | None = None,
    trailing_std: StdOf | None = None,
) -> PointScores:
    """Signed fence statistic for every point of a (k, n) block; where the IQR is 0, 1.349 x the trailing
    std (`trailing_std`, by default of `values`) is the spread."""
    stats = stats or order_stats(values, rule)
    q1, med, q3 = stats.q1, stats.median, stats.q3
    iqr = q3 - q1
    if (iqr <= 0).any():
        iqr = np.where(iqr > 0, iqr, 1.349 * (trailing_std or trailing_std_of(values, rule))())
    iqr = np.maximum(iqr, scale_floor(med))
    with np.errstate(invalid="ignore"):
        beyond = np.where(values > q3, values - q3, np.where(values < q1, values - q1, 0.0))
        beyond /= iqr
    z_equiv = np.sign(beyond) * (Q3_Z + IQR_Z * np.abs(beyond))
    z = directional(np.where(np.isfinite(values) & np.isfinite(iqr), z_equiv, np.nan), rule.direction)
    return PointScores(z=z, score=score_from_z(z, threshold), baseline=med, threshold=threshold)
