"""A climb that began inside a series' baseline hour (a leak, a disk filling up) and was still worsening
when the alert fired is judged against the part of the hour before it began, and is not a leftover; a
change that was over, or had stopped worsening, by then is judged as before, and so are noise and drift.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from analyst.builtin.entities import CHANGE_Z, EARLIER_CHANGE_DISCOUNT, SeriesShift, series_shift
from analyst.evidence import SeriesEvidence
from tests.analyst.grid_evidence import ALERT_AT, POINTS, START, STEP, grid_series

WINDOW_OPENS = ALERT_AT - 300.0  # the usual window: five minutes before the alert
ALERT_POINT = 115


def _series(metric: str, values: np.ndarray) -> SeriesEvidence:
    return grid_series(metric, "b", values)


def _shift(metric: str, values: np.ndarray) -> SeriesShift:
    shift = series_shift(_series(metric, values), ALERT_AT)
    assert shift is not None
    return shift


def _noise(level: float, noise: float, seed: int) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0.0, noise, POINTS)


def _climb(level: float, noise: float, seed: int, per_minute: float, start: int) -> np.ndarray:
    values = _noise(level, noise, seed)
    values[start:] += per_minute * np.arange(POINTS - start)
    return values


def test_a_leak_that_began_forty_minutes_before_the_alert_is_judged_against_the_time_before_it() -> None:
    """Before: z 2.8 (the climb was most of its own baseline hour) and no onset; now z 52, in full, from
    where it first left its noise."""
    start = ALERT_POINT - 40
    shift = _shift("container_memory_working_set_bytes", _climb(1.0e9, 0.02e9, 5, 0.025e9, start))

    assert shift.z > 10 * CHANGE_Z
    assert shift.weighted == shift.z  # saturation, not halved as a leftover
    assert shift.onset is not None
    assert START + start * STEP <= shift.onset <= START + (start + 5) * STEP


def test_a_disk_filling_for_half_an_hour_is_a_climb_as_its_free_bytes_fall() -> None:
    """Before: z 3.2 against a spread the fall itself had widened, first beyond it two minutes after the
    alert. What is left of a capacity hurts as it falls: the climb is found in that direction."""
    start = ALERT_POINT - 30
    shift = _shift("node_filesystem_avail_bytes", _climb(50e9, 0.2e9, 7, -0.5e9, start))

    assert shift.z > 10 * CHANGE_Z
    assert shift.weighted == shift.z
    assert shift.onset is not None and shift.onset < WINDOW_OPENS - 20 * STEP


def test_a_climb_that_was_over_when_the_alert_fired_is_still_a_leftover() -> None:
    """Memory that rose from twelve minutes before the alert and was back to normal when it fired counts
    half, as before: something earlier, not a cause still acting."""
    values = _noise(1.0e9, 0.01e9, 9)
    values[103:112] += np.linspace(0.1e9, 1.0e9, 9)
    shift = _shift("container_memory_working_set_bytes", values)

    assert shift.z >= CHANGE_Z
    assert shift.weighted == pytest.approx(EARLIER_CHANGE_DISCOUNT * shift.z)


def test_a_step_that_ended_before_the_window_stays_part_of_its_own_recent_history() -> None:
    """A level that moved twenty minutes before the alert and stayed is judged against the whole hour,
    as before (its history now includes the new level): not news at the alert."""
    values = _noise(1.0e9, 0.01e9, 11)
    values[ALERT_POINT - 20 :] += 0.3e9
    shift = _shift("container_memory_working_set_bytes", values)

    assert shift.z < CHANGE_Z
    assert shift.onset is None


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda rng: rng.normal(0.0, 1.0, POINTS), id="noise"),
        pytest.param(lambda rng: rng.normal(0.0, 1.0, POINTS) + 3 * np.arange(POINTS) / 60, id="drift"),
        pytest.param(lambda rng: np.cumsum(rng.normal(0.0, 1.0, POINTS)), id="random walk"),
    ],
)
def test_noise_and_steady_drift_are_not_taken_for_a_climb(
    shape: Callable[[np.random.Generator], np.ndarray],
) -> None:
    """Memory wobbling, drifting up by three noise widths an hour since before the history starts, or
    wandering: no series is found to have changed inside its baseline hour."""
    for seed in range(40):
        values = 1.0e9 + 0.01e9 * shape(np.random.default_rng(seed))
        shift = _shift("container_memory_working_set_bytes", values)
        assert shift.onset is None or shift.onset >= WINDOW_OPENS
