import time

import numpy as np
import pytest

from detectors import InsufficientData, SeriesChange, characterize_change, characterize_changes


def _change(ts, x, **kw) -> SeriesChange:
    out = characterize_change(ts, x, **kw)
    assert isinstance(out, SeriesChange)
    return out


def test_step_down_has_precise_onset_direction_and_significance(grid, noise):
    noise[700:] -= 15.0
    c = _change(grid, noise, split_at=grid[720])
    assert c.anomalous and c.direction == "down"
    assert abs(c.onset - grid[700]) <= 60
    assert c.p_value < 0.01 and c.score > 0.9
    assert c.magnitude == pytest.approx(-0.15, abs=0.01)


def test_ramp_onset_is_back_tracked_to_where_it_leaves_the_baseline(grid, noise):
    noise[800:] += np.linspace(0.0, 60.0, 200)
    c = _change(grid, noise, split_at=grid[900])
    assert c.anomalous and c.direction == "up"
    assert grid[800] <= c.onset <= grid[800] + 25 * 60


def test_stationary_series_is_not_anomalous(grid, noise):
    c = _change(grid, noise, split_at=grid[900])
    assert not c.anomalous and c.score < 0.5 and c.anomaly_type is None


def test_onsets_order_series_by_which_changed_first(grid, noise):
    first, second = noise.copy(), noise[::-1].copy()
    first[850:] += 20.0
    second[870:] += 20.0
    out = characterize_changes(grid, np.stack([first, second]), split_at=grid[900])
    assert isinstance(out[0], SeriesChange) and isinstance(out[1], SeriesChange)
    assert out[0].onset < out[1].onset


def test_batch_characterisation_equals_single(grid):
    x = np.random.default_rng(5).normal(size=(5, grid.size))
    x[2, 600:] += 3.0
    x[3] = 1.0
    batch = characterize_changes(grid, x, split_at=grid[700])
    assert isinstance(batch[3], InsufficientData)
    for row, got in zip(x, batch, strict=True):
        assert got == characterize_change(grid, row, split_at=grid[700])


def test_characterisation_of_1000_points_takes_under_5_ms(grid, noise):
    characterize_change(grid, noise)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(10):
            characterize_change(grid, noise, split_at=grid[900])
        timings.append((time.perf_counter() - start) / 10)
    assert min(timings) < 0.005


def test_series_name_refines_the_change_type(grid, noise):
    noise[700:] += 15.0
    c = _change(grid, noise, split_at=grid[720], name="api_request_latency_seconds")
    assert c.anomaly_type == "LATENCY_SPIKE"


def test_a_spike_that_came_back_says_when_it_ended(grid, noise):
    noise[850:960] += 30.0  # an episode before the alert, over for the last 40 points
    c = _change(grid, noise)
    assert c.anomalous and c.anomaly_type is not None
    assert c.recovered == grid[960]


def test_a_change_that_holds_has_not_ended(grid, noise):
    noise[700:] += 30.0
    c = _change(grid, noise)
    assert c.anomalous and c.recovered is None
