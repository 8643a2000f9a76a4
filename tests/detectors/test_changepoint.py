import numpy as np
import pytest

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
    assert any(abs(d.onset - 31_000) <= 60 for d in found)
