from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import CollectorRegistry

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, start_backfilled_prometheus, start_victoria_metrics
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from tests.evidence.scenario import Scenario, causal_scenario

RULES = """
groups:
  - name: shop
    rules:
      - alert: OrderErrorsHigh
        expr: demo_order_error_ratio{service="orders"} > 0.1
        for: 1m
        labels: {severity: critical, team: checkout}
"""


@pytest.fixture(scope="package")
def scenario() -> Scenario:
    return causal_scenario()


@pytest.fixture(scope="package")
def prometheus(tmp_path_factory: pytest.TempPathFactory, scenario: Scenario) -> Iterator[ManagedProcess]:
    proc = start_backfilled_prometheus(
        tmp_path_factory.mktemp("prometheus"),
        scenario.series,
        external_labels={"cluster": "eu-1"},
        rules_yaml=RULES,
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def backfilled_prometheus(
    tmp_path_factory: pytest.TempPathFactory, series: list[SyntheticSeries]
) -> Iterator[ManagedProcess]:
    """A Prometheus holding the requesting module's `series` fixture."""
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("prometheus"), series)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def backfilled_victoria(
    tmp_path_factory: pytest.TempPathFactory, series: list[SyntheticSeries]
) -> Iterator[ManagedProcess]:
    """A VictoriaMetrics holding the requesting module's `series` fixture."""
    proc = start_victoria_metrics(tmp_path_factory.mktemp("vm"), series)
    yield proc
    proc.stop()


@pytest.fixture(params=["backfilled_prometheus", "backfilled_victoria"])
def backfilled_backend(request: pytest.FixtureRequest) -> ManagedProcess:
    """Each backend holding the module's `series`, in turn."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def source(prometheus: ManagedProcess, registry: CollectorRegistry) -> AsyncIterator[PrometheusSource]:
    src = PrometheusSource(
        PrometheusSettings(url=prometheus.url, retries=0, timeout_seconds=5), registry=registry
    )
    yield src
    await src.close()
