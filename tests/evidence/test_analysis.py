"""Lead/lag, correlation and coarsening on aligned arrays (pure numpy)."""

from __future__ import annotations

import numpy as np

from detectors.grid import align, grid
from receiver.evidence.analysis import characterize, coarsened, xcorr_lead
from receiver.evidence.source import SeriesData


def steps(n: int, at: int, seed: int, noise: float = 0.2) -> np.ndarray:
    t = np.arange(n)
    return np.where(t >= at, 10.0, 1.0) + np.random.default_rng(seed).normal(0, noise, n)


def test_a_series_that_moves_first_has_a_positive_lag():
    alert, cause = steps(500, 212, 1), steps(500, 200, 2)

    assert xcorr_lead(alert, cause, 60)[0] == 12  # type: ignore[index]
    assert xcorr_lead(cause, alert, 60)[0] == -12  # type: ignore[index]


def test_a_change_at_the_end_of_the_window_is_not_matched_at_a_lag_of_almost_the_window():
    # the alert fired 10 points before the window's end; max_lag longer than the window (1800 s at 2 s)
    alert, cause = steps(500, 490, 1), steps(500, 475, 2)

    lag, r = xcorr_lead(alert, cause, 900)  # type: ignore[misc]
    assert lag == 15 and 0.3 <= r <= 1.0


def test_gaps_do_not_break_the_lag_and_noise_has_none():
    alert, cause = steps(500, 212, 1), steps(500, 200, 2)
    cause[:20] = np.nan

    assert xcorr_lead(alert, cause, 60)[0] == 12  # type: ignore[index]
    assert xcorr_lead(alert, np.random.default_rng(3).normal(0, 1, 500), 60) is None
    assert xcorr_lead(alert, np.full(500, 4.0), 60) is None


def test_onset_difference_gives_the_lag_of_two_changed_series():
    ts = grid(0, 15 * 499, 15)
    values = np.vstack([steps(500, 300, 1), steps(500, 288, 2), np.random.default_rng(4).normal(5, 0.1, 500)])

    alert, cause, flat = characterize(ts, values, 0, 15, max_lag_seconds=1800)

    assert alert.lag_seconds == 0 and alert.correlation == 1
    assert cause.change is not None and cause.change.anomalous and cause.lag_seconds == 12 * 15
    assert flat.change is not None and not flat.change.anomalous


def test_series_are_aligned_on_the_grid_with_gaps_as_nan():
    ts = grid(100, 160, 15)
    data = SeriesData({}, np.array([100.0, 130.0, 160.0, 175.0]), np.array([1.0, float("inf"), 3.0, 4.0]))

    row = align([data], ts, 15)[0]

    assert ts.tolist() == [100, 115, 130, 145, 160]
    assert np.array_equal(row, [1.0, np.nan, np.nan, np.nan, 3.0], equal_nan=True)


def test_the_alert_series_counts_a_change_at_its_newest_point_other_series_do_not():
    ts = grid(0, 15 * 499, 15)
    rng = np.random.default_rng(5)
    alert, other = rng.normal(1.0, 0.05, 500), rng.normal(1.0, 0.05, 500)
    alert[-1] += 5.0  # a detector's finding at the newest point, diagnosed at once
    other[-1] += 5.0

    first, second = characterize(ts, np.vstack([alert, other]), 0, 15, max_lag_seconds=1800)

    assert first.change is not None and first.change.anomalous and first.change.onset == ts[-1]
    assert second.change is not None and not second.change.anomalous


def test_coarsening_gives_each_row_the_medians_of_its_blocks_skipping_gaps():
    rows = np.array(
        [
            [1.0, 9.0, 2.0, np.nan, np.nan, np.nan, 5.0, 4.0, np.nan],
            [np.nan, np.nan, np.nan, 7.0, 1.0, 3.0, np.nan, 8.0, 6.0],
        ]
    )

    step, values = coarsened(rows, 15.0, 3)

    assert step == 45.0
    assert values == [(2.0, None, 4.5), (None, 3.0, 7.0)]


def test_coarsening_the_rows_at_once_matches_each_row_alone_and_numpy():
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(40, 1001))
    rows[rng.random(rows.shape) < 0.7] = np.nan

    step, values = coarsened(rows, 15.0, 240)

    assert step == 75.0 and all(len(v) == 201 for v in values)
    for row, got in zip(rows, values, strict=True):
        assert coarsened(row[None, :], 15.0, 240)[1] == [got]
        padded = np.concatenate([row, np.full(4, np.nan)]).reshape(-1, 5)
        filled = np.isfinite(padded).any(axis=1)
        expected = np.nanmedian(padded[filled], axis=1)
        assert np.allclose([v for v in got if v is not None], expected)
        assert [v is None for v in got] == list(~filled)


def test_a_window_within_the_budget_is_kept_point_for_point():
    rows = np.array([[1.0, np.nan, 3.0]])

    assert coarsened(rows, 15.0, 240) == (15.0, [(1.0, None, 3.0)])
    assert coarsened(np.empty((0, 500)), 15.0, 240) == (45.0, [])
