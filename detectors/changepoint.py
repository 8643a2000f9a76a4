"""Change points: vectorised step screening over all rows, then ruptures Pelt on rows that screen positive.

Screening computes, for every row at once, the largest standardised second difference of block means
(M[t, t+m) - 2 M[t-m, t) + M[t-2m, t-m), m = window/2): a step scores its size, a smooth trend ~0. Only
rows where it reaches `threshold + 1`, and only the spans of +-2 windows around positions where it
reaches `threshold`, go to ruptures (`KernelCPD` with a linear kernel, i.e. Pelt on the
L2 cost, compiled; penalty = `rule.penalty` in units of the noise variance). Each change point is then
kept only if the step test is significant: lines fitted to the `window_size` points either side
(bounded by the neighbouring change points) are extrapolated to the boundary, and their gap is tested
against its standard error (t test). A daily ramp therefore does not read as a string of level shifts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

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


def noise_sigma(values: np.ndarray) -> np.ndarray:
    """Per-row noise level from first differences (robust to level shifts), std as fallback."""
    diffs = np.diff(values, axis=1)
    mad = row_nanmedian(np.abs(diffs - row_nanmedian(diffs)[:, None]))
    sigma = 1.4826 * mad / np.sqrt(2.0)
    flat = ~(sigma > 0)
    if flat.any():
        sigma[flat] = np.nanstd(values[flat], axis=1)
    return np.where(np.isfinite(sigma) & (sigma > 0), sigma, 1e-9)


def step_profile(filled: np.ndarray, sigma: np.ndarray, block: int) -> np.ndarray:
    """|M[t, t+m) - 2 M[t-m, t) + M[t-2m, t-m)| / (sigma sqrt(6 / m)) for a step at each t (m = block).

    `filled`: gap-free rows (forward-filled), `sigma`: their noise level. NaN where the three blocks do
    not fit (the first 2m and last m - 1 points).
    """
    filled = np.nan_to_num(filled)
    k, n = filled.shape
    m = max(2, block)
    out = np.full((k, n), np.nan)
    if n < 3 * m:
        return out
    cum = np.concatenate([np.zeros((k, 1)), np.cumsum(filled - filled[:, :1], axis=1)], axis=1)
    means = (cum[:, m:] - cum[:, :-m]) / m  # means[:, j] = mean of filled[:, j : j + m]
    second = means[:, 2 * m :] - 2.0 * means[:, m:-m] + means[:, : -2 * m]
    out[:, 2 * m : 2 * m + second.shape[1]] = np.abs(second) / (sigma * np.sqrt(6.0 / m))[:, None]
    return out


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


def _boundary_fit(u: np.ndarray, y: np.ndarray, at: float) -> tuple[float, float]:
    """Least-squares line through (u, y): its value at `at` and that value's variance factor."""
    m = u.size
    um, ym = u.sum() / m, y.sum() / m
    du = u - um
    sxx = float(du @ du)
    slope = float(du @ (y - ym)) / sxx if sxx > 0 else 0.0
    return ym + slope * (at - um), 1.0 / m + ((at - um) ** 2 / sxx if sxx > 0 else 0.0)


