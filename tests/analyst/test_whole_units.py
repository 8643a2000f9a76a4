"""A gauge of whole units (connections, pending requests) that is mostly 0 has no spread by quantiles: a 1
lay 100 spreads away (the 1 % floor of its level) and became the key evidence of a wrong diagnosis. Its
noise is at least the rounding to whole units, and a level it showed as often before is no news."""

from __future__ import annotations

import numpy as np

from analyst.builtin.entities import CHANGE_Z, rank_entities, rounding_spread, series_shifts
from tests.analyst.grid_evidence import ALERT_AT, ALERT_POINT, POINTS, grid_evidence, grid_noise, grid_series


def _blips(at: list[int]) -> np.ndarray:
    values = np.zeros(POINTS)
    values[at] = 1.0
    return values


STRAY = [6, 20, 34, 48, 62, 90, 118]  # a stray 1 at one point in fifteen, one of them in the alert's window
PILING = np.where(np.arange(POINTS) % 3 == 0, 2.0, 1.0)  # one or two connections idle in a transaction
PILING[ALERT_POINT - 4 :] = [8, 20, 35, 53, 53, 53, 53, 53, 53]


def test_a_stray_one_is_a_unit_of_rounding_away_not_a_hundred_spreads():
    [shift] = series_shifts([grid_series("pg_stat_activity_count", "db", _blips(STRAY))], ALERT_AT)
    assert shift is not None and shift.peak == 1.0 and shift.z < 4


def test_a_level_shown_as_often_before_is_no_news():
    """Over a window of 40 minutes (what could have caused the alert began then) the stray 1 comes no
    more often than before it."""
    series = [grid_series("pg_stat_activity_count", "db", _blips(STRAY))]
    [shift] = series_shifts(series, ALERT_AT, causes_since=ALERT_AT - 40 * 60)
    assert shift is not None and shift.z < CHANGE_Z and shift.onset is None


def test_a_level_the_gauge_never_showed_is_news():
    [shift] = series_shifts([grid_series("pg_stat_activity_count", "db", PILING)], ALERT_AT)
    assert shift is not None and shift.z >= 50 and shift.peak == 53


def test_the_connections_piling_up_outrank_a_neighbours_stray_one():
    evidence = grid_evidence(
        [
            grid_series("http_error_ratio", "frontend", grid_noise(0.01, 0.001, 1), "alert"),
            grid_series("pg_stat_activity_count", "orders-db", _blips(STRAY)),
            grid_series("pg_stat_activity_count", "risk-engine", PILING),
        ]
    )
    assert rank_entities(evidence)[0].name == "risk-engine"


def test_a_target_going_down_is_an_event_not_rounding_noise():
    up = np.ones(POINTS)
    up[[30, 31]] = 0.0  # two missed scrapes in its history
    up[ALERT_POINT - 3 :] = 0.0
    [shift] = series_shifts([grid_series("up", "checkout", up)], ALERT_AT)
    assert shift is not None and shift.z >= 50


def test_the_rounding_spread_is_that_of_the_values_resolution():
    assert rounding_spread(np.array([0.0, 1.0, 1.0, 3.0])) == 1.0 / np.sqrt(12.0)
    assert rounding_spread(np.array([0.5, 0.5])) == 0.0
    assert 0 < rounding_spread(np.random.default_rng(0).normal(0, 1, 200)) < 0.01
