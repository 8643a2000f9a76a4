"""Seasonal baseline: hour-of-day (>= 2 days of history) or hour-of-week (>= 14 days) profile."""

from __future__ import annotations

import numpy as np

from detectors import nan_stats

DAY = 86_400.0


def _seasons(timestamps: np.ndarray) -> tuple[np.ndarray, int, np.ndarray] | None:
    """Position of each timestamp in its season and the season length, in hours, and which season (day or
    week) each falls in (None: too short)."""
    span = float(timestamps[-1] - timestamps[0]) if timestamps.size else 0.0
    if span >= 14 * DAY:
        shifted = timestamps + 3 * DAY  # weeks start on Monday (epoch + 3 days)
        return (shifted % (7 * DAY)) / 3600.0, 168, np.floor(shifted / (7 * DAY))
    if span >= 2 * DAY:
        return (timestamps % DAY) / 3600.0, 24, np.floor(timestamps / DAY)
    return None


def seasonal_baseline(timestamps: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """(k, n) expected value per point from its hour of the season, or None when history does not allow
    it ((n,) for one series given as (n,)).

    An hour's value is the median, over the days (weeks) that saw it, of that day's mean in the hour: the
    mean keeps the shape within the hour, the median across days keeps one day's burst from echoing, as an
    opposite anomaly, at the same hour of every other day (with two days the median is their mean). Hourly
    bins seen fewer than twice fall back to the row mean; the baseline interpolates linearly between the
    centres of neighbouring hourly bins, so it follows the seasonal shape within an hour too.
    """
    if np.ndim(values) == 1:
        one = seasonal_baseline(timestamps, np.asarray(values)[None, :])
        return None if one is None else one[0]
    seasons = _seasons(timestamps)
    if seasons is None:
        return None
    phase, n_bins, season = seasons
    bins = np.floor(phase).astype(np.intp) % n_bins
    day = (season - season.min()).astype(np.intp)
    cell = day * n_bins + bins  # (season, hour) of each point
    order = np.argsort(cell, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(cell[order]) != 0])
    first = cell[order][starts]
    finite = np.isfinite(values)
    sums = np.add.reduceat(np.where(finite, values, 0.0)[:, order], starts, axis=1)
    counts = np.add.reduceat(finite[:, order].astype(float), starts, axis=1)
    per_day = np.full((values.shape[0], int(day.max()) + 1, n_bins), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_day[:, first // n_bins, first % n_bins] = np.where(counts > 0, sums / counts, np.nan)
    seen = np.zeros((values.shape[0], n_bins))
    np.add.at(seen.T, first % n_bins, counts.T)
    row_mean = np.nanmean(np.where(finite, values, np.nan), axis=1, keepdims=True)
    daily = nan_stats.nanmedian(per_day, axis=1)  # hours no day saw: NaN, the row mean below
    profile = np.where(seen >= 2, daily, row_mean)
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
