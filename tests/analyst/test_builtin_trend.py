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
from tests.analyst.grid_evidence import ALERT_AT, ALERT_POINT, POINTS, START, STEP, grid_noise, grid_series

WINDOW_OPENS = ALERT_AT - 300.0  # the usual window: five minutes before the alert


def _series(metric: str, values: np.ndarray) -> SeriesEvidence:
    return grid_series(metric, "b", values)


def _shift(metric: str, values: np.ndarray) -> SeriesShift:
    shift = series_shift(_series(metric, values), ALERT_AT)
    assert shift is not None
    return shift


def _climb(level: float, noise: float, seed: int, per_minute: float, start: int) -> np.ndarray:
    values = grid_noise(level, noise, seed)
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


def test_a_slow_leak_through_wide_noise_is_found_where_it_began() -> None:
    """Memory at 5 % noise doubling over the 40 minutes before the alert rises 2.5 noise widths in the
    window: its peaks did not go 3 spreads beyond those before it in 7 of these 10 seeds, so it was judged
    against its whole hour (z about 3, onset at the window). From a flat stretch, a steady rise up to the
    alert is a climb however wide the noise."""
    start = ALERT_POINT - 40
    for seed in range(10):
        shift = _shift("container_memory_working_set_bytes", _climb(1.0e9, 0.05e9, seed, 0.025e9, start))

        assert shift.onset is not None and shift.onset < WINDOW_OPENS - 20 * STEP, seed
        assert shift.weighted == shift.z > 3 * CHANGE_Z, seed


def test_a_rise_that_levelled_off_before_the_window_is_not_a_climb() -> None:
    """Memory that rose for a quarter of an hour and then stayed level for twenty minutes had stopped
    worsening: a steady rise since it left its noise, but not up to the alert."""
    for seed in range(20):
        values = grid_noise(1.0e9, 0.01e9, seed)
        values[80:95] += np.linspace(0.0, 0.15e9, 15)
        values[95:] += 0.15e9
        shift = _shift("container_memory_working_set_bytes", values)

        assert shift.onset is None or shift.onset >= WINDOW_OPENS, seed


# A JVM's memory (MiB) in one of Nezha's TrainTicket pods (ts-train-service, 2023-01-29, 45 s apart, here
# a minute apart), its last 56 points up to an alert on another service: warming up in steps.
WARMING_UP_MIB = (
    433.88671875,
    433.88671875,
    433.88671875,
    433.75,
    433.87890625,
    434.0078125,
    434.0078125,
    434.65625,
    434.79296875,
    435.1796875,
    435.1796875,
    435.15625,
    436.7265625,
    436.81640625,
    436.81640625,
    436.80078125,
    436.9453125,
    437.03515625,
    437.03515625,
    437.29296875,
    437.5546875,
    437.9140625,
    437.9140625,
    438.171875,
    437.765625,
    449.859375,
    449.859375,
    450.375,
    450.50390625,
    451.140625,
    451.140625,
    451.1953125,
    451.578125,
    451.12890625,
    451.12890625,
    450.9921875,
    451.9609375,
    451.05078125,
    451.05078125,
    451.17578125,
    451.3046875,
    451.69140625,
    451.69140625,
    451.53515625,
    451.66015625,
    451.89453125,
    451.89453125,
    451.76171875,
    451.84765625,
    451.84765625,
    451.84765625,
    452.0234375,
    452.15234375,
    452.234375,
    452.234375,
    452.203125,
)


def test_memory_growing_in_steps_as_a_young_process_warms_up_is_not_a_slow_climb() -> None:
    """A significant rising trend since it left its noise, but in steps, and by less than its noise in the
    last half of it: judged against its whole hour (a trend test alone made it a climb, z 4.1 from thirty
    minutes before the alert)."""
    values = np.full(POINTS, np.nan)
    values[ALERT_POINT + 1 - len(WARMING_UP_MIB) : ALERT_POINT + 1] = WARMING_UP_MIB
    values[ALERT_POINT + 1 :] = WARMING_UP_MIB[-1]
    shift = _shift("pod_memory_usage_mebibytes", values * 2**20)

    assert shift.onset is None or shift.onset >= WINDOW_OPENS


def test_a_climb_that_was_over_when_the_alert_fired_is_still_a_leftover() -> None:
    """Memory that rose from twelve minutes before the alert and was back to normal when it fired counts
    half, as before: something earlier, not a cause still acting."""
    values = grid_noise(1.0e9, 0.01e9, 9)
    values[103:112] += np.linspace(0.1e9, 1.0e9, 9)
    shift = _shift("container_memory_working_set_bytes", values)

    assert shift.z >= CHANGE_Z
    assert shift.weighted == pytest.approx(EARLIER_CHANGE_DISCOUNT * shift.z)


def test_a_step_that_ended_before_the_window_stays_part_of_its_own_recent_history() -> None:
    """A level that moved twenty minutes before the alert and stayed is judged against the whole hour,
    as before (its history now includes the new level): not news at the alert."""
    values = grid_noise(1.0e9, 0.01e9, 11)
    values[ALERT_POINT - 20 :] += 0.3e9
    shift = _shift("container_memory_working_set_bytes", values)

    assert shift.z < CHANGE_Z
    assert shift.onset is None


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda rng: rng.normal(0.0, 1.0, POINTS), id="noise"),
        pytest.param(lambda rng: rng.normal(0.0, 1.0, POINTS) + 3 * np.arange(POINTS) / 60, id="drift"),
        pytest.param(lambda rng: rng.normal(0.0, 1.0, POINTS) + 10 * np.arange(POINTS) / 60, id="fast drift"),
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
