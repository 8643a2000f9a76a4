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
    stats = order_stats(values, rule)
    cp_scores, change_points = changepoint_points(values, rule, threshold)
    robust = robust_zscore_points(values, rule, threshold, stats)
    return combine_members(
        first, robust, iqr_points(values, rule, threshold, stats), cp_scores
    ), change_points


def combine_members(
    zscore: PointScores,
    robust: PointScores,
    iqr: PointScores,
    changepoint: PointScores,
    change_rows: np.ndarray | None = None,
) -> PointScores:
    """The ensemble of the four members' scores (all computed against the same threshold).

    `change_rows`, if given, lists the rows with a change point: elsewhere the changepoint member
    scores 0 and changes nothing, so it is skipped there.
    """
    total = _score_or_zero(zscore.score)
    best = total.copy()
    z, baseline = zscore.z.copy(), zscore.baseline.copy()
    for member in (robust, iqr):
        _add_member(total, best, z, baseline, member.score, member.z, member.baseline)
    if change_rows is None:
        _add_member(total, best, z, baseline, changepoint.score, changepoint.z, changepoint.baseline)
    elif change_rows.size:
        rows = change_rows
        parts = (total[rows], best[rows], z[rows], baseline[rows])
        _add_member(*parts, changepoint.score[rows], changepoint.z[rows], changepoint.baseline[rows])
        total[rows], best[rows], z[rows], baseline[rows] = parts
    total /= 4.0
    total[~np.isfinite(zscore.score)] = np.nan
    return PointScores(z=z, score=total, baseline=baseline, threshold=zscore.threshold)


def _add_member(
    total: np.ndarray,
    best: np.ndarray,
    z: np.ndarray,
    baseline: np.ndarray,
    member_score: np.ndarray,
    member_z: np.ndarray,
    member_baseline: np.ndarray,
) -> None:
    """Add a member's score to `total` (in place); take its z and baseline where it beats `best`."""
    score = _score_or_zero(member_score)
    total += score
    better = score > best
    np.copyto(best, score, where=better)
    np.copyto(z, member_z, where=better)
    np.copyto(baseline, member_baseline, where=better & np.isfinite(member_baseline))


def _score_or_zero(score: np.ndarray) -> np.ndarray:
    """A member's scores (in [0, 1]) with NaN as 0, in one pass."""
    return np.fmax(score, 0.0)
