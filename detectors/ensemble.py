"""Ensemble: the mean of the calibrated scores of zscore, robust zscore, iqr and changepoint.

Every member score is 0.5 exactly at its own threshold, so the mean reaches 0.5 only when the methods
agree that a point is beyond their thresholds on balance (a spike seen by three of four methods at
about twice the threshold scores ~0.7; one method alone barely past its threshold scores ~0.15).
"""

from __future__ import annotations

import numpy as np

from detectors.changepoint import ChangePoint, changepoint_points
from detectors.iqr import iqr_points
from detectors.point_scores import PointScores
from detectors.rules import DetectionRule
from detectors.zscore import order_stats, robust_zscore_points, zscore_points


def ensemble_points(
    values: np.ndarray,
    rule: DetectionRule,
    threshold: np.ndarray,
    trailing: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[PointScores, list[ChangePoint]]:
    """Combined per-point score; z and baseline come from the member with the highest score."""
    first = zscore_points(values, rule, threshold, trailing)
    total = _score_or_zero(first.score)
    best = total.copy()
    z, baseline = first.z.copy(), first.baseline.copy()
    stats = order_stats(values, rule)
    cp_scores, change_points = changepoint_points(values, rule, threshold)
    for member in (
        robust_zscore_points(values, rule, threshold, stats),
        iqr_points(values, rule, threshold, stats),
        cp_scores,
    ):
        score = _score_or_zero(member.score)
        total += score
        better = score > best
        np.copyto(best, score, where=better)
        np.copyto(z, member.z, where=better)
        np.copyto(baseline, member.baseline, where=better & np.isfinite(member.baseline))
    total /= 4.0
    total[~np.isfinite(first.score)] = np.nan
    return PointScores(z=z, score=total, baseline=baseline, threshold=threshold), change_points


def _score_or_zero(score: np.ndarray) -> np.ndarray:
    """A member's scores (in [0, 1]) with NaN as 0, in one pass."""
    return np.fmax(score, 0.0)
