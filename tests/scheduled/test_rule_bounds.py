"""A rule's window and min_samples are bounded: the API refuses what could exhaust memory or never fire,
detection never allocates beyond the data, and a rule the lookback cannot hold says so."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from pydantic import ValidationError

from demo.processes import ManagedProcess
from detectors import DetectionRule, detect_batch
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.scheduled.scheduler import DetectionScheduler
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage.database import Store
from receiver.web.backtest import backtest_routes
from receiver.web.rules import rule_routes
from tests.scheduled.conftest import QUERY, Injected

DAY = 86400.0


async def _nothing(finding: object) -> None:
    return None


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, unreachable: PrometheusSource) -> Any:
    scheduler = DetectionScheduler(
        Store(tmp_path / "analyst.db"), unreachable, DetectionSettings(), on_anomaly=_nothing
    )
    app = web.Application()
    app.add_routes([*rule_routes(scheduler), *backtest_routes(scheduler)])
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"window_size": 1_000_000_000}, "window_size"),
        ({"min_samples": 100_000}, "min_samples"),
        ({"min_samples": 2_000}, "min_samples"),  # under the cap, but the day's lookback holds 1,441 points
    ],
)
async def test_a_rule_too_large_for_any_lookback_or_this_one_is_a_400_naming_the_field(
    client: Any, fields: dict[str, int], field: str
):
    response = await client.post("/api/v1/rules", json={"name": "w", "query": "m", **fields})

    assert response.status == 400
    assert (await response.json())["field"] == field
    assert [r["name"] for r in (await (await client.get("/api/v1/rules")).json())["data"]] == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"window_size": 1_000_000_000}, "rule.window_size"), ({"min_samples": 5_000}, "rule.min_samples")],
)
async def test_a_backtest_of_such_a_rule_is_a_400_before_anything_is_fetched(
    client: Any, fields: dict[str, int], field: str
):
    body = {"rule": {"query": "m", **fields}, "from": "-2h", "lookback": "1d"}

    response = await client.post("/api/v1/backtest", json=body)

    assert response.status == 400
    assert (await response.json())["field"] == field


def test_a_config_rule_whose_min_samples_the_lookback_cannot_hold_is_refused():
    rule = RuleSettings(name="slow", query="m", min_samples=2_000)

    with pytest.raises(ValidationError, match="min_samples=2000 is more than the 1441 points"):
        DetectionSettings(rules=[rule])
    assert DetectionSettings(rules=[rule], lookback_seconds=2 * DAY, step_seconds=60).lookback_points == 2881


def test_detection_with_a_window_far_longer_than_the_grid_allocates_about_the_grid():
    ts = np.arange(300, dtype=float) * 60
    values = np.random.default_rng(3).normal(10, 1, (2, ts.size))
    values[0, -3:] += 12
    names = ["a", "b"]

    tracemalloc.start()
    try:
        huge = detect_batch(DetectionRule("w", window_size=500_000), ts, values, names, workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = detect_batch(DetectionRule("w", window_size=ts.size), ts, values, names, workers=1)

    assert peak < 5_000_000  # ~0.13 MB, as for a 300-point window; uncut, its buffers took 25 MB
    assert np.array_equal(huge.scores, whole.scores, equal_nan=True)
    assert [d.id for d in huge.detections] == [d.id for d in whole.detections]


async def test_a_rule_the_lookback_cannot_hold_says_so_in_its_status(
    injected: Injected, prometheus: ManagedProcess, tmp_path: Path
):
    source = PrometheusSource(PrometheusSettings(url=prometheus.url, retries=0))
    settings = DetectionSettings(enabled=False, lookback_seconds=2 * DAY, step_seconds=60)
    scheduler = DetectionScheduler(Store(tmp_path / "analyst.db"), source, settings, on_anomaly=_nothing)
    notes = await scheduler.store_rule(
        RuleSettings(name="long_window", query=QUERY, window_size=5_000), replace=False
    )
    assert notes == [
        "window_size=5000 is longer than the 2881 points the lookback holds: the window is the whole lookback"
    ]
    await scheduler.store_rule(RuleSettings(name="needy", query=QUERY, min_samples=2_000), replace=False)

    await scheduler.reconfigure(DetectionSettings(enabled=False))  # a day at 60 s: 1,441 points
    report = await scheduler.run_cycle(now=injected.end)

    status = scheduler.statuses()
    assert not report.errors and status["needy"].series == 3
    assert status["needy"].notes == (
        "this rule never fires: min_samples=2000 is more than the 1441 points the lookback holds at its"
        " step: no series could be judged; lower it, or give the lookback more points (a shorter step)",
    )
    assert "longer than the 1441 points" in status["long_window"].notes[0]
    await scheduler.stop()
    await source.close()
