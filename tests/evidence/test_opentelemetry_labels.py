"""Applications measured through OpenTelemetry beside cAdvisor, through a real Prometheus.

The OpenTelemetry Collector's Prometheus exporter turns resource attributes into labels named after them
(`service_name`, `k8s_pod_name`, `k8s_namespace_name`), with `job` = namespace/service and `instance` = the
service instance's id; cAdvisor names the same pods `pod` and their namespace `namespace`. The alert comes
from an OpenTelemetry metric; the cause is another service's CPU, which only cAdvisor measures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from analyst.builtin.entities import rank_entities
from analyst.evidence import Evidence
from demo.processes import ManagedProcess
from demo.tsdb import start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident
from tests.evidence.otel_shop import PODS, shop_end, shop_series

ALERT_EXPR = 'http_server_latency_p90_seconds{k8s_namespace_name="shop",service_name="frontend"} > 1'


@pytest.fixture(scope="module")
def end() -> float:
    return shop_end()


def _otel(index: int, service: str, pod: str) -> dict[str, str]:
    return {
        "job": f"shop/{service}",
        "instance": f"5f0c{index}a1e-93b2-4c1d-8e7f-{index:012d}",
        "service_name": service,
        "k8s_pod_name": pod,
        "k8s_namespace_name": "shop",
    }


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, end: float) -> Iterator[ManagedProcess]:
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("otel"), shop_series(end, _otel))
    yield proc
    proc.stop()


async def _evidence(source: PrometheusSource, end: float) -> Evidence:
    labels = {"alertname": "FrontendSlow", "service_name": "frontend", "k8s_namespace_name": "shop"}
    incident = firing_incident(end - 20 * 60 + 180, labels, ALERT_EXPR, "inc-otel")
    return await collect_alert_context(incident, source, ContextSettings(), now=incident.starts_at + 120)


async def test_cadvisor_series_are_related_through_the_equivalent_namespace_label(
    source: PrometheusSource, end: float
):
    evidence = await _evidence(source, end)

    cpu = [s for s in evidence.series if s.metric == "container_cpu_usage_seconds_total"]
    # before: neither service_name nor k8s_namespace_name identified anything: no related series at all
    assert {s.labels["pod"] for s in cpu} == {pod for pod, _ in PODS.values()}
    components = {(s.metric, s.component) for s in evidence.series}
    assert ("container_cpu_usage_seconds_total", "payments") in components
    assert ("http_server_latency_p90_seconds", "payments") in components


async def test_a_services_cpu_from_cadvisor_joins_its_opentelemetry_latency(
    source: PrometheusSource, end: float
):
    ranked = rank_entities(await _evidence(source, end))

    assert ranked[0].name == "payments"
    assert {s.series.metric for s in ranked[0].shifts} == {
        "container_cpu_usage_seconds_total",
        "http_server_latency_p90_seconds",
    }
