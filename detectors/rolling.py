"""Vectorised trailing window statistics over (k, n) arrays with NaN gaps (no look-ahead)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def trailing_mean_std(values: np.ndarray, window: int, min_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the `window` points before each point (the point itself excluded); NaN ignored."""
    n = values.shape[1]
    finite = np.isfinite(values)
    dense = bool(finite.all())
    ref = _row_reference(values, finite)[:, None]
    centred = values - ref
    if not dense:
        centred[~finite] = 0.0
    total = _trailing_sum(centred, window)
    np.square(centred, out=centred)
    total2 = _trailing_sum(centred, window)
    if dense:
        count = np.minimum(np.arange(n, dtype=float), window)[None, :]
    else:
        count = _trailing_sum(finite.astype(float), window)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        total2 -= total * mean
        total2 /= np.maximum(count - 1, 1)
    np.maximum(total2, 0.0, out=total2)
    std = np.sqrt(total2, out=total2)
    mean += ref
    short = np.broadcast_to(count < min_periods, mean.shape)
    mean[short] = np.nan
    std[short] = np.nan
    return mean, std


def _trailing_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum of x[:, i - window : i] for every column i (fewer points near the start)."""
    k, n = x.shape
    cum = np.empty((k, n))
    cum[:, 0] = 0.0
    np.cumsum(x[:, :-1], axis=1, out=cum[:, 1:])
    if window < n:
        cum[:, window:] -= cum[:, : n - window].copy()
    return cum


def hopped_quantiles(
    values: np.ndarray, window: int, quantiles: tuple[float, ...], hop: int, min_periods: int
) -> np.ndarray:
    """Quantiles of the `window` points before each block of `hop` points, shape (len(quantiles), k, n).

    Refreshing order statistics every `hop` points instead of every point keeps batch cost at
    O(k * n / hop * window log window); the streaming detector refreshes on the same schedule.
    """
    k, n = values.shape
    starts = np.arange(0, n, hop)
    padded = np.concatenate([np.full((k, window), np.nan), values], axis=1)
    windows = sliding_window_view(padded, window, axis=1)[:, starts, :]
    block = nan_quantiles(windows, quantiles, min_periods)
    return np.repeat(block, hop, axis=2)[:, :, :n]


@dataclass(frozen=True)
class WindowOrderStats:
    """Quartiles, median and MAD (normal-scaled) of the trailing window, refreshed every `hop` points."""

    q1: np.ndarray
    median: np.ndarray
    q3: np.ndarray
    mad: np.ndarray


def hopped_order_stats(values: np.ndarray, window: int, hop: int, min_periods: int) -> WindowOrderStats:
    """Order statistics of the `window` points before each block of `hop` points, one sort for all."""
    k, n = values.shape
    starts = np.arange(0, n, hop)
    padded = np.concatenate([np.full((k, window), np.nan), values], axis=1)
    windows = sliding_window_view(padded, window, axis=1)[:, starts, :]
    split = int(np.searchsorted(starts, window))  # blocks before `split` still see the NaN padding
    parts = [windows[:, :split], windows[:, split:]]
    stats = [_order_stats_block(p, min_periods) for p in parts if p.shape[1]]
    q1, med, q3, mad = (np.concatenate([s[i] for s in stats], axis=1) for i in range(4))

    def expand(block: np.ndarray) -> np.ndarray:
        return np.repeat(block, hop, axis=1)[:, :n]

    return WindowOrderStats(expand(q1), expand(med), expand(q3), expand(mad))


def _order_stats_block(windows: np.ndarray, min_periods: int) -> tuple[np.ndarray, ...]:
    q1, med, q3 = nan_quantiles(windows, (0.25, 0.5, 0.75), min_periods)
    mad = nan_quantiles(np.abs(windows - med[..., None]), (0.5,), min_periods)[0] * 1.4826
    return q1, med, q3, mad


def row_nanmedian(x: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (NaN for rows without finite values)."""
    if np.isfinite(x).all():
        return np.asarray(np.median(x, axis=1))
    return nan_quantiles(np.where(np.isfinite(x), x, np.nan), (0.5,), 1)[0]


def nan_quantiles(windows: np.ndarray, quantiles: tuple[float, ...], min_periods: int) -> np.ndarray:
    """Linear-interpolated quantiles along the last axis, NaN ignored (NaN sorts last)."""
    if np.isfinite(windows).all():
        return _dense_quantiles(windows, quantiles, min_periods)
    ordered = np.sort(windows, axis=-1)
    count = np.isfinite(ordered).sum(axis=-1)
    out = []
    for q in quantiles:
        pos = q * np.maximum(count - 1, 0)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
        frac = pos - lo
        a = np.take_along_axis(ordered, lo[..., None], axis=-1)[..., 0]
        b = np.take_along_axis(ordered, hi[..., None], axis=-1)[..., 0]
        out.append(np.where(count >= min_periods, a + (b - a) * frac, np.nan))
    return np.stack(out)


def _dense_quantiles(windows: np.ndarray, quantiles: tuple[float, ...], min_periods: int) -> np.ndarray:
    """`nan_quantiles` for NaN-free windows: fixed ranks (a full sort of short rows beats np.partition)."""
    w = windows.shape[-1]
    if w < min_periods:
        return np.full((len(quantiles), *windows.shape[:-1]), np.nan)
    positions = [q * (w - 1) for q in quantiles]
    part = np.sort(windows, axis=-1)
    out = []
    for p in positions:
        lo = int(np.floor(p))
        hi = min(lo + 1, w - 1)
        out.append(part[..., lo] + (part[..., hi] - part[..., lo]) * (p - lo))
    return np.stack(out)


def _row_reference(values: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """First finite value of each row (0 if none): an offset that keeps running sums well conditioned."""
    first = np.argmax(finite, axis=1)
    ref = values[np.arange(values.shape[0]), first]
    return np.where(np.isfinite(ref), ref, 0.0)


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward (leading gaps take the first finite value)."""
    k, n = values.shape
    finite = np.isfinite(values)
    idx = np.where(finite, np.arange(n), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    filled = values[np.arange(k)[:, None], idx]
    first = np.argmax(finite, axis=1)
    lead = np.arange(n)[None, :] < first[:, None]
    return np.where(lead, values[np.arange(k), first][:, None], filled)
