"""The seasonal profile: one day's burst must not echo at the same hour of the other days."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import DetectionRule, detect_batch, seasonal_baseline

DAY = 86_400.0


def three_days_with_a_burst(seed: int = 3) -> tuple[np.ndarray, np.ndarray, slice]:
    ts = np.arange(0.0, 3 * DAY, 60.0)
    values = 50.0 + np.random.default_rng(seed).normal(0.0, 1.0, ts.size)
    start = int((DAY + 14 * 3600) // 60)  # 14:00 on day 2, five minutes
    burst = slice(start, start + 5)
    values[burst] += 200.0
    return ts, values, burst


@pytest.mark.parametrize("method", ["level_step_tail", "robust_zscore", "iqr", "ensemble"])
def test_a_burst_on_one_day_is_found_and_not_echoed_at_its_hour_on_the_others(method: str) -> None:
    ts, values, burst = three_days_with_a_burst()
    found = detect_batch(DetectionRule("r", method=method), ts, values[None, :], ["x"]).detections
    assert any(ts[burst.start] - 600 <= d.timestamp <= ts[burst.stop - 1] + 600 for d in found)
    echoes = [d for d in found if 14 <= (d.timestamp % DAY) / 3600 < 15.5 and d.timestamp // DAY != 1]
    assert not echoes, [(d.timestamp / 3600, d.direction) for d in echoes]


def test_the_hour_of_the_burst_keeps_the_level_of_the_other_days() -> None:
    ts, values, _ = three_days_with_a_burst()
    baseline = seasonal_baseline(ts, values)
    assert baseline is not None
    same_hour_day_one = 14 * 60 + 2  # 14:02 on day 1
    assert abs(baseline[same_hour_day_one] - 50.0) < 1.0


def test_the_daily_shape_within_an_hour_is_kept() -> None:
    ts = np.arange(0.0, 3 * DAY, 60.0)
    values = 10.0 * np.sin(2 * np.pi * ts / DAY)
    baseline = seasonal_baseline(ts, values)
    assert baseline is not None
    assert np.max(np.abs(baseline - values)) < 0.15  # linear between hour centres: 0.12
