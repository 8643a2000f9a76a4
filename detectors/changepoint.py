"""Change points: vectorised step screening over all rows, then ruptures Pelt on rows that screen positive.

Screening computes, for every row at once, the largest standardised second difference of block means
(M[t, t+m) - 2 M[t-m, t) + M[t-2m, t-m), m = window/2): a step scores its size, a smooth trend ~0. Only
rows where it reaches `threshold + 1`, and only the spans of +-2 windows around positions where it
reaches `threshold`, go to ruptures (`KernelCPD` with a linear kernel, i.e. Pelt on the
L2 cost, compiled; penalty = `rule.penalty` in units of the noise variance). Each change point is then
kept only if the step test is significant: lines fitted to the `window_size` points either side
(bounded by the neighbouring change points) are extrapolated to the boundary, and their gap is tested
against its standard error (t test). A daily ramp therefore does not read as a string of level shifts.
The step tests of a block run together (`step_tests`), with the same floats as one test at a time.

A level that wanders (a gauge, a price, a PnL) is not a string of steps either: for the rows that pass
the screen, a local-level model (white noise around a level that random-walks, up to the series' own
spread; `wander_of`, from robust second differences) gives what the wander adds to the profile's and to
each gap's variance, and both are measured against that (without it a random walk had a "change"
flagged at 99 % of its points).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage, special

from detectors.calibration import directional, p_value_from_z, score_from_z
from detectors.point_scores import PointScores
from detectors.rolling import forward_fill, row_nanmedian
from detectors.rules import DetectionRule


@dataclass(frozen=True)
class ChangePoint:
    """A significant mean shift in row `row` starting at column `index`."""

    row: int
    index: int
    before: float
    after: float
    t_stat: float
    p_value: float


ROW_BLOCK = 1 << 17  # points per block of rows in the row-wise steps: temporaries stay in cache (~1.5x)


def _row_blocks(k: int, n: int) -> list[slice]:
    """Consecutive slices of the k rows, about ROW_BLOCK points (k x n) each."""
    step = max(1, ROW_BLOCK // max(n, 1))
    return [slice(r, r + step) for r in range(0, k, step)]


def noise_sigma(values: np.ndarray) -> np.ndarray:
    """Per-row noise level from first differences (robust to level shifts), std as fallback."""
    sigma = np.empty(values.shape[0])
    for rows in _row_blocks(*values.shape):
        sigma[rows] = _noise_sigma(values[rows])
    return sigma


def _noise_sigma(values: np.ndarray) -> np.ndarray:
    """`noise_sigma` of one block of rows."""
    diffs = np.diff(values, axis=1)
    centre = _row_median(diffs)
    np.subtract(diffs, centre[:, None], out=diffs)
    mad = _row_median(np.abs(diffs, out=diffs))
    sigma = 1.4826 * mad / np.sqrt(2.0)
    flat = ~(sigma > 0)
    if flat.any():
        sigma[flat] = np.nanstd(values[flat], axis=1)
    return np.where(np.isfinite(sigma) & (sigma > 0), sigma, 1e-9)


def _row_median(x: np.ndarray) -> np.ndarray:
    """`row_nanmedian(x)` of a (k, n) block, reordering the rows of `x` in place (no copy of the block)."""
    gappy = ~np.isfinite(x).all(axis=1)
    out = median_inplace(x)
    if gappy.any():
        out[gappy] = row_nanmedian(x[gappy])  # order-free, so the partitioned rows give the same value
    return out


# The median of chi-squared with 1 degree of freedom: a Gaussian d has E[d^2] = median(d^2) / this.
MEDIAN_CHI2_1 = 0.454936423119572


@dataclass(frozen=True)
class Wander:
    """Per row, how its level wanders beyond white noise: the semivariogram grows by `drift` / 2 a step
    (a random walk's) up to `cap` (the series' own spread: a stationary series stops wandering there)."""

    noise: np.ndarray
    drift: np.ndarray
    cap: np.ndarray

    def rows(self, start: int, stop: int) -> Wander:
        """The wander of rows start to stop."""
        return Wander(self.noise[start:stop], self.drift[start:stop], self.cap[start:stop])

    def select(self, which: np.ndarray) -> Wander:
        """The wander of the rows `which` selects (a mask or row indices)."""
        return Wander(self.noise[which], self.drift[which], self.cap[which])


def semivariogram(lag: np.ndarray, drift: np.ndarray | float, cap: np.ndarray | float) -> np.ndarray:
    """The wander's semivariogram (beyond white noise) at `lag`: min(drift lag / 2, cap)."""
    return np.minimum(np.multiply(drift, lag) / 2.0, cap)


