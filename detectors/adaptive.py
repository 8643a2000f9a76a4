"""Adaptive thresholds: raise the bar while the series is in a more volatile regime than usual.

Rule: effective threshold = threshold x clip(sqrt(sigma_recent / sigma_window), 1, 2), where sigma_recent
is the std of the last max(5, window/4) points and sigma_window the std of the last `window` points (both
exclude the current point). Calm regimes keep the configured threshold; a burst of volatility raises it
by up to 2x so that every wiggle in the burst is not reported separately.
"""

from __future__ import annotations

import numpy as np

from detectors.rolling import TrailingMoments, trailing_moments


def short_window(window: int) -> int:
    """Length of the recent-volatility window compared against the full `window`."""
    return max(5, window // 4)


def adaptive_threshold(
    values: np.ndarray, threshold: float, window: int, window_std: np.ndarray | None = None
) -> np.ndarray:
    """Per-point effective threshold for a (k, n) block (see module docstring for the rule).

    `window_std` may pass in an already computed trailing std over `window` points.
    """
    return adaptive_threshold_from(trailing_moments(values), threshold, window, window_std)


def adaptive_threshold_from(
    moments: TrailingMoments,
    threshold: float,
    window: int,
    window_std: np.ndarray | None = None,
    start: int = 0,
) -> np.ndarray:
    """`adaptive_threshold` from running sums already computed for the block (no pass over the values),
    of the columns from `start` on (`window_std`, if given, is of those columns too)."""
    s_long = window_std if window_std is not None else moments.mean_std(window, 3, start)[1]
    _, s_short = moments.mean_std(short_window(window), 3, start)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = s_short / s_long
    factor = np.clip(np.sqrt(np.where(np.isfinite(ratio), ratio, 1.0)), 1.0, 2.0)
    return threshold * factor
