"""OpenTelemetry metrics that carry only `job` and `instance`, their resource attributes on `target_info`.

This is how Prometheus' OTLP receiver and the Collector's Prometheus exporters store an instrumented
service by default: `job` = namespace/service, `instance` = the instance's id, and the attributes
(`k8s_pod_name`, `k8s_namespace_name`, `service_name`) on one `target_info` series per instance. cAdvisor
names the same pods `pod` and `namespace`. The alert comes from the frontend's latency; the cause is the
payments pod's CPU, which only cAdvisor measures. Through a real Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from analyst.builtin.entities import rank_entities
from analyst.evidence import Evidence
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.resources import info_selector, joined, resources_by_target, targets_of
from receiver.evidence.settings import CallLatencyQuery, ContextSettings
from tests.evidence.alerts import firing_incident
from tests.evidence.otel_shop import PODS, shop_end, shop_series, timeline

INSTANCES = {service: f"0b7e6a52-1c3d-4e8f-9a0b-00000000000{i}" for i, service in enumerate(PODS)}
FRONTEND = {"job": "shop/frontend", "instance": INSTANCES["frontend"]}
ALERT_EXPR = 'http_server_latency_p90_seconds{job="shop/frontend"} > 1'


@pytest.fixture(scope="module")
def end() -> float:
    return shop_end()


def _target(index: int, service: str, pod: str) -> dict[str, str]:
    """What OTLP puts on a service's metrics: its job and instance only."""
    return {"job": f"shop/{service}", "instance": INSTANCES[service]}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, end: float) -> Iterator[ManagedProcess]:
    ts, cause = timeline(end)
    series = shop_series(end, _target)
    for service, (pod, _) in PODS.items():
        info = {
            **_target(0, service, pod),
            "service_name": service,
            "service_namespace": "shop",
            "k8s_pod_name": pod,
            "k8s_namespace_name": "shop",
            "telemetry_sdk_version": "1.27.0",  # not an identifying label: never joined
        }
        series.append(SyntheticSeries("target_info", info, ts, np.ones(ts.size)))
    # Tempo's service graph names services by service.name: frontend -> payments slows on the way
    graph = "traces_service_graph_request"
    calls = {"client": "frontend", "server": "payments"}
    for side, ms, peak, seed in (("client", 0.02, 0.6, 60), ("server", 0.015, 0.015, 61)):
        latency = np.maximum(noisy(ts, ms, ms / 20, seed, steps=[(cause, peak)]), ms / 10)
        count = np.cumsum(np.full(ts.size, 10.0))
        metric = f"{graph}_{side}_seconds"
        series.append(SyntheticSeries(f"{metric}_count", calls, ts, count))
        series.append(SyntheticSeries(f"{metric}_sum", calls, ts, np.cumsum(10.0 * latency)))
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("target-info"), series)
    yield proc
    proc.stop()


async def _evidence(
    source: PrometheusSource, end: float, settings: ContextSettings, expr: str = ALERT_EXPR
) -> Evidence:
    labels = {"alertname": "FrontendSlow", **FRONTEND}
    if "by (job)" in expr:  # an aggregated alert carries its job only
        del labels["instance"]
    incident = firing_incident(end - 20 * 60 + 180, labels, expr, "inc-target-info")
    return await collect_alert_context(incident, source, settings, now=incident.starts_at + 120)


def _cadvisor_pods(evidence: Evidence) -> set[str]:
    return {s.labels["pod"] for s in evidence.series if s.metric == "container_cpu_usage_seconds_total"}


async def test_the_alerts_resource_attributes_find_its_namespaces_cadvisor_series(
    source: PrometheusSource, end: float
):
    evidence = await _evidence(source, end, ContextSettings())

    assert _cadvisor_pods(evidence) == {pod for pod, _ in PODS.values()}
    [alert] = [s for s in evidence.series if s.role == "alert"]
    # the analyst sees the attributes and names the component; the id stays the series' own selector
    assert alert.component == "frontend"
    assert alert.labels["k8s_pod_name"] == PODS["frontend"][0]
    assert "telemetry_sdk_version" not in alert.labels
    assert alert.series_id == (
        f'http_server_latency_p90_seconds{{instance="{FRONTEND["instance"]}",job="shop/frontend"}}'
    )