def test_step(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """t statistic of the jump between lines fitted either side, at the boundary; two-sided p-value."""
    ok_b, ok_a = np.isfinite(before), np.isfinite(after)
    yb, ya = before[ok_b], after[ok_a]
    if yb.size < 3 or ya.size < 3:
        return 0.0, 1.0
    vb, fb = _boundary_fit(np.flatnonzero(ok_b) - float(before.size), yb, -0.5)
    va, fa = _boundary_fit(np.flatnonzero(ok_a).astype(float), ya, -0.5)
    db, da = np.diff(yb), np.diff(ya)
    noise_var = (float(db.var()) + float(da.var())) / 4.0  # from differences: unaffected by the slopes
    jump = va - vb
    se = math.sqrt(noise_var * (fb + fa))
    if se == 0:
        return (0.0, 1.0) if jump == 0 else (math.copysign(1e6, jump), 0.0)
    t = jump / se
    return t, float(2.0 * special.stdtr(max(yb.size + ya.size - 4, 1), -abs(t)))


def row_change_points(
    row: np.ndarray,
    row_index: int,
    rule: DetectionRule,
    profile: np.ndarray,
    filled: np.ndarray,
    sigma: float,
    alpha: float,
) -> list[ChangePoint]:
    """Significant change points of one row (NaN allowed; `filled` is the row forward-filled).

    Change points where no step of the row's `step_profile` reaches the threshold within +-m/2 points
    (typically the staircase Pelt lays over a smooth trend) are dropped before the step test, and
    the test must reach `alpha` (the two-sided p-value of the rule's threshold).
    """
    signal = (filled - np.median(filled)) / sigma
    min_size = max(2, min(rule.min_samples, rule.window_size) // 2)
    cps = find_change_indices(signal, rule.penalty, min_size)
    found = []
    bounds = [0, *cps, row.size]
    half = max(1, rule.window_size // 4)
    for i, b in enumerate(cps):
        near = profile[max(0, b - half) : b + half + 1]
        if np.isfinite(near).all() and near.max() < rule.threshold:
            continue
        lo, hi = max(bounds[i], b - rule.window_size), min(bounds[i + 2], b + rule.window_size)
        t_stat, p = test_step(row[lo:b], row[b:hi])
        if p < alpha and abs(t_stat) >= rule.threshold:
            before, after = np.nanmean(row[lo:b]), np.nanmean(row[b:hi])
            found.append(ChangePoint(row_index, b, float(before), float(after), t_stat, p))
    return found


def step_regions(profile: np.ndarray, level: float, margin: int) -> list[tuple[int, int]]:
    """Merged [start, end) spans of +-margin points around every position where the step profile >= level."""
    with np.errstate(invalid="ignore"):
        hits = np.flatnonzero(profile >= level)
    lo, hi = np.maximum(hits - margin, 0), np.minimum(hits + margin, profile.size)
    first = np.ones(hits.size, dtype=bool)
    first[1:] = lo[1:] > hi[:-1]  # hi never decreases, so a span ends at the hi of its last hit
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], hits.size) - 1
    return list(zip(lo[starts].tolist(), hi[ends].tolist(), strict=True))


def _screened_row_change_points(
    row: np.ndarray,
    row_index: int,
    rule: DetectionRule,
    profile: np.ndarray,
    filled: np.ndarray,
    sigma: float,
    alpha: float,
) -> list[ChangePoint]:
    """Pelt only where the step profile reaches the threshold (+-2 windows), not over the whole row."""
    found = []
    for lo, hi in step_regions(profile, rule.threshold, 2 * rule.window_size):
        region = (row[lo:hi], row_index, rule, profile[lo:hi], filled[lo:hi], sigma, alpha)
        for cp in row_change_points(*region):
            found.append(ChangePoint(cp.row, cp.index + lo, cp.before, cp.after, cp.t_stat, cp.p_value))
    return found


@dataclass(frozen=True)
class ChangeScan:
    """Change points of a (k, n) block before scoring: what does not depend on the per-point threshold.

    `found`: every significant change point; `reported`: those on the side the rule's direction keeps.
    """

    z: np.ndarray
    baseline: np.ndarray
    p_values: np.ndarray
    found: list[ChangePoint]
    reported: list[ChangePoint]

    @property
    def rows(self) -> np.ndarray:
        """Rows with at least one change point (elsewhere z is 0 or NaN)."""
        return np.unique(np.array([cp.row for cp in self.found], dtype=np.intp))

    def scores(self, threshold: np.ndarray) -> PointScores:
        """Per-point scores against `threshold`: a change point scores the `window_size` points after it."""
        score = _sparse_scores(self.z, threshold, self.found)
        return PointScores(
            z=self.z, score=score, baseline=self.baseline, threshold=threshold, p_value=self.p_values
        )


def scan_change_points(values: np.ndarray, rule: DetectionRule) -> ChangeScan:
    """Significant change points of every row of a (k, n) block (see the module docstring)."""
    k, n = values.shape
    z = np.zeros((k, n))
    baseline = np.full((k, n), np.nan)
    p_values = np.ones((k, n))
    filled = forward_fill(values)
    sigma = noise_sigma(values)
    profile = step_profile(filled, sigma, rule.window_size // 2)
    with np.errstate(invalid="ignore"):
        strongest = np.nanmax(np.where(np.isfinite(profile), profile, -np.inf), axis=1)
    screened = np.flatnonzero(strongest >= rule.threshold + 1.0)
    alpha = float(p_value_from_z(rule.threshold))
    found: list[ChangePoint] = []
    for r in screened.tolist():
        for cp in _screened_row_change_points(
            values[r], r, rule, profile[r], filled[r], float(sigma[r]), alpha
        ):
            end = min(n, cp.index + rule.window_size)
            z[r, cp.index : end] = cp.t_stat
            baseline[r, cp.index : end] = cp.before
            p_values[r, cp.index : end] = cp.p_value
            found.append(cp)
    z = np.where(np.isfinite(values), directional(z, rule.direction), np.nan)
    reported = [cp for cp in found if directional(np.array([cp.t_stat]), rule.direction)[0] != 0]
    return ChangeScan(z, baseline, p_values, found, reported)


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
