import time

import numpy as np
import pytest

from detectors import InsufficientData, SeriesChange, characterize_change, characterize_changes, fresh_change


def _change(ts, x, **kw) -> SeriesChange:
    out = characterize_change(ts, x, **kw)
    assert isinstance(out, SeriesChange)
    return out


def test_step_down_has_precise_onset_direction_and_significance(grid, noise):
    noise[700:] -= 15.0
    c = _change(grid, noise, split_at=grid[720])
    assert c.anomalous and c.direction == "down"
    assert abs(c.onset - grid[700]) <= 60
    assert c.p_value is not None and c.p_value < 0.01 and c.score > 0.9
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
    first_onset, second_onset = out[0].onset, out[1].onset
    assert first_onset is not None and second_onset is not None and first_onset < second_onset


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


def test_a_series_that_stopped_reporting_at_its_peak_has_not_come_back(grid, noise):
    """On a shared grid its last points are gaps, not points within its band (a target that went down)."""
    stopped = noise.copy()
    stopped[850:] += 30.0
    stopped[950:] = np.nan
    returned = noise.copy()
    returned[850:930] += 30.0
    returned[930:950] = np.nan  # missed scrapes, then back within its band
    [gone, back] = characterize_changes(grid, np.stack([stopped, returned]))
    assert isinstance(gone, SeriesChange) and gone.anomalous and gone.recovered is None
    assert isinstance(back, SeriesChange) and back.anomalous and back.recovered is not None
    assert back.recovered >= grid[950]  # where it was back in its band, not the first missed scrape


def test_a_change_that_holds_has_not_ended(grid, noise):
    noise[700:] += 30.0
    c = _change(grid, noise)
    assert c.anomalous and c.recovered is None


@pytest.mark.parametrize("k", [1, 2])
def test_a_change_in_the_last_points_is_a_fresh_change(grid, noise, k):
    noise[-k:] += 30.0
    assert not _change(grid, noise).anomalous  # too recent for the split: fewer than MIN_AFTER points
    fresh = fresh_change(grid, noise, name="demo_volatility")
    assert fresh is not None and fresh.anomalous and fresh.direction == "up"
    assert fresh.onset == grid[-k] and fresh.recovered is None
    assert fresh.z_score is not None and fresh.z_score > 10
    assert fresh.p_value is not None and fresh.p_value < 0.01
    assert fresh.anomaly_type == "MARKET_VOLATILITY"


def test_no_fresh_change_without_a_run_at_the_end(grid, noise):
    assert fresh_change(grid, noise) is None
    noise[-30:-10] += 30.0  # over before the end
    assert fresh_change(grid, noise) is None


def test_a_ramp_of_a_few_points_the_t_test_cannot_confirm_is_a_fresh_change(grid, noise):
    noise[-4:] += np.array([8.0, 20.0, 45.0, 70.0])  # a jump still rising: the after-split spread is large
    assert not _change(grid, noise).anomalous
    fresh = fresh_change(grid, noise)
    assert fresh is not None and fresh.onset == grid[-4] and fresh.direction == "up"


def test_fresh_changes_in_pure_noise_are_rare(grid):
    found = sum(
        fresh_change(grid, np.random.default_rng(seed).normal(100.0, 2.0, grid.size)) is not None
        for seed in range(1000)
    )
    assert found <= 10  # 1 %: about 2/1000 for the last point being the most extreme, both sides


def test_a_series_that_starts_inside_the_window_is_not_a_change_at_its_first_point(grid, noise):
    """A new pod's or a new label value's series: its first points are no step (they were, at z 1e6
    against a baseline of one point), a step within its own points still is, and the rows without a gap
    are judged as before."""
    late, stepped = noise.copy(), noise[::-1].copy()
    late[:300] = np.nan
    stepped[:300] = np.nan
    stepped[800:] += 20.0
    out = characterize_changes(grid, np.stack([late, stepped, noise]))
    assert isinstance(out[0], SeriesChange) and not out[0].anomalous
    assert isinstance(out[1], SeriesChange) and out[1].anomalous and out[1].direction == "up"
    assert out[1].onset == pytest.approx(grid[800], abs=60) and abs(out[1].z_score or 0) < 100
    assert out[2] == characterize_change(grid, noise)


@pytest.mark.parametrize("events", [[440, 452, 464], [400, 430, 460], [455, 470]])
def test_events_after_a_history_without_any_are_a_change(events):
    """A counter of rare events (restarts, OOM kills, a first 5xx) under rate(): zero for its whole history,
    then a few events. Most points after the first event are still zero, so the median after it is the
    median before; the mean says how often it now happens."""
    ts = np.arange(480) * 15.0
    x = np.zeros(480)
    for e in events:
        x[e : e + 4] += 1 / 60  # rate(restarts[60s]) over one restart
    c = _change(ts, x)
    assert c.anomalous and c.direction == "up"
    assert c.onset == ts[events[0]]
    assert c.current is not None and c.current > 0


def test_one_blip_after_a_flat_history_is_not_a_change():
    ts = np.arange(480) * 15.0
    x = np.zeros(480)
    x[300] = 5.0
    assert not _change(ts, x).anomalous