def wander_of(values: np.ndarray, lag: int, reach: int) -> Wander:
    """`Wander` of each row of a (k, n) block (NaN at gaps), from robust second differences at lags 1 and
    `lag`: E(x[t + h] - 2 x[t] + x[t - h])^2 = 6 noise + 2 h drift under white noise around a level that
    random-walks (second differences cancel a straight trend, so a steady rise or a ramp is not taken
    for drift). The cap is the semivariogram at `reach` points, less the noise: a stationary series
    stops wandering there, and a level shift moves few of its pairs.
    """
    with np.errstate(invalid="ignore"):  # each median partitions its own temporary
        one = _row_median(_second_difference(values, 1) ** 2)
        far = _row_median(_second_difference(values, lag) ** 2)
        sill = _row_median(_lag_difference(values, reach) ** 2)
    return _wander_from(one, far, sill, lag)


def _wander_from(one: np.ndarray, far: np.ndarray, sill: np.ndarray, lag: int) -> Wander:
    """`Wander` from the medians of the squared second differences at lags 1 and `lag` and of the squared
    differences at the cap's reach."""
    one, far = one / MEDIAN_CHI2_1, far / MEDIAN_CHI2_1
    sill = sill / (2.0 * MEDIAN_CHI2_1)
    drift = np.nan_to_num(np.maximum((far - one) / (2.0 * (lag - 1)), 0.0))
    noise = np.nan_to_num(np.maximum((one - 2.0 * drift) / 6.0, 0.0))
    return Wander(noise, drift, np.nan_to_num(np.maximum(sill - noise, 0.0)))


def sliding_wander(series: np.ndarray, size: int, lag: int, reach: int) -> Wander:
    """`wander_of` of every window series[j : j + size] (row j of `sliding_window_view(series, size)`),
    the same floats, from running order statistics of the whole series (`scipy.ndimage.rank_filter`,
    O(n log size)) instead of one partition per window; windows with a missing value are measured one by
    one as `wander_of` measures them."""
    rows = series.size - size + 1
    with np.errstate(invalid="ignore"):
        one = _running_median(_second_difference(series[None, :], 1)[0] ** 2, size - 2, rows)
        far = _running_median(_second_difference(series[None, :], lag)[0] ** 2, size - 2 * lag, rows)
        sill = _running_median(_lag_difference(series[None, :], reach)[0] ** 2, size - reach, rows)
    wander = _wander_from(one, far, sill, lag)
    gappy = np.flatnonzero(sliding_window_view(~np.isfinite(series), size).any(axis=1))
    if gappy.size:
        found = wander_of(sliding_window_view(series, size)[gappy], lag, reach)
        wander.noise[gappy], wander.drift[gappy], wander.cap[gappy] = found.noise, found.drift, found.cap
    return wander


def _running_median(x: np.ndarray, width: int, count: int) -> np.ndarray:
    """`median_inplace` of x[j : j + width] for j < count (NaN-free windows; others are meaningless)."""
    if width <= 0:
        return np.full(count, np.nan)
    finite = np.where(np.isfinite(x), x, 0.0)  # a missing value would upset the running order
    half = width // 2

    def rank(r: int) -> np.ndarray:  # the r-th smallest of each window, window j centred at j + half
        return ndimage.rank_filter(finite, rank=r, size=width, mode="nearest")[half : half + count]

    upper = rank(half)
    middle = upper if width % 2 else rank(half - 1) + upper
    return (middle + 0.0) / (2 - width % 2)


def _second_difference(values: np.ndarray, lag: int) -> np.ndarray:
    """x[t + lag] - 2 x[t] + x[t - lag] of each row."""
    return values[:, 2 * lag :] - 2.0 * values[:, lag:-lag] + values[:, : -2 * lag]


def _lag_difference(values: np.ndarray, lag: int) -> np.ndarray:
    """x[t + lag] - x[t] of each row."""
    return values[:, lag:] - values[:, :-lag]


def wander_profile_variance(wander: Wander, block: int) -> np.ndarray:
    """Per row, what the wander adds to the variance of the step profile's second difference of block
    means: -sum_ij b_i b_j gamma(|i - j|) over its weights b (1, -2, 1 / block; they sum to 0)."""
    pairs = _lag_products(np.repeat([1.0, -2.0, 1.0], block) / block)
    lags = np.arange(1, pairs.size + 1, dtype=float)
    return -2.0 * (semivariogram(lags[None, :], wander.drift[:, None], wander.cap[:, None]) @ pairs)


