import numpy as np
import pytest

from detectors import DetectionRule, detect_series


@pytest.mark.parametrize("method", ["zscore", "robust_zscore", "iqr", "ensemble"])
def test_injected_spike_is_found_at_its_timestamp_pointing_up(method, grid, noise):
    noise[600] += 40.0
    found = detect_series(DetectionRule("r", method=method), grid, noise, "x")
    assert isinstance(found, list)
    peak = max(found, key=lambda d: d.confidence)
    assert peak.timestamp == grid[600]
    assert peak.direction == "up"
    assert peak.z_score > 6


@pytest.mark.parametrize("method", ["zscore", "iqr"])
def test_direction_down_ignores_spikes_up(method, grid, noise):
    noise[600] += 40.0
    found = detect_series(DetectionRule("r", method=method, direction="down"), grid, noise, "x")
    assert isinstance(found, list)
    assert all(d.timestamp != grid[600] for d in found)


def test_pure_noise_gives_few_zscore_detections(grid, noise):
    found = detect_series(DetectionRule("r", method="zscore", threshold=4.0), grid, noise, "x")
    assert isinstance(found, list)
    assert len(found) <= 2


def test_isolation_forest_flags_injected_outliers(grid, noise):
    outliers = [200, 450, 800]
    noise[outliers] += np.array([30.0, -30.0, 35.0])
    found = detect_series(DetectionRule("r", method="isolation_forest", contamination=0.02), grid, noise, "x")
    assert isinstance(found, list)
    flagged = {d.timestamp for d in found}
    assert {grid[i] for i in outliers} <= flagged


def test_an_isolation_forest_rule_by_default_fires_on_few_points_of_quiet_noise():
    from detectors.batch import score_points

    quiet = np.random.default_rng(11).normal(100, 2, (20, 1440))
    flagged = np.mean(
        np.nan_to_num(score_points(quiet, DetectionRule("r", method="isolation_forest"))[0].score) >= 0.5
    )
    assert flagged <= 0.02  # the cut is the contamination's quantile: 0.1 flagged one point in ten


def test_detection_magnitude_is_relative_to_baseline(grid, noise):
    noise[600] = 150.0
    found = detect_series(DetectionRule("r", method="zscore"), grid, noise, "x")
    assert isinstance(found, list)
    hit = next(d for d in found if d.timestamp == grid[600])
    assert hit.magnitude == pytest.approx(0.5, abs=0.05)
