"""The batch fast paths compute exactly what the straightforward definitions say."""

from collections.abc import Callable

import numpy as np
import pytest

from detectors import DetectionRule
from detectors.batch import BlockStats, score_points
from detectors.calibration import score_from_z
from detectors.changepoint import changepoint_points
from detectors.iqr import iqr_points
from detectors.point_scores import PointScores
from detectors.rolling import hopped_order_stats, trailing_mean_std, trailing_moments
from detectors.zscore import robust_zscore_points, zscore_points


def _block(seed: int = 0, k: int = 8, n: int = 300) -> np.ndarray:
    values = np.random.default_rng(seed).normal(100.0, 5.0, size=(k, n))
    values[2, 50:80] = np.nan
    values[5, 200] = np.nan
    return values


def test_order_stats_equal_numpy_quantiles_of_each_trailing_window():
    values, window, hop = _block(), 60, 15
    stats = hopped_order_stats(values, window, hop, min_periods=10)
    for r in range(values.shape[0]):
        for start in range(window, values.shape[1], hop):
            past = values[r, start - window : start]
            past = past[np.isfinite(past)]
            q1, med, q3 = np.quantile(past, (0.25, 0.5, 0.75))
            mad = 1.4826 * np.median(np.abs(past - med))
            got = (stats.q1[r, start], stats.median[r, start], stats.q3[r, start], stats.mad[r, start])
            np.testing.assert_allclose(got, (q1, med, q3, mad), rtol=1e-12)


def test_order_stats_of_a_gap_free_row_do_not_depend_on_gaps_in_other_rows():
    values = _block()
    together = hopped_order_stats(values, 60, 15, 10)
    alone = hopped_order_stats(values[:1], 60, 15, 10)
    for name in ("q1", "median", "q3", "mad"):
        np.testing.assert_array_equal(getattr(together, name)[:1], getattr(alone, name))


@pytest.mark.parametrize("since", [0, 14, 15, 40, 70, 299])
def test_order_stats_since_a_column_are_those_of_the_whole_block_there(since: int):
    values = _block()
    whole = hopped_order_stats(values, 60, 15, 10)
    part = hopped_order_stats(values, 60, 15, 10, since=since)
    kept = since // 15 * 15  # the hop block that holds `since` onwards
    for name in ("q1", "median", "q3", "mad"):
        np.testing.assert_array_equal(getattr(part, name)[:, kept:], getattr(whole, name)[:, kept:])
        assert np.isnan(getattr(part, name)[:, :kept]).all()


MEMBERS: dict[str, Callable[[np.ndarray, DetectionRule, np.ndarray], PointScores]] = {
    "zscore": zscore_points,
    "robust_zscore": robust_zscore_points,
    "iqr": iqr_points,
}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


@pytest.mark.parametrize("since", [1, 14, 59, 60, 61, 200, 299])
@pytest.mark.parametrize("method", ["zscore", "robust_zscore", "iqr"])
def test_scores_since_a_column_are_those_of_the_whole_block_there(method: str, since: int):
    values = _block()
    values[6, 100:190] = 7.0  # flat: the MAD and the IQR are 0 there, and the trailing std stands in
    values[3, :] = np.arange(300) % 2  # two values only: spreads of 0 and 1
    for direction in ("both", "up"):
        rule = DetectionRule("r", method=method, direction=direction)
        whole = score_points(values, rule)[0]
        alone = MEMBERS[method](values, rule, whole.threshold)  # each statistic of its own, no sharing
        assert _same(whole.z, alone.z) and _same(whole.score, alone.score)
        part = score_points(values, rule, stats=BlockStats(values, since=since))[0]
        for name in ("z", "score", "baseline", "threshold"):
            assert getattr(part, name).shape == (8, 300 - since)
            assert _same(getattr(part, name), getattr(whole, name)[:, since:]), name


def test_shared_running_sums_give_the_same_stats_as_one_pass_per_window():
    values = _block()
    moments = trailing_moments(values)
    for window, min_periods in ((60, 10), (15, 3), (400, 3)):
        shared = moments.mean_std(window, min_periods)
        separate = trailing_mean_std(values, window, min_periods)
        for a, b in zip(shared, separate, strict=True):
            np.testing.assert_array_equal(a, b)
        for start in (1, window - 1, window, window + 1, 299):  # the columns from `start` on only
            for a, b in zip(moments.mean_std(window, min_periods, start), shared, strict=True):
                np.testing.assert_array_equal(a, b[:, start:])


def test_changepoint_scores_equal_the_calibrated_z_on_every_row():
    values = _block(seed=3)
    values[4, 150:] += 40.0
    rule = DetectionRule("r", method="changepoint")
    threshold = np.full(values.shape, rule.threshold)
    points, change_points = changepoint_points(values, rule, threshold)
    assert {cp.row for cp in change_points} == {4}
    np.testing.assert_array_equal(points.score, score_from_z(points.z, threshold))