def wander_gap_variances(
    values: np.ndarray, rows: np.ndarray, lo: np.ndarray, index: np.ndarray, hi: np.ndarray, wander: Wander
) -> np.ndarray:
    """Per step test (the lines fitted to [lo, index) and [index, hi) of row `rows`, extrapolated to
    index - 0.5): what the row's wander adds to the variance of their gap, -sum_ij a_i a_j gamma(|c_i -
    c_j|) over the gap's weights a on the finite points (columns c). Tests without a gap share their
    weights by span lengths, and the sum runs over lags (`_lag_pairs`); the others are summed one by one."""
    out = np.zeros(lo.size)
    tested, row_of = np.unique(rows, return_inverse=True)  # missing points counted on these rows only
    missing = np.zeros((tested.size, values.shape[1] + 1), dtype=np.intp)
    np.cumsum(~np.isfinite(values[tested]), axis=1, out=missing[:, 1:])
    row_of = row_of.ravel()
    whole = missing[row_of, hi] == missing[row_of, lo]
    spans = np.column_stack([index - lo, hi - index])
    whole &= (spans >= 3).all(axis=1)
    if whole.any():
        shapes, which = np.unique(spans[whole], axis=0, return_inverse=True)
        at = np.flatnonzero(whole)
        for j, (before, after) in enumerate(shapes.tolist()):
            tests = at[which.ravel() == j]
            pairs = _span_lag_pairs(before, after)
            lags = np.arange(1, pairs.size + 1, dtype=float)
            drift, cap = wander.drift[rows[tests], None], wander.cap[rows[tests], None]
            # a row-wise sum, not a matrix product: the same floats however many tests share the shape
            out[tests] = -2.0 * (semivariogram(lags[None, :], drift, cap) * pairs).sum(axis=1)
    for i in np.flatnonzero(~whole).tolist():
        r, a, b, c = int(rows[i]), int(lo[i]), int(index[i]), int(hi[i])
        cols = np.flatnonzero(np.isfinite(values[r, a:c])) + a
        before, after = cols[cols < b], cols[cols >= b]
        if before.size < 3 or after.size < 3:
            continue
        weights = np.concatenate([-_boundary_weights(before - b), _boundary_weights(after - b)])
        lags = np.abs(cols[:, None] - cols[None, :]).astype(float)
        out[i] = -(weights @ semivariogram(lags, wander.drift[r], wander.cap[r]) @ weights)
    return out


@functools.lru_cache(maxsize=8192)
def _span_lag_pairs(before: int, after: int) -> np.ndarray:
    """`_lag_pairs` of gap-free spans of `before` and `after` points, kept (read-only) for the next tests of
    that shape."""
    pairs = _lag_pairs(np.arange(-before, 0), np.arange(after))
    pairs.flags.writeable = False
    return pairs


