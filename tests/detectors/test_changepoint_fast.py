"""The vectorised pieces of detectors.changepoint give the same floats as the one-at-a-time computations
they replace (reference implementations below)."""

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from detectors import DetectionRule
from detectors.changepoint import (
    median_inplace,
    noise_sigma,
    scan_change_points,
    sliding_wander,
    step_profile,
    step_regions,
    step_tests,
    wander_of,
)
from detectors.rolling import forward_fill, row_nanmedian


def _boundary_fit(u: np.ndarray, y: np.ndarray, at: float) -> tuple[float, float]:
    m = u.size
    um, ym = u.sum() / m, y.sum() / m
    du = u - um
    sxx = float(du @ du)
    slope = float(du @ (y - ym)) / sxx if sxx > 0 else 0.0
    return ym + slope * (at - um), 1.0 / m + ((at - um) ** 2 / sxx if sxx > 0 else 0.0)


def _step_test(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    ok_b, ok_a = np.isfinite(before), np.isfinite(after)
    yb, ya = before[ok_b], after[ok_a]
    if yb.size < 3 or ya.size < 3:
        return 0.0, 1.0
    vb, fb = _boundary_fit(np.flatnonzero(ok_b) - float(before.size), yb, -0.5)
    va, fa = _boundary_fit(np.flatnonzero(ok_a).astype(float), ya, -0.5)
    noise_var = (float(np.diff(yb).var()) + float(np.diff(ya).var())) / 4.0
    jump = va - vb
    se = math.sqrt(noise_var * (fb + fa))
    if se == 0:
        return (0.0, 1.0) if jump == 0 else (math.copysign(1e6, jump), 0.0)
    t = jump / se
    return t, float(2.0 * special.stdtr(max(yb.size + ya.size - 4, 1), -abs(t)))


def _same(a: object, b: object) -> bool:
    """Equal floats, NaN equal to NaN, signed zeros told apart."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.array_equal(x, y, equal_nan=True) and np.array_equal(np.signbit(x), np.signbit(y)))


def test_vectorised_step_tests_equal_one_by_one():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(6, 400)) * rng.uniform(0.1, 50, size=(6, 1)) + rng.uniform(-1e3, 1e3, (6, 1))
    values[1, 50:90] = np.nan
    values[2, ::3] = np.nan
    values[3, 150:200], values[3, 200:] = 5.0, 7.0  # constant spans: zero noise
    values[4, 100:] += np.linspace(0, 40, 300)
    values[5, 10:14] = np.inf
    tests = [(3, 200, 150, 260), (3, 250, 200, 300), (3, 200, 198, 260), (2, 30, 0, 400), (5, 12, 0, 20)]
    for _ in range(400):
        r, b = int(rng.integers(0, 6)), int(rng.integers(1, 399))
        tests.append((r, b, max(0, b - int(rng.integers(0, 200))), min(400, b + int(rng.integers(0, 200)))))
    got = step_tests(values, np.array(tests, dtype=np.intp))
    for i, (r, b, lo, hi) in enumerate(tests):
        t, p = _step_test(values[r, lo:b], values[r, b:hi])
        assert _same(got.t_stat[i], t) and _same(got.p_value[i], p), (r, b, lo, hi)
        if p < 1:  # 3+ finite points either side: the means are defined
            assert _same(got.before[i], np.nanmean(values[r, lo:b]))
            assert _same(got.after[i], np.nanmean(values[r, b:hi]))


@pytest.mark.parametrize("n", [1, 2, 3, 8, 9, 300, 301])
def test_median_inplace_equals_np_median(n):
    rng = np.random.default_rng(n)
    x = np.round(rng.normal(size=(9, n)) * 3)  # ties
    x[::2, ::3] = -0.0
    assert _same(median_inplace(x.copy()), np.median(x, axis=1))
    assert _same(median_inplace(x[0].copy()), np.median(x[0]))


def test_step_regions_equal_row_by_row():
    rng = np.random.default_rng(5)
    profile = np.abs(rng.normal(size=(7, 600))) * 2
    profile[:, :40] = np.nan
    profile[3] = 0.0  # no hit
    spans = step_regions(profile, 3.0, 25)
    for r in range(7):
        hits = np.flatnonzero(np.nan_to_num(profile[r]) >= 3.0)
        expected: list[tuple[int, int]] = []
        for h in hits.tolist():
            lo, hi = max(h - 25, 0), min(h + 25, 600)
            if expected and lo <= expected[-1][1]:
                expected[-1] = (expected[-1][0], hi)
            else:
                expected.append((lo, hi))
        assert spans[r] == expected


def test_noise_sigma_and_step_profile_equal_whole_block_formulas():
    rng = np.random.default_rng(9)
    values = rng.normal(size=(300, 500)) * rng.uniform(0.5, 5, size=(300, 1)) + 100
    values[::7, 100:130] = np.nan
    values[5] = 3.0
    diffs = np.diff(values, axis=1)
    mad = row_nanmedian(np.abs(diffs - row_nanmedian(diffs)[:, None]))
    sigma = 1.4826 * mad / np.sqrt(2.0)
    sigma[5] = 1e-9  # constant row: std 0, floor
    assert _same(noise_sigma(values), sigma)
    filled, m = np.nan_to_num(forward_fill(values)), 30
    cum = np.concatenate([np.zeros((300, 1)), np.cumsum(filled - filled[:, :1], axis=1)], axis=1)
    means = (cum[:, m:] - cum[:, :-m]) / m
    second = means[:, 2 * m :] - 2.0 * means[:, m:-m] + means[:, : -2 * m]
    expected = np.full((300, 500), np.nan)
    expected[:, 2 * m : 2 * m + second.shape[1]] = np.abs(second) / (sigma * np.sqrt(6.0 / m))[:, None]
    assert _same(step_profile(forward_fill(values), sigma, m), expected)


def test_scan_of_row_blocks_equals_scan_of_whole_block():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(40, 700)) + 10
    values[::3, 300:] += 6
    values[::5, 200:230] = np.nan
    rule = DetectionRule("r", method="changepoint", window_size=40)
    whole = scan_change_points(values, rule)
    parts = [scan_change_points(values[s : s + 13], rule) for s in range(0, 40, 13)]
    shifted = [
        (cp.row + s, cp.index, cp.t_stat, cp.p_value)
        for s, p in zip(range(0, 40, 13), parts, strict=True)
        for cp in p.found
    ]
    assert [(cp.row, cp.index, cp.t_stat, cp.p_value) for cp in whole.found] == shifted
    assert len(whole.found) >= 13
    assert _same(whole.z, np.concatenate([p.z for p in parts]))


def test_wander_is_estimated_from_second_differences_and_capped_at_the_series_spread():
    from detectors.changepoint import wander_of

    rng = np.random.default_rng(8)
    n = 20_000
    white = rng.normal(0, 2, (1, n))
    trend = white + np.linspace(0, 500, n)  # a steady rise is not drift
    walk = np.cumsum(rng.normal(0, 1, (1, n)), axis=1) + rng.normal(0, 1, (1, n))
    w = wander_of(np.vstack([white, trend, walk]), 10, 30)
    assert w.drift[0] < 0.1 and w.drift[1] < 0.1  # estimation noise, of a noise variance of 4
    assert w.cap[0] < 0.2  # and white noise has nowhere further to wander
    assert w.noise[0] == pytest.approx(4.0, rel=0.1) and w.noise[1] == pytest.approx(4.0, rel=0.1)
    assert w.drift[2] == pytest.approx(1.0, rel=0.15) and w.noise[2] == pytest.approx(1.0, rel=0.3)
    assert w.cap[2] == pytest.approx(15.0, rel=0.2)  # 30 drift steps of variance 1, halved


def _gap(y: np.ndarray, index: int) -> float:
    """Lines fitted either side of `index`, their values at index - 0.5, after minus before."""
    u = (np.arange(y.size) - index).astype(float)
    return _boundary_fit(u[index:], y[index:], -0.5)[0] - _boundary_fit(u[:index], y[:index], -0.5)[0]


def test_the_wander_adds_to_the_step_tests_variance_what_simulation_shows():
    from detectors.changepoint import Wander, wander_gap_variances, wander_profile_variance

    rng = np.random.default_rng(12)
    sims, n, index, drift, cap = 6000, 120, 60, 0.5, 6.0
    steps = rng.normal(0, np.sqrt(drift), (sims, n))
    walks = np.cumsum(steps, axis=1)
    wander = Wander(np.zeros(1), np.array([drift]), np.array([1e9]))  # uncapped: a plain random walk
    one = np.array([0])
    predicted = wander_gap_variances(walks[:1], one, np.array([0]), np.array([index]), np.array([n]), wander)[
        0
    ]
    simulated = np.var([_gap(w, index) for w in walks])
    assert predicted == pytest.approx(simulated, rel=0.08)
    # the profile: a second difference of block means of 30, uncapped: drift (m + 1 / m)
    assert wander_profile_variance(wander, 30)[0] == pytest.approx(drift * (30 + 1 / 30), rel=1e-9)
    # capped: a moving sum of white noise over 2 cap / drift points has a triangular covariance whose
    # semivariogram is min(drift h / 2, cap)
    width = int(2 * cap / drift)
    noise = rng.normal(0, np.sqrt(drift / 2), (sims, n + width - 1))
    tents = np.cumsum(noise, axis=1)
    tents = tents[:, width - 1 :] - np.concatenate([np.zeros((sims, 1)), tents[:, : n - 1]], axis=1)
    capped = Wander(np.zeros(1), np.array([drift]), np.array([cap]))
    predicted = wander_gap_variances(tents[:1], one, np.array([0]), np.array([index]), np.array([n]), capped)[
        0
    ]
    assert predicted == pytest.approx(np.var([_gap(w, index) for w in tents]), rel=0.08)


def test_the_gap_variances_summed_over_lags_equal_the_quadratic_form():
    from detectors.changepoint import Wander, semivariogram, wander_gap_variances

    rng = np.random.default_rng(13)
    values = np.cumsum(rng.normal(size=(30, 300)), axis=1)
    values[::4, 100:106] = np.nan
    wander = Wander(np.zeros(30), rng.uniform(0, 2, 30), rng.uniform(0.5, 20, 30))
    rows, index = rng.integers(0, 30, 400), rng.integers(60, 240, 400)
    lo, hi = index - rng.integers(1, 50, 400), index + rng.integers(1, 50, 400)
    found = wander_gap_variances(values, rows, lo, index, hi, wander)
    expected = np.zeros(400)
    for i, (r, a, b, c) in enumerate(zip(rows, lo, index, hi, strict=True)):
        cols = np.flatnonzero(np.isfinite(values[r, a:c])) + a
        before, after = cols[cols < b].astype(float) - b, cols[cols >= b].astype(float) - b
        if before.size < 3 or after.size < 3:
            continue
        weights = np.concatenate(
            [-_boundary_fit_weights(before), _boundary_fit_weights(after)]
        )  # the gap's weights on each point
        lags = np.abs(cols[:, None] - cols[None, :]).astype(float)
        expected[i] = -(weights @ semivariogram(lags, wander.drift[r], wander.cap[r]) @ weights)
    gappy = np.array([not np.isfinite(values[r, a:c]).all() for r, a, c in zip(rows, lo, hi, strict=True)])
    assert gappy.sum() > 20 and (~gappy & (expected != 0)).sum() > 200
    assert np.allclose(found, expected, rtol=1e-9, atol=1e-12)


def _boundary_fit_weights(u: np.ndarray) -> np.ndarray:
    """The weights of `_boundary_fit`'s value at -0.5 on each y (it is linear in y)."""
    return np.array([_boundary_fit(u, np.eye(u.size)[j], -0.5)[0] for j in range(u.size)])


def test_the_screen_sends_a_step_to_pelt_but_not_a_wandering_level(monkeypatch):
    import detectors.changepoint as changepoint

    calls = []
    real = changepoint.find_change_indices

    def counted(*a):
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(changepoint, "find_change_indices", counted)
    rng = np.random.default_rng(6)
    rule = DetectionRule("r", method="changepoint")
    walks = 100 + np.cumsum(rng.normal(0, 1, (20, 1440)), axis=1) + rng.normal(0, 1, (20, 1440))
    scan_change_points(walks, rule)
    assert calls == []  # a white-noise screen would send all 20 (their block means drift apart)
    steps = rng.normal(0, 1, (20, 1440))
    steps[:, 700:] += 6.0
    assert len(scan_change_points(steps, rule).found) == 20 and len(calls) >= 20


@pytest.mark.parametrize(("size", "lag", "reach"), [(180, 10, 30), (181, 10, 30), (61, 5, 15), (9, 2, 3)])
def test_sliding_wander_equals_wander_of_every_window(size, lag, reach):
    rng = np.random.default_rng(size)
    x = np.cumsum(rng.normal(size=2_000)) + rng.normal(size=2_000)
    x[rng.integers(0, 2_000, 15)] = np.nan  # windows with a missed scrape are measured one by one
    x[700:705] += 30.0
    got = sliding_wander(x, size, lag, reach)
    expected = wander_of(sliding_window_view(x, size).copy(), lag, reach)
    for part in ("noise", "drift", "cap"):
        assert _same(getattr(got, part), getattr(expected, part)), part
    assert (got.drift > 0).mean() > 0.5  # a random walk: most windows wander


def test_span_sums_and_dots_of_stacked_spans_equal_one_span_at_a_time():
    from detectors.changepoint import _span_dots, _span_groups, _span_sums

    rng = np.random.default_rng(21)
    x = rng.normal(size=6_000) * 10.0 ** rng.integers(-6, 7, size=6_000)  # magnitudes that round apart
    y = rng.normal(size=6_000) * 10.0 ** rng.integers(-6, 7, size=6_000)
    length = np.concatenate([np.arange(300), rng.integers(0, 300, 600), np.zeros(5, dtype=int)])
    start = rng.integers(0, 5_700, length.size)
    groups = _span_groups(start, length)
    sums, dots = _span_sums(x, groups, length.size), _span_dots(x, y, groups, length.size)
    for i, (a, m) in enumerate(zip(start.tolist(), length.tolist(), strict=True)):
        assert _same(sums[i], np.add.reduce(x[a : a + m])), m
        assert _same(dots[i], x[a : a + m] @ y[a : a + m]), m


def test_spans_standardised_together_equal_one_span_at_a_time():
    from detectors.changepoint import _standardised_spans

    rng = np.random.default_rng(22)
    filled = rng.normal(size=(5, 300)) * rng.uniform(0.1, 30, (5, 1)) + rng.uniform(-1e4, 1e4, (5, 1))
    sigma = rng.uniform(0.01, 3, 5)
    starts = [(0, 0, 300), (1, 7, 180), (1, 100, 180), (3, 50, 9), (4, 0, 120), (2, 3, 180)]  # row, lo, size
    spans = [(i, r, lo, lo + m) for i, (r, lo, m) in enumerate(starts)]
    got = _standardised_spans(filled, sigma, spans)
    for (_, r, lo, hi), signal in zip(spans, got, strict=True):
        assert _same(signal, (filled[r, lo:hi] - np.median(filled[r, lo:hi])) / float(sigma[r]))


@pytest.mark.parametrize("direction", ["both", "up"])
def test_the_scores_of_some_columns_of_a_scan_are_those_columns_of_the_whole_scan(direction):
    rng = np.random.default_rng(23)
    values = rng.normal(size=(12, 400)) + 10
    values[::2, 250:] += 6
    values[1::4, 300:] -= 6
    values[::3, 320:330] = np.nan
    rule = DetectionRule("r", method="changepoint", window_size=40, direction=direction)
    scan = scan_change_points(values, rule)
    assert len(scan.found) >= 6
    threshold = np.full((12, 400), rule.threshold)
    whole = scan.scores(threshold)
    for columns in (slice(399, 400), slice(250, 300), slice(0, 10), slice(320, 331), slice(None, 290)):
        part = scan.scores(threshold[:, columns], columns=columns)
        for name in ("z", "score", "baseline", "p_value"):
            assert _same(getattr(part, name), getattr(whole, name)[:, columns]), (columns, name)


def test_a_block_too_short_for_the_step_profile_has_no_change_point():
    rule = DetectionRule("r", method="changepoint")  # step profile: blocks of 30 points
    values = np.random.default_rng(24).normal(size=(3, 90))
    values[:, 60:] += 50.0
    assert [(cp.row, cp.index) for cp in scan_change_points(values, rule).found] == [
        (0, 60),
        (1, 60),
        (2, 60),
    ]
    short = values[:, 1:].copy()  # 3 blocks no longer fit before the last point
    short[1, 10] = np.nan
    scan = scan_change_points(short, rule)
    assert scan.found == [] and scan.reported == []
    assert _same(scan.z, np.where(np.isfinite(short), 0.0, np.nan)) and _same(scan.p_values, np.ones((3, 89)))
    assert np.isnan(scan.baseline).all()
