"""Replay's fast paths against the plain ones, bit for bit: the head (the points before a buffer is full)
scored from the series at once, gating from running counts, order statistics of the scored columns only."""

import warnings

import numpy as np
import pytest

from detectors import DetectionRule, StreamingDetector
from detectors.batch import BlockStats
from detectors.rolling import hopped_order_stats, hopped_order_stats_from


def _series(n: int, seed: int, step_at: int = 0) -> np.ndarray:
    """Noise on a wandering level with gaps (some leading), a flat stretch inside the first buffer, steps
    (one at `step_at`) and spikes."""
    rng = np.random.default_rng(seed)
    x = 100 + np.cumsum(rng.normal(0, 0.3, n)) + rng.standard_t(3, n)
    x[rng.random(n) < 0.04] = np.nan
    x[[0, 1, 4]] = np.nan
    x[30:52] = 100.0
    x[step_at:] += 15.0
    x[n // 2 :] += 12.0
    x[rng.integers(60, n, 6)] += 30.0
    return x


def _updated(rule: DetectionRule, t: np.ndarray, x: np.ndarray) -> tuple[StreamingDetector, np.ndarray]:
    detector = StreamingDetector(rule)
    return detector, np.array([detector.update(a, b) for a, b in zip(t.tolist(), x.tolist(), strict=True)])


RULES = [
    DetectionRule("r", window_size=20, min_samples=5),
    DetectionRule("r", window_size=7, min_samples=3, direction="up"),
    DetectionRule("r", window_size=45, adaptive=False, direction="down"),
]


@pytest.mark.parametrize("method", ["zscore", "robust_zscore", "iqr", "changepoint", "ensemble"])
@pytest.mark.parametrize("shape", range(len(RULES)))
def test_replay_scores_the_points_before_the_first_full_buffer_as_update_does_bit_for_bit(method, shape):
    rule = DetectionRule("r", method=method, **{f: getattr(RULES[shape], f) for f in _SHAPE_FIELDS})
    x = _series(max(8 * rule.window_size, 200), shape, step_at=2 * rule.window_size)  # a step in the head
    t = 60.0 * np.arange(x.size)
    one_by_one, expected = _updated(rule, t[:-20], x[:-20])
    replayed = StreamingDetector(rule)
    np.testing.assert_array_equal(replayed.replay(t[:-20], x[:-20], block=50), expected)
    head = expected[2 * rule.window_size : 3 * rule.window_size - 1]
    assert rule.direction == "down" or (head >= 0.5).any()  # the step up is seen in the head
    after = [replayed.update(a, b) for a, b in zip(t[-20:].tolist(), x[-20:].tolist(), strict=True)]
    more = [one_by_one.update(a, b) for a, b in zip(t[-20:].tolist(), x[-20:].tolist(), strict=True)]
    np.testing.assert_array_equal(after, more)


_SHAPE_FIELDS = ("window_size", "min_samples", "direction", "adaptive")


@pytest.mark.parametrize("method", ["robust_zscore", "ensemble"])
@pytest.mark.parametrize("at", [25, 400])
def test_replay_of_a_series_with_a_value_beyond_huge_scores_as_update_does(method, at):
    rule = DetectionRule("r", method=method, window_size=20, min_samples=5)
    x = _series(500, 9)
    x[at] = 1e305  # in the first buffer: every point one update at a time; later: buffers scaled one by one
    t = 60.0 * np.arange(x.size)
    np.testing.assert_array_equal(StreamingDetector(rule).replay(t, x), _updated(rule, t, x)[1])


def test_replay_of_a_series_starting_flat_scores_nothing_until_it_varies():
    rule = DetectionRule("r", method="ensemble", window_size=20, min_samples=5)
    x = _series(300, 2)
    x[:70] = 5.0
    t = 60.0 * np.arange(x.size)
    got = StreamingDetector(rule).replay(t, x)
    np.testing.assert_array_equal(got, _updated(rule, t, x)[1])
    assert not got[:70].any()


def _gappy_block(k: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 1, (k, n))
    values[1::3][rng.random((len(range(1, k, 3)), n)) < 0.1] = np.nan  # gappy rows among dense ones
    values[2, :40] = np.nan  # a late start
    values[4] = np.nan  # nothing at all
    return values


@pytest.mark.parametrize("since", [0, 1, 14, 15, 29, 31, 59, 60, 61, 100, 149, 150])
def test_order_stats_of_the_last_columns_are_those_columns_of_the_whole_blocks(since):
    values = _gappy_block(9, 150, since)
    for window, hop, min_periods in ((60, 15, 10), (20, 5, 5), (7, 1, 3)):
        whole = hopped_order_stats(values, window, hop, min_periods)
        narrowed = hopped_order_stats(values, window, hop, min_periods, since)
        last = hopped_order_stats_from(values, window, hop, min_periods, since)
        for name in ("q1", "median", "q3", "mad"):
            wanted = getattr(whole, name)[:, since:]
            np.testing.assert_array_equal(getattr(last, name), wanted)
            np.testing.assert_array_equal(getattr(narrowed, name)[:, since:], wanted)
        assert since == values.shape[1] or np.isfinite(last.median).any()
        for column in range(since, values.shape[1], 7):  # and they are of the window before the hop block
            begin = column // hop * hop
            window_values = values[:, max(0, begin - window) : begin]
            count = np.isfinite(window_values).sum(axis=1)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
                median = np.where(count >= min_periods, np.nanmedian(window_values, axis=1), np.nan)
            np.testing.assert_allclose(last.median[:, column - since], median, rtol=1e-12, atol=0)


def test_block_statistics_of_the_last_columns_read_the_whole_blocks_order_statistics_when_known():
    values = _gappy_block(9, 75, 3)
    rule = DetectionRule("r", method="iqr", window_size=60)
    alone, shared = BlockStats(values, since=74), BlockStats(values, since=74)
    shared.order_stats(rule)
    for name in ("q1", "median", "q3", "mad"):
        np.testing.assert_array_equal(
            getattr(alone.scored_order_stats(rule), name), getattr(shared.scored_order_stats(rule), name)
        )
