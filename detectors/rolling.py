"""Vectorised trailing window statistics over (k, n) arrays with NaN gaps (no look-ahead)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class TrailingMoments:
    """Running sums of a (k, n) block (centred on each row's first finite value), shared by every window.

    `sum1[:, i]`, `sum2[:, i]`, `counts[:, i]`: sum, sum of squares and count of the finite points before i;
    `counts` is None when every point is finite. `mean_std` results are cached per (window, min_periods)
    and read-only, so every statistic of the block that needs the same window computes it once.
    """

    ref: np.ndarray
    sum1: np.ndarray
    sum2: np.ndarray
    counts: np.ndarray | None
    _cache: dict[tuple[object, ...], tuple[np.ndarray, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def mean_std(self, window: int, min_periods: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of the `window` points before each point (NaN where fewer than `min_periods`), of
        the columns from `start` on (the same floats as those columns of the whole block's)."""
        key = (window, min_periods, start)
        if key not in self._cache:
            mean, std, count = self._unmasked(window, start)
            short = np.broadcast_to(count < min_periods, mean.shape)
            if short.any():
                mean, std = mean.copy(), std.copy()
                mean[short] = np.nan
                std[short] = np.nan
                mean.flags.writeable = std.flags.writeable = False
            self._cache[key] = (mean, std)
        mean, std = self._cache[key]
        return mean, std

    def _unmasked(self, window: int, start: int = 0) -> tuple[np.ndarray, ...]:
        """Mean, std and count of the `window` points before each point from column `start` on, whatever
        the count."""
        key = ("unmasked", window, start)
        if key in self._cache:
            return self._cache[key]
        n = self.sum1.shape[1]
        total = window_sum(self.sum1, window, start)
        total2 = window_sum(self.sum2, window, start)
        if self.counts is None:
            count = np.minimum(np.arange(start, n, dtype=float), window)[None, :]
        else:
            count = window_sum(self.counts, window, start)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            total2 -= total * mean
            total2 /= np.maximum(count - 1, 1)
        np.maximum(total2, 0.0, out=total2)
        std = np.sqrt(total2, out=total2)
        mean += self.ref
        for array in (mean, std, count):
            array.flags.writeable = False
        self._cache[key] = (mean, std, count)
        return mean, std, count


def trailing_moments(values: np.ndarray) -> TrailingMoments:
    """One pass of running sums over a (k, n) block, for `TrailingMoments.mean_std` of any window."""
    finite = np.isfinite(values)
    dense = bool(finite.all())
    ref = _row_reference(values, finite)[:, None]
    centred = values - ref
    if not dense:
        centred[~finite] = 0.0
    sum1 = prefix_sum(centred)
    np.square(centred, out=centred)
    sum2 = prefix_sum(centred)
    counts = None if dense else prefix_sum(finite.astype(float))
    return TrailingMoments(ref, sum1, sum2, counts)


def trailing_mean_std(values: np.ndarray, window: int, min_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the `window` points before each point (the point itself excluded); NaN ignored."""
    return trailing_moments(values).mean_std(window, min_periods)


def trailing_mean(values: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Mean of the `window` points before each point (NaN ignored; NaN below `min_periods` finite points).

    One prefix sum of the values and one of the finite count: the mean alone, at a third of
    `trailing_mean_std`'s cost.
    """
    finite = np.isfinite(values)
    total = window_sum(prefix_sum(np.where(finite, values, 0.0)), window)
    count = window_sum(prefix_sum(finite.astype(float)), window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= max(min_periods, 1), total / count, np.nan)


def prefix_sum(x: np.ndarray) -> np.ndarray:
    """out[:, i] = sum of x[:, :i] (0 for i = 0)."""
    k, n = x.shape
    cum = np.empty((k, n))
    cum[:, 0] = 0.0
    np.cumsum(x[:, :-1], axis=1, out=cum[:, 1:])
    return cum


def window_sum(prefix: np.ndarray, window: int, start: int = 0) -> np.ndarray:
    """Sum of x[:, i - window : i] for every column i from `start` on (fewer points near the beginning) from
    its prefix sums (`prefix_sum`; from np.cumsum's inclusive sums: of x[:, i - window + 1 : i + 1])."""
    n = prefix.shape[1]
    out = prefix[:, start:].copy()
    first = max(window, start)  # the first column with a full window behind it
    if first < n:
        out[:, first - start :] -= prefix[:, first - window : n - window]
    return out


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


def hopped_order_stats(
    values: np.ndarray, window: int, hop: int, min_periods: int, since: int = 0
) -> WindowOrderStats:
    """Order statistics of the `window` points before each block of `hop` points, one sort for all.

    Windows of gap-free rows past the first `window` points (almost all of them) take a fast path:
    in-place sorts and fixed ranks, whatever gaps other rows of the block have. Blocks that end before
    column `since` are left NaN (a caller that needs only the last columns skips the rest).
    """
    k, n = values.shape
    nblocks = -(-n // hop)
    first = min(since // hop, nblocks)
    blocks = np.full((4, k, nblocks), np.nan)
    _fill_hop_blocks(blocks[:, :, first:], values, window, hop, min_periods, first)
    q1, med, q3, mad = np.repeat(blocks, hop, axis=2)[:, :, :n]
    return WindowOrderStats(q1, med, q3, mad)


def hopped_order_stats_from(
    values: np.ndarray, window: int, hop: int, min_periods: int, since: int
) -> WindowOrderStats:
    """`hopped_order_stats` of the columns from `since` on only, (k, n - since) each: the same floats, from
    only the hop blocks those columns fall in (a streaming buffer's newest column: one block)."""
    k, n = values.shape
    first = min(since // hop, -(-n // hop))
    blocks = np.full((4, k, -(-n // hop) - first), np.nan)
    _fill_hop_blocks(blocks, values, window, hop, min_periods, first)
    q1, med, q3, mad = blocks[:, :, np.arange(since, n) // hop - first]
    return WindowOrderStats(q1, med, q3, mad)


def _fill_hop_blocks(
    out: np.ndarray, values: np.ndarray, window: int, hop: int, min_periods: int, first: int
) -> None:
    """Write into `out` (4, k, blocks) the order statistics of hop blocks `first` on (the window before
    block b: values[:, b * hop - window : b * hop], NaN before the series begins)."""
    k, n = values.shape
    nblocks = first + out.shape[2]
    if nblocks == first:
        return
    split = max(first, min(nblocks, -(-window // hop)))  # blocks before `split` still see the NaN padding
    skip = first * hop - window  # where block `first`'s window begins: from there on only
    pad = np.full((k, max(0, -skip)), np.nan)
    padded = values[:, skip:] if skip >= 0 else np.concatenate([pad, values], axis=1)
    windows = sliding_window_view(padded, window, axis=1)[:, : n - first * hop : hop]
    if first < split:
        out[:, :, : split - first] = _order_stats_block(windows[:, : split - first], min_periods)
    if split < nblocks:
        tail = np.array(windows[:, split - first :], order="C")  # a writable copy: sorted in place
        dense = np.isfinite(values).all(axis=1)
        if dense.all():
            out[:, :, split - first :] = _dense_order_stats(tail, min_periods)
        else:
            rows, gappy = np.flatnonzero(dense), np.flatnonzero(~dense)
            out[:, rows, split - first :] = _dense_order_stats(tail[rows], min_periods)
            out[:, gappy, split - first :] = _order_stats_block(tail[gappy], min_periods)


def _order_stats_block(windows: np.ndarray, min_periods: int) -> np.ndarray:
    q1, med, q3 = nan_quantiles(windows, (0.25, 0.5, 0.75), min_periods)
    mad = nan_quantiles(np.abs(windows - med[..., None]), (0.5,), min_periods)[0] * 1.4826
    return np.stack([q1, med, q3, mad])


def _dense_order_stats(ordered: np.ndarray, min_periods: int) -> np.ndarray:
    """`_order_stats_block` for NaN-free windows; sorts `ordered` in place and reuses it for the MAD."""
    w = ordered.shape[-1]
    if w < min_periods:
        return np.full((4, *ordered.shape[:-1]), np.nan)
    ordered.sort(axis=-1)
    q1, med, q3 = (_interpolated_rank(ordered, q * (w - 1)) for q in (0.25, 0.5, 0.75))
    deviations = np.abs(ordered - med[..., None], out=ordered)
    deviations.sort(axis=-1)
    return np.stack([q1, med, q3, _interpolated_rank(deviations, 0.5 * (w - 1)) * 1.4826])


def _interpolated_rank(ordered: np.ndarray, position: float) -> np.ndarray:
    """Value at fractional rank `position` of rows sorted along the last axis (linear interpolation)."""
    lo = int(np.floor(position))
    hi = min(lo + 1, ordered.shape[-1] - 1)
    return ordered[..., lo] + (ordered[..., hi] - ordered[..., lo]) * (position - lo)


def row_nanmedian(x: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (NaN for rows without finite values)."""
    dense = np.isfinite(x).all(axis=1)
    if dense.all():
        return np.asarray(np.median(x, axis=1))
    out = np.empty(x.shape[0])
    out[dense] = np.median(x[dense], axis=1)
    gappy = x[~dense]
    out[~dense] = nan_quantiles(np.where(np.isfinite(gappy), gappy, np.nan), (0.5,), 1)[0]
    return out


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


def window_median(window: Iterable[float], min_periods: int) -> float:
    """`nan_quantiles(window, (0.5,), min_periods)` of one window (NaN = gap), bit for bit, without numpy.

    The streaming scorers refresh a level every few points; numpy's per-call overhead outweighs a short sort.
    """
    values = list(window)
    ordered = sorted(filter(math.isfinite, values))
    count = len(ordered)
    if count < len(values) and any(map(math.isinf, values)):
        return float(nan_quantiles(np.array(values)[None, :], (0.5,), min_periods)[0, 0])  # inf sorts in
    if count < min_periods or count == 0:
        return math.nan
    position = 0.5 * (count - 1)
    lo = math.floor(position)
    hi = min(lo + 1, count - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (position - lo)


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
    """Carry the last finite value forward (leading gaps take the first finite value); a new array.

    Only rows with a gap are gathered; the others are copied as they are.
    """
    gappy = np.flatnonzero(~np.isfinite(values).all(axis=1))
    filled = values.copy()
    if gappy.size:
        filled[gappy] = _fill_rows(values[gappy])
    return filled


def _fill_rows(values: np.ndarray) -> np.ndarray:
    """`forward_fill` of rows that all have a gap."""
    k, n = values.shape
    finite = np.isfinite(values)
    idx = np.where(finite, np.arange(n), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    filled = values[np.arange(k)[:, None], idx]
    first = np.argmax(finite, axis=1)
    lead = np.arange(n)[None, :] < first[:, None]
    return np.where(lead, values[np.arange(k), first][:, None], filled)
