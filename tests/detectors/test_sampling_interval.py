import numpy as np

from detectors.sampling_interval import DailyLag, day_points_of, lag_for


def test_five_minute_data_has_288_points_a_day_after_50_gaps():
    lag = DailyLag()
    seen = [lag.update(1_700_000_000.0 + 300.0 * i) for i in range(60)]
    assert seen[:50] == [0] * 50
    assert seen[50:] == [288] * 10


def test_a_few_irregular_gaps_do_not_move_the_interval():
    lag = DailyLag()
    t = 0.0
    for i in range(51):
        t += 3600.0 if i % 10 else 7200.0
        lag.update(t)
    assert lag.points == 24


def test_too_slow_or_too_fast_sampling_disables_the_daily_comparison():
    assert lag_for(7 * 86_400.0) == 0
    assert lag_for(1.0) == 0
    assert lag_for(0.0) == 0


def test_a_grid_gives_the_points_per_day_that_streaming_learns_from_its_first_timestamps():
    t = 0.0
    stamps = []
    for i in range(80):
        t += 3600.0 if i % 10 else 7200.0
        stamps.append(t)
    lag = DailyLag()
    for s in stamps:
        lag.update(s)
    assert day_points_of(np.array(stamps)) == lag.points == 24
    assert day_points_of(np.array(stamps[:50])) == 0  # fewer than 50 gaps: not known yet
