"""bench.quiet counts what the scheduler would open: a planted spike is one incident, a quiet series none
at a threshold nothing reaches, and the cooldown holds repeats back."""

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
