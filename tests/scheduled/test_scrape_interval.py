"""A rule's step shorter than a series' scrape interval, or an interval that changed within the lookback:
each series is detected at its own interval, and a change of sampling is not an anomaly of the value.
Read from a real Prometheus, replayed as the scheduler would (`receiver.scheduled.backtest`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, start_backfilled_prometheus
from receiver.evidence.prometheus import PrometheusSource
from receiver.scheduled.backtest import fetch_history, plan_backtest, replay
from receiver.scheduled.scheduler import DetectionScheduler, DetectorFinding
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage.database import Store
from tests.scheduled.conftest import Recorder

END = 1_767_225_600.0  # 2026-01-01 00:00 UTC
HOUR = 3600.0
SWITCH = END - HOUR  # the job's scrape interval goes from 60 s to 15 s
QUIET, SWITCHED = 20, 60  # series
DETECTION = DetectionSettings(lookback_seconds=6 * HOUR, step_seconds=15.0, cooldown_seconds=600.0)


def _scraped(metric: str, pod: str, times: np.ndarray, values: np.ndarray) -> SyntheticSeries:
    return SyntheticSeries(metric, {"pod": pod}, times, values[: times.size])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """12 h of white noise scraped every 60 s at second 7 (`quiet_level`); the same, but scraped every 15 s
    from SWITCH on (`switched_level`); and a 60-s series that steps up 10 sd for its last 4 samples."""
    rng = np.random.default_rng(11)
    slow = np.arange(END - 12 * HOUR + 7.0, END, 60.0)
    switched = np.r_[slow[slow < SWITCH], np.arange(SWITCH + 7.0, END, 15.0)]
    series = [_scraped("quiet_level", f"p{i}", slow, rng.normal(50, 2, slow.size)) for i in range(QUIET)]
    series += [
        _scraped("switched_level", f"p{i}", switched, rng.normal(50, 2, switched.size))
        for i in range(SWITCHED)
    ]
    stepped = rng.normal(50, 2, slow.size)
    stepped[-4:] += 20.0
    series.append(_scraped("stepped_level", "a", slow, stepped))
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("scrape_interval"), series)
    yield proc
    proc.stop()


async def _replayed(
    source: PrometheusSource, query: str, start: float, end: float, step: float, interval: float
) -> list[DetectorFinding]:
    rule = RuleSettings(name=query, query=query)
    plan = plan_backtest(rule, DETECTION, start, end, step=step, interval=interval)
    series, fetched_start = await fetch_history(plan, source)
    return replay(plan, series, fetched_start)


async def test_a_60s_series_at_a_15s_step_opens_what_it_opens_at_60s(source: PrometheusSource):
    """On a 15-s step it opened 2-2.6 times as many incidents as on a 60-s step, at HIGH instead of LOW."""
    start = END - 6 * HOUR
    at_60 = await _replayed(source, "quiet_level", start, END, 60.0, 300.0)
    at_15 = await _replayed(source, "quiet_level", start, END, 15.0, 300.0)

    assert at_60, "white noise opens an incident now and then: nothing to compare"
    assert len(at_15) == len(at_60)
    assert sorted(f.detection.severity for f in at_15) == sorted(f.detection.severity for f in at_60)


async def test_a_scrape_interval_change_opens_no_more_than_the_noise_does(source: PrometheusSource):
    """60 s to 15 s within the lookback opened an incident on every series within minutes (89 on 60)."""
    changed = await _replayed(source, "switched_level", SWITCH, END - 60.0, 15.0, 30.0)
    # what series where nothing changes open, at their own interval, per series and hour
    quiet = await _replayed(source, "quiet_level", SWITCH - 5 * HOUR, END - 60.0, 60.0, 30.0)
    expected = len(quiet) / (QUIET * 6) * SWITCHED

    assert len(changed) <= max(3.0, 3 * expected)


async def test_a_step_in_a_60s_series_is_found_at_a_15s_step_as_at_60s(source: PrometheusSource):
    [at_60] = await _replayed(source, "stepped_level", END - HOUR, END, 60.0, 30.0)
    [at_15] = await _replayed(source, "stepped_level", END - HOUR, END, 15.0, 30.0)

    assert at_15.detection.direction == at_60.detection.direction == "up"
    assert END - 4 * 60 <= at_15.starts_at <= END - 3 * 60
    assert at_15.starts_at - at_60.starts_at < 60.0  # the first 15-s point that shows the sample
    assert at_15.detection.severity == at_60.detection.severity
    assert at_15.detection.confidence == pytest.approx(at_60.detection.confidence)


async def test_the_rule_status_says_the_sampling_changed(source: PrometheusSource, tmp_path: Path):
    rule = RuleSettings(name="switched", query="switched_level")
    settings = DetectionSettings(
        lookback_seconds=6 * HOUR, step_seconds=15.0, cooldown_seconds=600.0, rules=[rule]
    )
    scheduler = DetectionScheduler(Store(tmp_path / "a.db"), source, settings, on_anomaly=Recorder())

    report = await scheduler.run_cycle(now=END - 60.0)

    assert not report.errors and report.sampling["switched"].changed == SWITCHED
    notes = scheduler.statuses()["switched"].notes
    assert any(n.startswith("every series changed sampling interval within the lookback") for n in notes)
    await scheduler.stop()
