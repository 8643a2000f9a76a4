"""The scenario plays incidents whose causes come first, deterministically, and cycles."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from demo.scenario import DB_POOL_MAX, DEFAULT_SCHEDULE, METRICS, phase_at, sample

STEP = 0.5
ONE_CYCLE = [i * STEP for i in range(int(DEFAULT_SCHEDULE.period / STEP))]


def first_time(metric: str, predicate: Callable[[float], bool], start: float = 0.0) -> float:
    """The first time in one cycle, from `start`, at which `metric` satisfies `predicate`."""
    for t in ONE_CYCLE:
        if t >= start and predicate(sample(t)[metric]):
            return t
    raise AssertionError(f"{metric} never met the condition")


def test_volatility_leaves_its_baseline_30_to_60_seconds_before_pnl_draws_down() -> None:
    volatility_up = first_time("demo_volatility", lambda v: v > 0.2)
    pnl_down = first_time("demo_pnl_drawdown_ratio", lambda v: v > 0.1)
    assert 30 <= pnl_down - volatility_up <= 60
    assert sample(volatility_up)["demo_pnl_drawdown_ratio"] < 0.05


def test_pnl_drawdown_crosses_the_alert_threshold_within_70_seconds_of_start() -> None:
    assert first_time("demo_pnl_drawdown_ratio", lambda v: v > 0.3) <= 70


def test_db_pool_reaches_max_before_order_errors_and_latency_rise() -> None:
    scenario_2 = DEFAULT_SCHEDULE.starts()["db_pool_climb"]
    pool_full = first_time("demo_db_pool_in_use", lambda v: v >= DB_POOL_MAX, scenario_2)
    errors_up = first_time("demo_order_error_ratio", lambda v: v > 0.01, scenario_2)
    latency_up = first_time("demo_order_latency_seconds", lambda v: v > 0.05, scenario_2)
    assert pool_full < errors_up
    assert pool_full < latency_up
    assert sample(errors_up)["demo_db_pool_in_use"] == DB_POOL_MAX


def test_db_pool_never_exceeds_its_max() -> None:
    assert max(sample(t)["demo_db_pool_in_use"] for t in ONE_CYCLE) == DB_POOL_MAX


def test_calm_phase_stays_below_every_alert_threshold() -> None:
    for t in range(int(DEFAULT_SCHEDULE.calm)):
        values = sample(t)
        assert values["demo_pnl_drawdown_ratio"] < 0.3
        assert values["demo_order_error_ratio"] < 0.05
        assert values["demo_order_latency_seconds"] < 0.25


def test_sample_is_deterministic_and_covers_every_exported_metric() -> None:
    assert sample(123.4) == sample(123.4)
    assert set(sample(0)) == set(METRICS)


def test_incidents_repeat_every_cycle() -> None:
    period = DEFAULT_SCHEDULE.period
    for t in (5.0, 60.0, 200.0):
        assert phase_at(t) == phase_at(t + 3 * period)
        later = sample(t + 3 * period)["demo_volatility"]
        assert sample(t)["demo_volatility"] == pytest.approx(later, abs=0.02)


@pytest.mark.parametrize("counter", ["demo_volume_usd_total", "demo_requests_total"])
def test_counters_only_go_up_across_cycles(counter: str) -> None:
    times = [i * 0.7 for i in range(int(2.5 * DEFAULT_SCHEDULE.period / 0.7))]
    values = [sample(t)[counter] for t in times]
    assert all(later > earlier for earlier, later in itertools.pairwise(values))


def test_phases_name_the_scenario_and_its_cause() -> None:
    starts = DEFAULT_SCHEDULE.starts()
    assert phase_at(0).scenario == 0
    assert phase_at(starts["pnl_drawdown"] + 1).scenario == 1
    assert "volatility" in phase_at(starts["pnl_drawdown"] + 1).description
    assert phase_at(starts["order_errors"] + 1).scenario == 2
    assert "DB pool" in phase_at(starts["order_errors"] + 1).description


def test_scaled_schedule_keeps_the_order_of_causes() -> None:
    fast = DEFAULT_SCHEDULE.scaled(0.5)
    assert fast.period == pytest.approx(DEFAULT_SCHEDULE.period / 2)
    dd_start = fast.starts()["pnl_drawdown"]
    assert sample(dd_start - 1, fast)["demo_volatility"] > 0.5
    assert sample(dd_start - 1, fast)["demo_pnl_drawdown_ratio"] < 0.05
