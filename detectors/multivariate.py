"""PCA over aligned, standardised series: reconstruction error (SPE) or Hotelling T^2 per time point.

The model is fitted twice: once on every complete time point, then again without the points the first fit
flags, so that the anomaly being looked for does not shape the normal subspace. Per-metric squared
residuals name the metrics that contribute most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from detectors.calibration import score_from_z
from detectors.types import InsufficientData

LIMIT = 1e50  # MADs: no real point is this far out; beyond, the statistic's variance would overflow


@dataclass(frozen=True)
class MultivariateScores:
    """Per complete time point (`columns`): z of the statistic, score, and (k, m) per-metric contributions."""

    columns: np.ndarray
    z: np.ndarray
    score: np.ndarray
    contributions: np.ndarray


def complete_points_needed(series: int) -> int:
    """Time points at which all of `series` series must have a value for the model to be fitted: k + 2."""
    return series + 2


def too_few_complete_points(values: np.ndarray) -> InsufficientData | None:
    """Why a (k, n) block has fewer complete time points than `complete_points_needed`, or None."""
    k = values.shape[0]
    complete = int(np.isfinite(values).all(axis=0).sum())
    if complete >= complete_points_needed(k):
        return None
    reason = (
        f"multivariate needs {complete_points_needed(k)} time points at which all {k} series have "
        f"a value (k + 2); {complete} have"
    )
    return InsufficientData(reason, complete)


def _robust_standardise(x: np.ndarray) -> np.ndarray:
    med = np.median(x, axis=0)
    mad = 1.4826 * np.median(np.abs(x - med), axis=0)
    scale = np.where(mad > 0, mad, x.std(axis=0))
    with np.errstate(over="ignore"):  # a MAD of 1e-300 and a spike: inf, clipped to LIMIT
        standard = (x - med) / np.where(scale > 0, scale, 1.0)
    return np.clip(standard, -LIMIT, LIMIT)


def _chi2_z(stat: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """z of each statistic under a moment-matched g * chi2(h) law fitted on the `fit` points (Box, 1954)."""
    mean, var = float(stat[fit].mean()), float(stat[fit].var())
    if mean <= 0 or var <= 0:
        return np.where(stat > mean, 40.0, 0.0)
    g, h = var / (2.0 * mean), 2.0 * mean * mean / var
    tail = np.maximum(special.chdtrc(h, stat / g), 1e-300)  # chi2.sf(stat / g, h)
    return np.clip(-special.ndtri(tail), -8.0, 40.0)  # norm.isf(tail)


def _fit_statistic(
    x: np.ndarray, fit: np.ndarray, statistic: Literal["spe", "t2"], variance: float
) -> tuple[np.ndarray, np.ndarray]:
    k = x.shape[1]
    from sklearn.decomposition import PCA  # lazy: scikit-learn costs ~30 MB of RSS

    with np.errstate(invalid="ignore", divide="ignore"):  # identical fit points: variance ratios 0 / 0
        full = PCA().fit(x[fit])
        n_comp = int(np.searchsorted(np.cumsum(full.explained_variance_ratio_), variance) + 1)
        pca = PCA(n_components=max(1, min(n_comp, k - 1))).fit(x[fit])
    scores = pca.transform(x)
    residual = x - pca.inverse_transform(scores)
    contributions = residual**2
    if statistic == "t2":
        stat = np.sum(scores**2 / np.maximum(pca.explained_variance_, 1e-12), axis=1)
    else:
        stat = contributions.sum(axis=1)
    return stat, contributions


def multivariate_scores(
    values: np.ndarray,
    threshold: float,
    *,
    statistic: Literal["spe", "t2"] = "spe",
    variance: float = 0.9,
) -> MultivariateScores | None:
    """Score every time point where all k series are finite; None if fewer than k + 2 such points."""
    k = values.shape[0]
    columns = np.flatnonzero(np.isfinite(values).all(axis=0))
    if k < 2 or columns.size < complete_points_needed(k):
        return None
    x = _robust_standardise(values[:, columns].T)
    fit = np.ones(columns.size, dtype=bool)
    stat, contributions = _fit_statistic(x, fit, statistic, variance)
    z = _chi2_z(stat, fit)
    fit = z < threshold
    if fit.sum() >= complete_points_needed(k):
        stat, contributions = _fit_statistic(x, fit, statistic, variance)
        z = _chi2_z(stat, fit)
    return MultivariateScores(
        columns=columns, z=z, score=score_from_z(np.maximum(z, 0.0), threshold), contributions=contributions.T
    )


def top_contributors(contributions: np.ndarray, names: list[str], share: float = 0.2) -> tuple[str, ...]:
    """Metrics whose squared residual is at least `share` of the total (at least the largest one)."""
    total = contributions.sum()
    order = np.argsort(contributions)[::-1]
    if total <= 0:
        return (names[int(order[0])],)
    keep = [names[int(i)] for i in order if contributions[i] / total >= share]
    return tuple(keep or [names[int(order[0])]])