async def test_an_alert_aggregated_by_job_joins_what_its_instances_agree_on(
    source: PrometheusSource, end: float
):
    expr = 'max by (job) (http_server_latency_p90_seconds{job="shop/frontend"}) > 1'
    evidence = await _evidence(source, end, ContextSettings(), expr)

    assert _cadvisor_pods(evidence) == {pod for pod, _ in PODS.values()}
    [alert] = [s for s in evidence.series if s.role == "alert"]
    assert alert.component == "frontend"


async def test_without_the_join_the_cause_is_out_of_sight(source: PrometheusSource, end: float):
    evidence = await _evidence(source, end, ContextSettings(info_metric=None))

    assert _cadvisor_pods(evidence) == set()
    [alert] = [s for s in evidence.series if s.role == "alert"]
    # named by its instance's id, which tells a reader nothing
    assert alert.component == FRONTEND["instance"] and "k8s_pod_name" not in alert.labels


async def test_the_payments_pods_cpu_is_ranked_first(source: PrometheusSource, end: float):
    ranked = rank_entities(await _evidence(source, end, ContextSettings()))

    assert "payments" in ranked[0].name
    assert {s.series.metric for s in ranked[0].shifts} >= {"container_cpu_usage_seconds_total"}


def test_attributes_that_changed_within_the_window_are_left_out():
    target = ("shop/cart", "id-1")
    info = [
        {
            "__name__": "target_info",
            "job": "shop/cart",
            "instance": "id-1",
            "k8s_pod_name": "cart-a",
            "service_name": "cart",
        },
        {
            "__name__": "target_info",
            "job": "shop/cart",
            "instance": "id-1",
            "k8s_pod_name": "cart-b",
            "service_name": "cart",
        },
        {"__name__": "target_info", "job": "shop/other", "instance": "id-1", "service_name": "other"},
    ]
    found = resources_by_target(info, {target}, {"k8s_pod_name", "service_name"})

    assert found == {target: {"service_name": "cart"}}
    assert joined({"job": "shop/cart", "instance": "id-1", "service_name": "mine"}, found) == {}
    assert joined({"job": "shop/cart"}, found) == {}  # the job's target was not asked for
    assert info_selector("target_info", {target}) == 'target_info{instance=~"id\\\\-1",job=~"shop/cart"}'
    assert targets_of([{"job": "a", "instance": "b"}, {"job": "a"}, {"instance": "c"}]) == {
        ("a", "b"),
        ("a", ""),
    }


def test_a_jobs_series_gets_what_all_its_instances_agree_on():
    info = [
        {"job": "shop/cart", "instance": f"id-{i}", "k8s_pod_name": f"cart-{i}", "service_name": "cart"}
        for i in range(3)
    ]
    found = resources_by_target(info, {("shop/cart", "")}, {"k8s_pod_name", "service_name"})

    assert found == {("shop/cart", ""): {"service_name": "cart"}}  # three pods: none of them
    assert joined({"job": "shop/cart"}, found) == {"service_name": "cart"}
    assert info_selector("target_info", {("shop/cart", ""), ("shop/web", "id-9")}) == (
        'target_info{job=~"shop/cart|shop/web"}'
    )


@pytest.mark.parametrize("info_metric", ["target_info", None])
async def test_the_services_tempo_names_are_the_joined_ones(
    source: PrometheusSource, end: float, info_metric: str | None
):
    settings = ContextSettings(call_latency=[CallLatencyQuery(preset="tempo")], info_metric=info_metric)
    evidence = await _evidence(source, end, settings)

    calls = {(s.labels["caller"], s.labels["callee"]) for s in evidence.series if s.metric == "call_latency"}
    # the incident's components are the services its series name: with the join, frontend
    assert calls == ({("frontend", "payments")} if info_metric else set())


async def test_each_target_is_asked_for_once_per_incident(source: PrometheusSource, end: float):
    asked: list[str] = []
    series = source.series

    async def spy(matchers, start, stop, limit=None):
        asked.extend(m for m in matchers if m.startswith("target_info"))
        return await series(matchers, start, stop, limit)

    source.series = spy  # type: ignore[method-assign]
    evidence = await _evidence(source, end, ContextSettings())

    assert _cadvisor_pods(evidence)  # the join still found them
    # the alert's target is asked for before the related series are looked up, and not again after
    assert len([m for m in asked if FRONTEND["job"] in m]) == 1, asked
