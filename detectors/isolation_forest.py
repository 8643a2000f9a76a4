"""scikit-learn IsolationForest on windowed features: value, differences, rolling mean deviation and std."""

from __future__ import annotations

import numpy as np

from detectors.calibration import directional
from detectors.point_scores import PointScores
from detectors.rolling import trailing_mean_std
from detectors.rules import DetectionRule


def window_features(values: np.ndarray, window: int) -> np.ndarray:
    """(k, n, 5) features: value, 1st and 2nd difference, deviation from and std of the trailing window."""
    mean, std = trailing_mean_std(values, window, min_periods=2)
    d1 = np.diff(values, axis=1, prepend=np.nan)
    d2 = np.diff(d1, axis=1, prepend=np.nan)
    return np.stack([values, d1, d2, values - mean, std], axis=-1)


def isolation_forest_points(values: np.ndarray, rule: DetectionRule, threshold: np.ndarray) -> PointScores:
    """Fit one forest per row over its finite feature vectors; score 0.5 at the contamination cut."""
    k, n = values.shape
    feats = window_features(values, rule.window_size)
    score = np.full((k, n), np.nan)
    z = np.full((k, n), np.nan)
    med = np.nanmedian(values, axis=1, keepdims=True)
    mad = 1.4826 * np.nanmedian(np.abs(values - med), axis=1, keepdims=True)
    scale = np.where(mad > 0, mad, np.nanstd(values, axis=1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        robust_z = directional((values - med) / np.maximum(scale, 1e-9), rule.direction)
    for r in range(k):
        x = np.nan_to_num(feats[r], nan=0.0)
        ok = np.isfinite(values[r])
        if ok.sum() < max(rule.min_samples, 8):
            continue
        from sklearn.ensemble import IsolationForest  # lazy: scikit-learn costs ~30 MB of RSS

        forest = IsolationForest(contamination=rule.contamination, random_state=0, n_estimators=100)
        forest.fit(x[ok])
        anomaly = -forest.score_samples(x[ok])
        cut = -forest.offset_
        score[r, ok] = np.clip(0.5 + (anomaly - cut) / (2.0 * max(1.0 - cut, 1e-6)), 0.0, 1.0)
        z[r, ok] = robust_z[r, ok]
    if rule.direction != "both":
        score = np.where(z == 0, 0.0, score)
    return PointScores(z=z, score=score, baseline=np.broadcast_to(med, (k, n)), threshold=threshold)
