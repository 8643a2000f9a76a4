"""Seasonal baseline: hour-of-day (>= 2 days of history) or hour-of-week (>= 14 days) mean profile."""

from __future__ import annotations

import numpy as np

DAY = 86_400.0


def seasonal_phase(timestamps: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Position of each timestamp in its season and the season length, in hours (None: too short)."""
    span = float(timestamps[-1] - timestamps[0]) if timestamps.size else 0.0
    if span >= 14 * DAY:
        return ((timestamps + 3 * DAY) % (7 * DAY)) / 3600.0, 168  # weeks start on Monday (epoch + 3 days)
    if span >= 2 * DAY:
        return (timestamps % DAY) / 3600.0, 24
    return None


def seasonal_baseline(timestamps: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """(k, n) expected value per point from its season's mean, or None when history does not allow it.

    Hourly bins seen fewer than twice fall back to the row mean; the baseline interpolates linearly between
    the centres of neighbouring hourly bins, so it follows the seasonal shape within an hour too.
    """
    phased = seasonal_phase(timestamps)
    if phased is None:
        return None
    phase, n_bins = phased
    bins = np.floor(phase).astype(np.intp) % n_bins
    onehot = np.zeros((timestamps.size, n_bins))
    onehot[np.arange(timestamps.size), bins] = 1.0
    finite = np.isfinite(values)
    sums = np.where(finite, values, 0.0) @ onehot
    counts = finite.astype(float) @ onehot
    row_mean = np.nanmean(np.where(finite, values, np.nan), axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(counts >= 2, sums / counts, row_mean)
    pos = phase - 0.5
    left = np.floor(pos).astype(np.intp)
    frac = pos - left
    return np.asarray(profile[:, left % n_bins] * (1.0 - frac) + profile[:, (left + 1) % n_bins] * frac)


def deseasonalise(timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values minus their seasonal profile plus the row mean (unchanged when history is too short)."""
    baseline = seasonal_baseline(timestamps, values)
    if baseline is None:
        return values
    return np.asarray(values - baseline + np.nanmean(baseline, axis=1, keepdims=True))
