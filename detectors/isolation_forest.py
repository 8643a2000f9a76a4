"""Isolation Forest (`detectors.isolation_trees`) on windowed features: value, differences, rolling mean
deviation and std.

One forest per call (per rule and block of series), not one per series: each row's features are
standardised by its own median and MAD, so series of any scale share one model; the forest is fitted on
at most `FIT_SAMPLES` pooled feature vectors and scores every point. Cost is linear in the points scored.
"""

from __future__ import annotations

import numpy as np

from detectors import nan_stats
from detectors.calibration import directional
from detectors.isolation_trees import IsolationTrees, anomaly_scores, grow_trees
from detectors.point_scores import PointScores
from detectors.rolling import trailing_mean_std, trailing_moments
from detectors.rules import DetectionRule

FIT_SAMPLES = 4096


def window_features(values: np.ndarray, window: int) -> np.ndarray:
    """(k, n, 5) features: value, 1st and 2nd difference, deviation from and std of the trailing window."""
    mean, std = trailing_mean_std(values, window, min_periods=2)
    d1 = np.diff(values, axis=1, prepend=np.nan)
    d2 = np.diff(d1, axis=1, prepend=np.nan)
    return np.stack([values, d1, d2, values - mean, std], axis=-1)


def newest_window_features(values: np.ndarray, window: int) -> np.ndarray:
    """(k, 5) `window_features` of each row's last point, the same floats, without the other columns'."""
    mean, std = trailing_moments(values).mean_std(window, min_periods=2, start=values.shape[1] - 1)
    newest = values[:, -1]
    padded = np.concatenate([np.full((values.shape[0], 2), np.nan), values[:, -3:]], axis=1)  # as prepend=nan
    d1 = padded[:, -1] - padded[:, -2]
    d2 = d1 - (padded[:, -2] - padded[:, -3])
    return np.stack([newest, d1, d2, newest - mean[:, 0], std[:, 0]], axis=-1)


FEATURE_LIMIT = 1e100  # MADs: no real point is this far out; beyond it, high - low of a split overflows


def standardised_features(values: np.ndarray, window: int) -> np.ndarray:
    """`window_features` with each row's features centred on their median and divided by their MAD."""
    feats = window_features(values, window)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # all-NaN rows, huge values
        med = nan_stats.nanmedian(feats, axis=1, keepdims=True)
        mad = nan_stats.nanmedian(np.abs(feats - med), axis=1, keepdims=True)
        std = nan_stats.nanstd(feats, axis=1, keepdims=True)
        scale = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
        standard = np.nan_to_num((feats - med) / scale, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(standard, -FEATURE_LIMIT, FEATURE_LIMIT)  # a tree's split range must stay finite


def fit_forest(features: np.ndarray, contamination: float) -> tuple[IsolationTrees, float]:
    """Trees grown on `features` and the cut: the anomaly score the `contamination` share of them exceed."""
    forest = grow_trees(features)
    return forest, float(np.percentile(anomaly_scores(forest, features), 100.0 * (1.0 - contamination)))


def forest_scores(forest: IsolationTrees, cut: float, features: np.ndarray) -> np.ndarray:
    """Scores in [0, 1] of `features`' rows: 0.5 at the cut, rising linearly to 1 at an anomaly score of 1."""
    anomaly = anomaly_scores(forest, features)
    return np.clip(0.5 + (anomaly - cut) / (2.0 * max(1.0 - cut, 1e-6)), 0.0, 1.0)


def isolation_forest_points(values: np.ndarray, rule: DetectionRule, threshold: np.ndarray) -> PointScores:
    """Fit one forest over the block's pooled, standardised feature vectors; score 0.5 at the cut."""
    k, n = values.shape
    score = np.full((k, n), np.nan)
    z = np.full((k, n), np.nan)
    med = np.nanmedian(values, axis=1, keepdims=True)
    mad = 1.4826 * np.nanmedian(np.abs(values - med), axis=1, keepdims=True)
    scale = np.where(mad > 0, mad, np.nanstd(values, axis=1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        robust_z = directional((values - med) / np.maximum(scale, 1e-9), rule.direction)
    ok = np.isfinite(values) & (np.isfinite(values).sum(axis=1, keepdims=True) >= max(rule.min_samples, 8))
    if not ok.any():
        return PointScores(z=z, score=score, baseline=np.broadcast_to(med, (k, n)), threshold=threshold)
    x = standardised_features(values, rule.window_size)[ok]
    rng = np.random.default_rng(0)
    fit = x[rng.choice(x.shape[0], size=FIT_SAMPLES, replace=False)] if x.shape[0] > FIT_SAMPLES else x
    forest, cut = fit_forest(fit, rule.contamination)
    score[ok] = forest_scores(forest, cut, x)
    z[ok] = robust_z[ok]
    if rule.direction != "both":
        score = np.where(z == 0, 0.0, score)
    return PointScores(z=z, score=score, baseline=np.broadcast_to(med, (k, n)), threshold=threshold)
