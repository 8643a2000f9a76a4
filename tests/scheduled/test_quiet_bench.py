"""bench.quiet counts what the scheduler would open: a planted spike is one incident, a quiet series none
at a threshold nothing reaches, the cooldown holds repeats back, and a rule's min_change keeps the
records of noise out while a move that matters still opens one."""

import numpy as np

from bench.quiet import incidents_per_series_day, quiet_series
from receiver.scheduled.settings import DetectionSettings


def test_a_spike_opens_an_incident_and_nothing_opens_above_every_score():
    rng = np.random.default_rng(1)
    detection = DetectionSettings()
    values = quiet_series("white noise", 1, 2 * 1440 + 1, rng)
    values[0, 1440 + 700] += 40.0  # one point, 40 sd, on the evaluated day
    assert incidents_per_series_day("zscore", 1e6, values, 1.0, detection) == 0.0
    assert incidents_per_series_day("zscore", 3.0, values, 1.0, detection) >= 1.0


def test_the_cooldown_holds_back_repeats_within_the_hour():
    rng = np.random.default_rng(2)
    values = quiet_series("white noise", 1, 2 * 1440 + 1, rng)
    values[0, 1440 + 700 : 1440 + 760 : 5] += 40.0  # a spike every 5 minutes for an hour
    hourly = incidents_per_series_day("zscore", 3.0, values, 1.0, DetectionSettings())
    every_cycle = incidents_per_series_day(
        "zscore", 3.0, values, 1.0, DetectionSettings(cooldown_seconds=0.0)
    )
    assert every_cycle > hourly


def test_min_change_drops_the_noise_records_and_keeps_a_move_that_matters():
    rng = np.random.default_rng(3)
    values = quiet_series("white noise", 4, 2 * 1440 + 1, rng)  # level 100, sd 1
    values[0, 1440 + 700 : 1440 + 730] += 10.0  # half an hour 10 % higher on the evaluated day
    step = incidents_per_series_day("level_step_tail", 3.0, values[:1], 1.0, DetectionSettings(), 0.05)
    noise = incidents_per_series_day("level_step_tail", 3.0, values[1:], 1.0, DetectionSettings())
    floored = incidents_per_series_day("level_step_tail", 3.0, values[1:], 1.0, DetectionSettings(), 0.05)
    assert step == 1.0
    assert noise >= 1.0 and floored == 0.0