def _lag_pairs(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """`_lag_products` of the gap weights of consecutive points at `before` and `after` (offsets from the
    boundary): the gap's variance under a stationary-increment wander is -2 sum_h of these times gamma(h)."""
    return _lag_products(np.concatenate([-_boundary_weights(before), _boundary_weights(after)]))


def _lag_products(weights: np.ndarray) -> np.ndarray:
    """sum_i w_i w_(i+h) for h = 1, 2, ... (weights of consecutive points)."""
    return np.correlate(weights, weights, mode="full")[weights.size :]


def _boundary_weights(u: np.ndarray) -> np.ndarray:
    """Weights of a least-squares line through points at `u` for its value at -0.5."""
    du = u - u.mean()
    sxx = float(du @ du)
    lever = (-0.5 - u.mean()) * du / sxx if sxx > 0 else np.zeros(u.size)
    return np.asarray(1.0 / u.size + lever)


def median_inplace(x: np.ndarray) -> np.ndarray:
    """`np.median(x, axis=-1)` of NaN-free `x` (same floats), partitioning `x` in place.

    One partition at the upper middle: np.median also partitions at the last element to find NaN,
    which makes it ~4x slower.
    """
    n = x.shape[-1]
    if n == 0:
        return np.full(x.shape[:-1], np.nan)
    half = n // 2
    x.partition(half, axis=-1)
    middle = x[..., half] if n % 2 else x[..., :half].max(axis=-1) + x[..., half]
    return (middle + 0.0) / (2 - n % 2)  # np.median's mean of the middle value(s), + 0.0 like its sum


def step_profile(filled: np.ndarray, sigma: np.ndarray, block: int) -> np.ndarray:
    """|M[t, t+m) - 2 M[t-m, t) + M[t-2m, t-m)| / (sigma sqrt(6 / m)) for a step at each t (m = block).

    `filled`: gap-free rows (forward-filled), `sigma`: their noise level. NaN where the three blocks do
    not fit (the first 2m and last m - 1 points).
    """
    k, n = filled.shape
    m = max(2, block)
    if n < 3 * m:
        return np.full((k, n), np.nan)
    out = np.empty((k, n))
    out[:, : 2 * m], out[:, n - m + 1 :] = np.nan, np.nan  # the rest is written below
    scale = sigma * np.sqrt(6.0 / m)
    for rows in _row_blocks(k, n):
        _second_differences(filled[rows], m, out[rows, 2 * m : n - m + 1])
        with np.errstate(divide="ignore", invalid="ignore"):  # sigma 0: subnormal steps round to nothing
            out[rows, 2 * m : n - m + 1] /= scale[rows, None]
    return out


def _second_differences(filled: np.ndarray, m: int, out: np.ndarray) -> None:
    """out = |M[t, t+m) - 2 M[t-m, t) + M[t-2m, t-m)| for t = 2m .. n - m, from running sums."""
    if not np.isfinite(filled).all():
        filled = np.nan_to_num(filled)
    k, n = filled.shape
    cum = np.empty((k, n + 1))
    cum[:, 0] = 0.0
    np.subtract(filled, filled[:, :1], out=cum[:, 1:])
    np.cumsum(cum[:, 1:], axis=1, out=cum[:, 1:])
    means = np.subtract(cum[:, m:], cum[:, :-m])
    means /= m  # means[:, j] = mean of filled[:, j : j + m]
    np.multiply(means[:, m:-m], 2.0, out=out)
    np.subtract(means[:, 2 * m :], out, out=out)
    out += means[:, : -2 * m]
    np.abs(out, out=out)


LONG_SERIES = 4000


def find_change_indices(signal: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """Pelt (ruptures KernelCPD, linear kernel) on one standardised (unit noise), gap-free row.

    Series longer than LONG_SERIES points are searched on block means (block b = ceil(n / 2000), rescaled
    by sqrt(b) to keep unit noise), and each change is then refined to the best split within +-b points.
    """
    n = signal.size
    if n < 2 * min_size + 1:
        return []
    if n <= LONG_SERIES:
        import ruptures as rpt  # lazy: only rows that pass the vectorised screen need it

        algo = rpt.KernelCPD(kernel="linear", min_size=min_size).fit(signal[:, None])
        return [int(b) for b in algo.predict(pen=penalty)[:-1]]
    block = int(np.ceil(n / 2000))
    usable = n // block * block
    means = signal[:usable].reshape(-1, block).mean(axis=1) * np.sqrt(block)
    coarse = find_change_indices(means, penalty, max(2, min_size // block))
    return [_refine(signal, c * block, block) for c in coarse]


def _refine(signal: np.ndarray, guess: int, radius: int) -> int:
    """Best single mean-shift split of the 2 x radius points either side of `guess`."""
    lo, hi = max(0, guess - 2 * radius), min(signal.size, guess + 2 * radius)
    seg = signal[lo:hi] - signal[lo:hi].mean()
    m = seg.size
    t = np.arange(1, m, dtype=float)
    stat = np.abs(np.cumsum(seg)[:-1]) / np.sqrt(t * (m - t) / m)
    window = slice(max(0, radius - 1), min(m - 1, 3 * radius))
    return lo + 1 + window.start + int(np.argmax(stat[window]))


@dataclass(frozen=True)
class SideFits:
    """Per span: the least-squares line's value at the boundary and that value's variance factor, the
    variance of the differences of the finite points, their count (the rest is meaningless below 3), and
    the span's mean (NaN ignored)."""

    value: np.ndarray
    factor: np.ndarray
    diff_var: np.ndarray
    count: np.ndarray
    mean: np.ndarray


def fit_sides(
    values: np.ndarray, rows: np.ndarray, start: np.ndarray, stop: np.ndarray, origin: np.ndarray
) -> SideFits:
    """Line fits to the finite points of the spans values[rows, start:stop] (u = column - origin), at -0.5.

    Elementwise steps run over all spans at once; the order-sensitive reductions (pairwise sums, BLAS
    dots) run on the spans of each length stacked as the rows of one block, which reduces each row as a
    fit of one span would (the same 1-D loop), so results are the same.
    """
    n = start.size
    size = stop - start
    span = np.repeat(np.arange(n), size)  # the span of each gathered point
    cols = start[span] + np.arange(span.size) - np.repeat(np.cumsum(size) - size, size)
    window = values[rows[span], cols]
    finite, nan = np.isfinite(window), np.isnan(window)
    y, u, owner = window[finite], (cols - origin[span])[finite].astype(float), span[finite]
    count = np.bincount(owner, minlength=n)
    first = np.cumsum(count) - count
    points, diffs = _span_groups(first, count), _span_groups(first, count - 1)  # of y, of np.diff(y)
    d = np.diff(y)
    at = -0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        nanmean = _span_sums(np.where(nan, 0.0, window), _span_groups(np.cumsum(size) - size, size), n)
        nanmean /= size - np.bincount(span[nan], minlength=n)
        um = np.bincount(owner, u, minlength=n) / count  # sums of integers: exact in any order
        ym = _span_sums(y, points, n) / count
        dev = d - (_span_sums(d, diffs, n) / (count - 1))[owner[:-1]]
        dev *= dev  # as np.var
        du = u - um[owner]
        sxx, sxy = _span_dots(du, du, points, n), _span_dots(du, y - ym[owner], points, n)
        slope = np.where(sxx > 0, sxy / sxx, 0.0)
        lever = np.power(at - um, np.full(n, 2.0))  # libm pow, as a scalar `** 2` (not x * x)
        factor = 1.0 / count + np.where(sxx > 0, lever / sxx, 0.0)
        diff_var = _span_sums(dev, diffs, n) / (count - 1)
    return SideFits(ym + slope * (at - um), factor, diff_var, count, nanmean)


SpanGroup = tuple[np.ndarray, np.ndarray]  # (which spans, (spans, length) positions of their points)


def _span_groups(start: np.ndarray, length: np.ndarray) -> list[SpanGroup]:
    """The spans [start, start + length) grouped by length (empty ones left out): per length, which spans
    and the positions of their points, one span a row."""
    which = np.flatnonzero(length > 0)
    which = which[np.argsort(length[which], kind="stable")]
    sizes, first = np.unique(length[which], return_index=True)
    bounds = [*first.tolist(), which.size]
    return [
        (which[a:b], start[which[a:b], None] + np.arange(size))
        for size, a, b in zip(sizes.tolist(), bounds[:-1], bounds[1:], strict=True)
    ]


def _span_sums(x: np.ndarray, groups: list[SpanGroup], n: int) -> np.ndarray:
    """x[span].sum() of each of the n spans (0 if empty): numpy's pairwise sum of each row of a block of
    spans of one length, the same floats as a 1-D sum of the span."""
    out = np.zeros(n)
    for which, at in groups:
        out[which] = np.add.reduce(x[at], axis=1)
    return out


def _span_dots(x: np.ndarray, y: np.ndarray, groups: list[SpanGroup], n: int) -> np.ndarray:
    """x[span] @ y[span] of each of the n spans (0 if empty): a stacked matmul of (1, L) by (L, 1), which
    takes a BLAS dot per span, the same floats as the 1-D product."""
    out = np.zeros(n)
    for which, at in groups:
        out[which] = (x[at][:, None, :] @ y[at][:, :, None])[:, 0, 0]
    return out


@dataclass(frozen=True)
class StepTests:
    """Step tests of the change points `index` of rows `rows`: t, two-sided p-value, means either side."""

    rows: np.ndarray
    index: np.ndarray
    t_stat: np.ndarray
    p_value: np.ndarray
    before: np.ndarray
    after: np.ndarray


def step_tests(values: np.ndarray, tests: np.ndarray, wander: Wander | None = None) -> StepTests:
    """Step test of every (row, index, lo, hi) in `tests`, on the points [lo, index) and [index, hi).

    Lines fitted either side are extrapolated to the boundary (half a point before `index`) and their gap
    is tested against its standard error; the noise variance comes from the differences of each side, so
    the slopes do not inflate it. `wander` (per row of `values`, `wander_of`) adds what a wandering level
    moves the gap by (`wander_gap_variances`). Fewer than 3 finite points on a side: t = 0, p = 1.
    """
    rows, index, lo, hi = tests.T
    before, after = fit_sides(values, rows, lo, index, index), fit_sides(values, rows, index, hi, index)
    jump = after.value - before.value
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (before.diff_var + after.diff_var) / 4.0 * (before.factor + after.factor)
        if wander is not None:
            wandering = (wander.drift[rows] > 0) & (wander.cap[rows] > 0)
            variance[wandering] += wander_gap_variances(
                values, rows[wandering], lo[wandering], index[wandering], hi[wandering], wander
            )
        se = np.sqrt(variance)
        t = np.where(se == 0, np.where(jump == 0, 0.0, np.copysign(1e6, jump)), jump / se)
        df = np.maximum(before.count + after.count - 4, 1)
        p = np.where(se == 0, np.where(jump == 0, 1.0, 0.0), 2.0 * special.stdtr(df, -np.abs(t)))
    few = (before.count < 3) | (after.count < 3)
    t, p = np.where(few, 0.0, t), np.where(few, 1.0, p)
    return StepTests(rows, index, t, p, before.mean, after.mean)


def standardised(filled: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Each row of gap-free spans of one length less its median, in units of its noise level `sigma`."""
    return (filled - median_inplace(filled.copy())[:, None]) / sigma[:, None]


def region_tests(signal: np.ndarray, rule: DetectionRule) -> list[tuple[int, int, int]]:
    """(index, lo, hi) of each Pelt change point of one `standardised` gap-free span: its step test takes
    the `window_size` points either side, bounded by the neighbouring change points."""
    cps = find_change_indices(signal, rule.penalty, max(2, min(rule.min_samples, rule.window_size) // 2))
    bounds = [0, *cps, signal.size]
    w = rule.window_size
    return [(b, max(bounds[i], b - w), min(bounds[i + 2], b + w)) for i, b in enumerate(cps)]


def step_regions(profile: np.ndarray, level: float, margin: int) -> list[list[tuple[int, int]]]:
    """Per row of a (k, n) step profile: merged [start, end) spans of +-margin points around every
    position where it reaches `level`."""
    with np.errstate(invalid="ignore"):
        rows, hits = np.nonzero(profile >= level)
    spans: list[list[tuple[int, int]]] = [[] for _ in range(profile.shape[0])]
    if hits.size == 0:
        return spans
    lo, hi = np.maximum(hits - margin, 0), np.minimum(hits + margin, profile.shape[1])
    first = np.ones(hits.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (lo[1:] > hi[:-1])  # in a row hi never decreases
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], hits.size) - 1
    for r, start, end in zip(rows[starts].tolist(), lo[starts].tolist(), hi[ends].tolist(), strict=True):
        spans[r].append((start, end))
    return spans


def candidate_tests(
    profile: np.ndarray, filled: np.ndarray, sigma: np.ndarray, rows: list[int], rule: DetectionRule
) -> np.ndarray:
    """(row, index, lo, hi) of the `region_tests` of `rows`, Pelt only on their `step_regions` (+-2 windows).

    Change points where no step of their region's profile reaches the threshold within +-m/2 points
    (typically the staircase Pelt lays over a smooth trend) are left out.
    """
    profile = profile[rows]
    regions = step_regions(profile, rule.threshold, 2 * rule.window_size)
    spans = [(i, r, lo, hi) for i, (r, row) in enumerate(zip(rows, regions, strict=True)) for lo, hi in row]
    signals = _standardised_spans(filled, sigma, spans)
    found = [  # (i, index, lo, hi, region start, region end) for row rows[i], in the order of `spans`
        (i, b + lo, s + lo, e + lo, lo, hi)
        for (i, _, lo, hi), signal in zip(spans, signals, strict=True)
        for b, s, e in region_tests(signal, rule)
    ]
    tests = np.array(found, dtype=np.intp).reshape(-1, 6)
    which, index, region_lo, region_hi = tests[:, 0], tests[:, 1], tests[:, 4], tests[:, 5]
    half = max(1, rule.window_size // 4)
    with np.errstate(invalid="ignore"):
        steps = ~(np.isfinite(profile) & (profile < rule.threshold))  # NaN (edges) counts as a step
    seen = np.zeros((len(rows), profile.shape[1] + 1), dtype=np.intp)
    np.cumsum(steps, axis=1, out=seen[:, 1:])  # seen[i, j]: steps in profile[i, :j]
    near = (
        seen[which, np.minimum(region_hi, index + half + 1)]
        > seen[which, np.maximum(region_lo, index - half)]
    )
    return np.column_stack([np.asarray(rows, dtype=np.intp)[which], tests[:, 1:4]])[near]


def _standardised_spans(
    filled: np.ndarray, sigma: np.ndarray, spans: list[tuple[int, int, int, int]]
) -> list[np.ndarray]:
    """`standardised` filled[r, lo:hi] of each (i, r, lo, hi) in `spans`, the spans of one length at once."""
    out: list[np.ndarray] = [np.empty(0)] * len(spans)
    by_length: dict[int, list[int]] = {}
    for j, (_, _, lo, hi) in enumerate(spans):
        by_length.setdefault(hi - lo, []).append(j)
    for length, which in by_length.items():
        rows = np.array([spans[j][1] for j in which], dtype=np.intp)
        cols = np.array([spans[j][2] for j in which], dtype=np.intp)[:, None] + np.arange(length)
        for j, signal in zip(which, standardised(filled[rows[:, None], cols], sigma[rows]), strict=True):
            out[j] = signal
    return out


@dataclass(frozen=True)
class ChangeScan:
    """Change points of a (k, n) block before scoring: what does not depend on the per-point threshold.

    `found`: every significant change point, `kept` its t on the side the rule's direction keeps (else 0),
    `reported`: those with a kept t; `finite`: where the block has a value; `window`: the points a change
    point scores (from its own on, a later one overwriting an earlier one).
    """

    found: list[ChangePoint]
    kept: list[float]
    reported: list[ChangePoint]
    finite: np.ndarray
    window: int

    @property
    def rows(self) -> np.ndarray:
        """Rows with at least one change point (elsewhere z is 0 or NaN)."""
        return np.unique(np.array([cp.row for cp in self.found], dtype=np.intp))

    @functools.cached_property
    def _whole(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.columns(0, self.finite.shape[1])

    @property
    def z(self) -> np.ndarray:
        """Per point: the kept t of the change point scoring it, 0 if none, NaN at a gap."""
        return self._whole[0]

    @property
    def baseline(self) -> np.ndarray:
        """Per point: the mean before the change point scoring it, NaN if none."""
        return self._whole[1]

    @property
    def p_values(self) -> np.ndarray:
        """Per point: the p-value of the change point scoring it, 1 if none."""
        return self._whole[2]

    def columns(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z, baseline and p-values of the columns start to stop only (the same values as the whole)."""
        k, n = self.finite.shape
        shape = (k, stop - start)
        z, baseline, p_values = np.zeros(shape), np.full(shape, np.nan), np.ones(shape)
        for cp, kept in zip(self.found, self.kept, strict=True):
            first, end = max(cp.index, start) - start, min(n, cp.index + self.window, stop) - start
            if first < end:
                z[cp.row, first:end] = kept
                baseline[cp.row, first:end] = cp.before
                p_values[cp.row, first:end] = cp.p_value
        z[~self.finite[:, start:stop]] = np.nan
        return z, baseline, p_values

    def scores(self, threshold: np.ndarray, columns: slice = slice(None)) -> PointScores:
        """Per-point scores against `threshold`: a change point scores the `window_size` points after it.

        `columns` (a contiguous slice) narrows them to those columns (`threshold` then has their shape)."""
        if columns == slice(None):
            z, baseline, p_values = self._whole
        else:
            start, stop, step = columns.indices(self.finite.shape[1])
            if step != 1:
                raise ValueError(f"ChangeScan.scores takes a contiguous slice of columns, not {columns}")
            z, baseline, p_values = self.columns(start, max(start, stop))
        return PointScores(
            z=z,
            score=_sparse_scores(z, threshold, self.found),
            baseline=baseline,
            threshold=threshold,
            p_value=p_values,
        )


def profile_block(rule: DetectionRule) -> int:
    """Points per block mean of the step profile: half a window."""
    return max(2, rule.window_size // 2)


def wander_lag(block: int) -> int:
    """The far lag of the wander estimate for a step profile of `block`-point means (its reach: `block`)."""
    return max(2, block // 3)


def widen_for_wander(
    profile: np.ndarray,
    values: np.ndarray,
    sigma: np.ndarray,
    rows: np.ndarray,
    block: int,
    wander: Wander,
    known: Wander | None = None,
) -> None:
    """Measure the step profile of `rows` against its variance under their wander (`wander_of`, or taken
    from `known`, the wander of every row; written into `wander`) where that is wider than under white
    noise (in place)."""
    found = wander_of(values[rows], wander_lag(block), block) if known is None else known.select(rows)
    wander.noise[rows], wander.drift[rows], wander.cap[rows] = found.noise, found.drift, found.cap
    white = sigma[rows] ** 2 * 6.0 / block
    wide = found.noise * 6.0 / block + wander_profile_variance(found, block)
    with np.errstate(invalid="ignore", divide="ignore"):
        widen = np.sqrt(np.fmax(wide / white, 1.0))[:, None]
        if np.array_equal(rows, np.arange(profile.shape[0])):  # every row: no gather and scatter
            profile /= widen
        else:
            profile[rows] /= widen


def _screened(profile: np.ndarray, rule: DetectionRule) -> np.ndarray:
    """The rows whose step profile reaches `threshold + 1` somewhere (those Pelt is run on)."""
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(((profile >= rule.threshold + 1.0) & np.isfinite(profile)).any(axis=1))


def scan_change_points(
    values: np.ndarray, rule: DetectionRule, since: int = 0, wander: Wander | None = None
) -> ChangeScan:
    """Significant change points of every row of a (k, n) block (see the module docstring).

    With `since` > 0 only the change points at column `since` or later are tested, so the scores are
    those of the whole scan from column `since + window_size - 1` on (a change point scores the
    `window_size` points after it): what a streaming detector needs for its newest point, without the
    step tests of the rest of its buffer. `wander`, if given, is what `wander_of` gives every row for
    the step profile's blocks (lag `wander_lag(block)`, reach `block`, `block = profile_block(rule)`),
    measured beforehand: `sliding_wander` measures the windows of one series at once.
    """
    k, n = values.shape
    finite = np.isfinite(values)
    block = profile_block(rule)
    if n < 3 * block:  # no step profile fits (`step_profile`): nothing to test
        return ChangeScan([], [], [], finite, rule.window_size)
    filled = values if finite.all() else forward_fill(values)  # only read
    sigma = noise_sigma(values)
    profile = step_profile(filled, sigma, block)
    measured = Wander(np.zeros(k), np.zeros(k), np.zeros(k))
    screened = _screened(profile, rule)
    if screened.size:  # where the level wanders, a step must stand out of the wander too
        widen_for_wander(profile, values, sigma, screened, block, measured, wander)
        screened = screened[_screened(profile[screened], rule)]  # widening only lowers a profile
    tests = (
        candidate_tests(profile, filled, sigma, screened.tolist(), rule)
        if screened.size
        else np.empty((0, 4), np.intp)
    )
    if since > 0:
        tests = tests[tests[:, 1] >= since]
    found = significant(step_tests(values, tests, measured), rule) if tests.size else []
    kept = directional(np.array([cp.t_stat for cp in found]), rule.direction).tolist()
    reported = [cp for cp, t in zip(found, kept, strict=True) if t != 0]
    return ChangeScan(found, kept, reported, finite, rule.window_size)


def significant(tests: StepTests, rule: DetectionRule) -> list[ChangePoint]:
    """The tested change points whose |t| reaches the rule's threshold and p-value its two-sided level."""
    alpha = float(p_value_from_z(rule.threshold))
    keep = (tests.p_value < alpha) & (np.abs(tests.t_stat) >= rule.threshold)
    columns = (tests.rows, tests.index, tests.before, tests.after, tests.t_stat, tests.p_value)
    return [ChangePoint(*cp) for cp in zip(*(c[keep].tolist() for c in columns), strict=True)]


def changepoint_points(
    values: np.ndarray, rule: DetectionRule, threshold: np.ndarray
) -> tuple[PointScores, list[ChangePoint]]:
    """Change points of every row; each one scores the `window_size` points that follow it."""
    scan = scan_change_points(values, rule)
    return scan.scores(threshold), scan.reported


def _sparse_scores(z: np.ndarray, threshold: np.ndarray, found: list[ChangePoint]) -> np.ndarray:
    """`score_from_z(z, threshold)`, evaluated only on rows with a change point (z is 0 or NaN elsewhere)."""
    score = np.where(np.isnan(z), np.nan, 0.0)
    rows = np.unique(np.array([cp.row for cp in found], dtype=np.intp))
    if rows.size:
        score[rows] = score_from_z(z[rows], np.broadcast_to(threshold, z.shape)[rows])
    return score
