"""Missing data (a restart, a scrape outage) is a note on the rule, not a page per series, unless the rule
sets `alert_on_gaps`. Over a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.scheduled.backtest import fetch_history, plan_backtest, replay
from receiver.scheduled.scheduler import DetectionScheduler
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage.database import Store
from tests.scheduled.conftest import Recorder

QUERY = "demo_queue_depth"


@dataclass(frozen=True)
class Holed:
    end: float
    series: tuple[SyntheticSeries, ...]


@pytest.fixture(scope="module")
def holed() -> Holed:
    """Queue depth of three pods over 26 h at 15 s; pod p0 has no samples for the 15 minutes that end 5
    minutes before `end` (its Prometheus restarted)."""
    end = math.floor(time.time() / 60) * 60 - 60
    ts = np.arange(end - 26 * 3600, end + 15, 15.0)
    hole = (ts > end - 1200) & (ts <= end - 300)
    series = []
    for seed, pod in enumerate(("p0", "p1", "p2"), start=21):
        keep = ~hole if pod == "p0" else np.ones(ts.size, dtype=bool)
        values = noisy(ts, 40.0, 2.0, seed)
        series.append(SyntheticSeries(QUERY, {"job": "queue", "pod": pod}, ts[keep], values[keep]))
    return Holed(end, tuple(series))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, holed: Holed) -> Iterator[ManagedProcess]:
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("holed"), holed.series)
    yield proc
    proc.stop()


async def test_a_hole_in_a_series_opens_no_incident_by_default(holed: Holed, source, tmp_path: Path):
    recorder = Recorder()
    rule = RuleSettings(name="queue_depth", query=QUERY)
    scheduler = DetectionScheduler(
        Store(tmp_path / "analyst.db"), source, DetectionSettings(rules=[rule]), on_anomaly=recorder
    )

    report = await scheduler.run_cycle(now=holed.end)

    assert recorder.findings == [] and report.incidents == [] and not report.errors
    [note] = scheduler.statuses()["queue_depth"].notes
    assert note.startswith("1 of 3 series miss data over the lookback (the longest gap")
    assert "unless the rule sets alert_on_gaps" in note
    await scheduler.stop()


async def test_a_rule_with_alert_on_gaps_opens_a_data_gap_incident(holed: Holed, source, tmp_path: Path):
    recorder = Recorder()
    rule = RuleSettings(name="queue_depth", query=QUERY, alert_on_gaps=True)
    scheduler = DetectionScheduler(
        Store(tmp_path / "analyst.db"), source, DetectionSettings(rules=[rule]), on_anomaly=recorder
    )

    await scheduler.run_cycle(now=holed.end)

    [finding] = recorder.findings
    assert finding.detection.anomaly_type == "DATA_GAP" and finding.series_labels["pod"] == "p0"
    assert holed.end - 1200 <= finding.starts_at <= holed.end - 300
    assert scheduler.statuses()["queue_depth"].notes == ()
    await scheduler.stop()


async def test_a_backtest_over_the_hole_finds_no_data_gap_by_default(holed: Holed, source):
    rule = RuleSettings(name="queue_depth", query=QUERY)
    plan = plan_backtest(rule, DetectionSettings(), holed.end - 3600, holed.end, interval=300)
    series, fetched_start = await fetch_history(plan, source)

    found = replay(plan, series, fetched_start)

    assert len(series) == 3
    assert [f for f in found if f.detection.anomaly_type == "DATA_GAP"] == []
