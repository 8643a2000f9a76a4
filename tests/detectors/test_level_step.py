"""The default detector (level_step) on synthetic reproductions of the patterns of issue 13."""

import numpy as np
import pytest

from detectors import DetectionRule, StreamingDetector, detect_series
from detectors.level_step import LevelStepScorer, level_step_points
from detectors.rolling import nan_quantiles, window_median

LEVEL_STEP = DetectionRule("level-step", method="level_step")


def _stream(values, rule=LEVEL_STEP):
    det = StreamingDetector(rule)
    return np.array([det.update(60.0 * i, v) for i, v in enumerate(values)])


def _score_of(z):
    """The default's score at |z| (threshold 3)."""
    return z / (z + LEVEL_STEP.threshold)


def _noise(n=3000, seed=3):
    return np.random.default_rng(seed).normal(100.0, 2.0, size=n)


def test_a_second_spike_450_points_after_the_first_scores_as_high():
    x = _noise()
    x[1500] += 34.0  # +17 sd
    x[1950] += 34.0
    scores = _stream(x)
    assert scores[1500] >= _score_of(10)
    assert scores[1950] >= _score_of(10)
    assert scores[1950] > scores[1501:1950].max()


@pytest.mark.parametrize("gap", [65, 100, 133])
def test_a_drop_of_35_usual_steps_after_an_earlier_anomaly_scores_high(gap):
    x = _noise(seed=gap)
    usual = np.median(np.abs(np.diff(x[:1000])))
    x[1500:1503] += 30.0
    x[1500 + gap : 1500 + gap + 5] -= 35 * usual
    scores = _stream(x)
    assert scores[1500 + gap] >= _score_of(10)
    assert scores[1500 + gap] > scores[1503 : 1500 + gap].max()


@pytest.mark.parametrize(("height_sd", "at_least"), [(3, _score_of(4)), (6, _score_of(6))])
def test_a_slow_ramp_with_steps_three_times_the_usual_scores_above_the_noise(height_sd, at_least):
    x = _noise(seed=height_sd)
    per_step = 3 * np.median(np.abs(np.diff(x[:1000])))
    x[2000:2060] += np.minimum(np.arange(1, 61) * per_step, height_sd * 2.0)
    scores = _stream(x)
    assert scores[2000:2060].max() >= at_least
    assert scores[2000:2060].max() > scores[1000:2000].max()


def test_the_step_back_from_a_spike_is_not_a_second_anomaly():
    x = _noise()
    x[1500] += 40.0
    scores = _stream(x)
    assert scores[1500] >= _score_of(10) and scores[1501] < 0.5


def test_a_level_shift_alarms_at_its_onset_without_a_quiet_period_after_it():
    x = _noise()
    x[1500:] += 20.0
    x[1600] += 40.0
    scores = _stream(x)
    assert scores[1500] >= _score_of(7)  # +10 sd
    assert scores[1600] >= _score_of(10)  # +20 sd, 100 points later


def test_streaming_never_looks_ahead():
    a = _noise()
    b = a.copy()
    b[2000:] *= 3.0
    np.testing.assert_array_equal(_stream(a)[:2000], _stream(b)[:2000])


@pytest.mark.parametrize("direction", ["both", "up", "down"])
def test_batch_equals_streaming_with_gaps_and_flat_stretches(direction):
    x = np.stack([_noise(2000, s) for s in range(3)])
    x[0, 500] += 40.0
    x[1, :4] = np.nan
    x[1, 300:320] = np.nan
    x[2, 800:900] = 100.0
    x[2, ::7] = np.round(x[2, ::7])
    rule = DetectionRule("r", direction=direction)
    batch = level_step_points(x, rule, np.full(x.shape, rule.threshold)).score
    for row in range(3):
        scorer = LevelStepScorer(rule)
        stream = np.array([scorer.update(v)[0] for v in x[row]])
        np.testing.assert_array_equal(np.isnan(batch[row]), np.isnan(stream))
        np.testing.assert_allclose(np.nan_to_num(batch[row]), np.nan_to_num(stream), atol=1e-9)


def test_detect_series_reports_the_spike_with_its_direction(grid, noise):
    x = noise.copy()
    x[900] -= 30.0
    found = detect_series(LEVEL_STEP, grid, x, "x")
    assert isinstance(found, list)
    assert any(d.timestamp == grid[900] and d.direction == "down" for d in found)


def test_pure_noise_rarely_reaches_the_threshold():
    scores = _stream(_noise(5000, seed=11))
    assert (scores >= 0.5).mean() < 0.005


@pytest.mark.parametrize("min_periods", [1, 10, 60])
def test_the_streaming_levels_median_is_the_batch_quantile_bit_for_bit(min_periods):
    rng = np.random.default_rng(4)
    windows = [rng.normal(100.0, 5.0, 60) for _ in range(50)] + [np.round(rng.poisson(3.0, 60) * 1.0)]
    windows += [np.where(rng.random(60) < share, np.nan, rng.normal(size=60)) for share in (0.1, 0.5, 0.9)]
    windows += [
        np.full(60, np.nan),
        np.r_[np.inf, -np.inf, np.nan, rng.normal(size=57)],
        np.r_[-0.0, 0.0, 1.0],
    ]
    for window in windows:
        batch = nan_quantiles(window[None, :], (0.5,), min_periods)[0]
        assert np.array([window_median(window.tolist(), min_periods)]).tobytes() == batch.tobytes()
