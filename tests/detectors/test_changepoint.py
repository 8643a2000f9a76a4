import numpy as np
import pytest

from bench.ops_data import ar1
from detectors import AnomalyType, DetectionRule, detect_series


def test_level_shift_down_found_with_onset_direction_and_significance(grid, noise):
    noise[700:] -= 15.0
    found = detect_series(DetectionRule("r", method="changepoint"), grid, noise, "x")
    assert isinstance(found, list)
    shift = next(d for d in found if d.method == "changepoint")
    assert abs(shift.onset - grid[700]) <= 3 * 60
    assert shift.direction == "down"
    assert shift.p_value < 0.01
    assert shift.anomaly_type == AnomalyType.LEVEL_SHIFT
    assert shift.magnitude == pytest.approx(-0.15, abs=0.02)


def test_no_change_points_in_stationary_noise(grid, noise):
    found = detect_series(DetectionRule("r", method="changepoint"), grid, noise, "x")
    assert found == []


def test_two_shifts_are_both_reported(grid, noise):
    noise[300:] += 10.0
    noise[650:] -= 20.0
    found = detect_series(DetectionRule("r", method="changepoint"), grid, noise, "x")
    assert isinstance(found, list)
    onsets = sorted(round((d.onset - grid[0]) / 60) for d in found)
    assert len(onsets) == 2
    assert abs(onsets[0] - 300) <= 3 and abs(onsets[1] - 650) <= 3


def test_shift_in_named_pnl_series_is_a_sudden_loss(grid, noise):
    noise[700:] -= 15.0
    found = detect_series(DetectionRule("r", method="changepoint"), grid, noise, "desk_pnl")
    assert isinstance(found, list)
    assert found[0].anomaly_type == AnomalyType.SUDDEN_LOSS


def test_long_series_change_point_is_found_quickly():
    x = np.random.default_rng(0).normal(size=50_000)
    x[31_000:] += 2.0
    found = detect_series(DetectionRule("r", method="changepoint"), np.arange(x.size, dtype=float), x)
    assert isinstance(found, list)
    assert any(d.onset is not None and abs(d.onset - 31_000) <= 60 for d in found)


def _walk(rng: np.random.Generator, n: int) -> np.ndarray:
    """A level that random-walks (unit steps) under unit white noise: a memory gauge, a price, a PnL."""
    return 100 + np.cumsum(rng.normal(0, 1, n)) + rng.normal(0, 1, n)


def test_a_wandering_level_is_not_a_string_of_change_points_but_a_jump_in_it_is_one():
    from detectors.batch import score_points

    rng = np.random.default_rng(4)
    rule = DetectionRule("r", method="changepoint")
    walk = _walk(rng, 5000)
    assert np.mean(np.nan_to_num(score_points(walk[None, :], rule)[0].score[0]) >= 0.5) < 0.01  # was 0.99
    walk[3000:] += 40.0
    found = detect_series(rule, 60.0 * np.arange(walk.size), walk, "x")
    assert isinstance(found, list)
    assert [d.onset is not None and round(d.onset / 60) for d in found] == [3000]
    gauge = 50 + ar1(rng, 0.9, 1.0, 5000)  # stationary, but wanders over a window: queue depth, pool usage
    assert np.mean(np.nan_to_num(score_points(gauge[None, :], rule)[0].score[0]) >= 0.5) < 0.01  # was 0.9+
