"""The same known-cause incident, with VictoriaMetrics as the metric source (same code, same answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from demo.processes import ManagedProcess
from demo.tsdb import start_victoria_metrics
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from tests.evidence.scenario import Scenario


@pytest.fixture(scope="module")
def victoria(tmp_path_factory: pytest.TempPathFactory, scenario: Scenario) -> Iterator[ManagedProcess]:
    proc = start_victoria_metrics(tmp_path_factory.mktemp("vm"), scenario.series)
    yield proc
    proc.stop()


@pytest.fixture
async def vm_source(victoria: ManagedProcess) -> AsyncIterator[PrometheusSource]:
    source = PrometheusSource(PrometheusSettings(url=victoria.url, retries=0, max_points_per_series=30_000))
    yield source
    await source.close()


async def test_victoriametrics_shows_the_cause_leading_the_alert(
    scenario: Scenario, vm_source: PrometheusSource
):
    evidence = await collect_alert_context(
        scenario.incident(), vm_source, ContextSettings(), now=scenario.end
    )

    by_metric = {s.metric: s for s in evidence.series}
    alert, cause = by_metric["demo_order_error_ratio"], by_metric["demo_db_pool_in_use"]
    assert alert.role == "alert" and alert.anomalous and cause.anomalous
    assert cause.lag_seconds is not None and 120 <= cause.lag_seconds <= 240
    for metric in (
        "demo_cpu_usage_ratio",
        "demo_queue_depth",
        "demo_memory_bytes",
        "demo_http_requests_total",
    ):
        assert by_metric[metric].available and not by_metric[metric].anomalous
    assert "demo_other_team_latency_seconds" not in by_metric
