"""An incident in a kube-prometheus-stack layout, through a real Prometheus (and VictoriaMetrics) and the
built-in analyst.

cAdvisor series are counters scraped once a minute and carry the kubelet's `job` and `service` beside the
pod they describe, kube-state-metrics' limits likewise; the applications' own series carry their Service.
The CPU of one pod rises to 95 % of its limit two minutes before its caller's latency alert fires; its
memory rises too, further in its own noise but to 45 % of its limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from analyst.builtin.entities import rank_entities
from analyst.diagnosis import Category
from analyst.evidence import Evidence
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus, start_victoria_metrics
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings
from receiver.models import Incident
from tests.evidence.alerts import firing_incident, source_at

SCRAPE = 60.0
HISTORY = 4 * 3600.0
KUBELET = {"job": "kubelet", "service": "kube-prometheus-stack-kubelet", "endpoint": "https-metrics"}
KSM = {"job": "kube-state-metrics", "service": "kube-prometheus-stack-kube-state-metrics"}
CPU_LIMIT, MEMORY_LIMIT = 1.0, 1e9  # cores, bytes
PODS = {  # service -> (pod, CPU cores before, after the cause)
    "orders": ("orders-7d9f8b6c5d-x2k4p", 0.20, 0.20),
    "payments": ("payments-5c8d7f9b4-qw7zt", 0.10, 0.95),
    "catalog": ("catalog-6b7c9d8f5-m4n8r", 0.30, 0.30),
}
ALERT_EXPR = 'app_server_latency_p90_seconds{namespace="shop",service="orders"} > 0.5'


@pytest.fixture(scope="module")
def times() -> tuple[np.ndarray, float]:
    end = math.floor(time.time() / SCRAPE) * SCRAPE - 120
    return np.arange(end - HISTORY, end + SCRAPE, SCRAPE), end


@pytest.fixture(scope="module")
def layout(times: tuple[np.ndarray, float]) -> list[SyntheticSeries]:
    ts, end = times
    cause = end - 20 * 60
    series = []
    for seed, (service, (pod, before, after)) in enumerate(PODS.items()):
        subject = {"namespace": "shop", "pod": pod}
        cores = np.clip(noisy(ts, before, 0.01, seed, steps=[(cause, after)]), 0.0, None)
        series.append(
            SyntheticSeries(
                "container_cpu_usage_seconds_total",
                {**KUBELET, **subject, "container": "server"},
                ts,
                np.cumsum(cores * SCRAPE),
                kind="counter",
            )
        )
        grows = [(cause, 4.5e8)] if service == "payments" else []
        memory = noisy(ts, 3e8, 1e5, 10 + seed, steps=grows)
        for resource, unit, limit in (("cpu", "core", CPU_LIMIT), ("memory", "byte", MEMORY_LIMIT)):
            labels = {**KSM, **subject, "container": "server", "resource": resource, "unit": unit}
            series.append(
                SyntheticSeries("kube_pod_container_resource_limits", labels, ts, np.full(ts.size, limit))
            )
        series.append(
            SyntheticSeries(
                "container_memory_working_set_bytes",
                {**KUBELET, **subject, "container": "server"},
                ts,
                memory,
            )
        )
        slow = [(cause + 120, 1.2)] if service == "orders" else []
        series.append(
            SyntheticSeries(
                "app_server_latency_p90_seconds",
                {"job": service, "service": service, **subject},
                ts,
                np.clip(noisy(ts, 0.1, 0.005, 20 + seed, steps=slow), 0.0, None),
            )
        )
    return series


# The same series in Prometheus (promtool backfill) and in VictoriaMetrics, whose rate() and
# count_over_time() follow their own rules at the window's edges.
@pytest.fixture(scope="module", params=["prometheus", "victoria-metrics"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, layout: list[SyntheticSeries]
) -> Iterator[ManagedProcess]:
    start = start_backfilled_prometheus if request.param == "prometheus" else start_victoria_metrics
    proc = start(tmp_path_factory.mktemp(request.param), layout)
    yield proc
    proc.stop()


@pytest.fixture
async def source(backend: ManagedProcess) -> AsyncIterator[PrometheusSource]:
    async with source_at(backend.url, max_points_per_series=30_000) as src:
        yield src


def _incident(end: float) -> Incident:
    labels = {"alertname": "OrdersSlow", "namespace": "shop", "service": "orders", "severity": "critical"}
    return firing_incident(end - 20 * 60 + 180, labels, ALERT_EXPR, "inc-k8s")


async def _evidence(
    source: PrometheusSource, end: float, settings: ContextSettings | None = None
) -> Evidence:
    incident = _incident(end)
    return await collect_alert_context(
        incident, source, settings or ContextSettings(), now=incident.starts_at + 120
    )


async def test_counters_scraped_once_a_minute_are_rated_over_enough_samples(
    source: PrometheusSource, times: tuple[np.ndarray, float]
):
    evidence = await _evidence(source, times[1])

    cpu = [s for s in evidence.series if s.metric == "container_cpu_usage_seconds_total"]
    assert len(cpu) == 3 and all(s.available for s in cpu)  # before: a 60-s window held one sample, no rate
    window = float(cpu[0].query.rsplit("[", 1)[1].rstrip("s])"))
    assert 2 * SCRAPE <= window <= 3 * SCRAPE
    assert not [n for n in evidence.notes if "gave no rate()" in n]


async def test_a_rate_window_too_short_for_the_scrapes_is_a_note(
    source: PrometheusSource, times: tuple[np.ndarray, float], request: pytest.FixtureRequest
):
    evidence = await _evidence(source, times[1], ContextSettings(rate_window_seconds=30))

    cpu = [s for s in evidence.series if s.metric == "container_cpu_usage_seconds_total"]
    noted = [
        n for n in evidence.notes if "3 of 3 container_cpu_usage_seconds_total series gave no rate()" in n
    ]
    if request.node.callspec.params["backend"] == "prometheus":
        assert not cpu and noted  # a 30-s window holds at most one sample a minute apart
    else:  # VictoriaMetrics' rate() also takes the sample before the window
        assert len(cpu) == 3 and not noted


async def test_cadvisor_series_belong_to_their_pods_workload_not_to_the_kubelet(
    source: PrometheusSource, times: tuple[np.ndarray, float]
):
    evidence = await _evidence(source, times[1])

    components = {
        s.labels.get("pod"): s.component for s in evidence.series if s.metric.startswith("container_")
    }
    assert components == {pod: service for service, (pod, _, _) in PODS.items()}


async def test_usage_over_the_limit_is_derived_per_container(
    source: PrometheusSource, times: tuple[np.ndarray, float]
):
    evidence = await _evidence(source, times[1])

    ratios = {
        s.labels["pod"]: s for s in evidence.series if s.metric == "container_cpu_limit_ratio" and s.available
    }
    assert set(ratios) == {pod for pod, _, _ in PODS.values()}
    payments = ratios[PODS["payments"][0]]
    assert payments.baseline == pytest.approx(0.10 / CPU_LIMIT, abs=0.02)
    assert payments.current == pytest.approx(0.95 / CPU_LIMIT, abs=0.05)
    assert any(s.metric == "container_memory_limit_ratio" for s in evidence.series)


async def test_the_analyst_blames_the_pod_whose_cpu_reached_its_limit(
    source: PrometheusSource, times: tuple[np.ndarray, float]
):
    evidence = await _evidence(source, times[1])
    diagnosis = await BuiltinAnalyst().diagnose(evidence)

    assert [e.name for e in rank_entities(evidence)][:1] == ["payments"]  # before: the kubelet, all pods' CPU
    primary = diagnosis.primary_hypothesis
    # the memory moved further in its noise; the CPU is the resource at its limit (before: resource.memory)
    assert primary.category is Category.RESOURCE_CPU
    assert (
        primary.suspect.startswith("container_cpu_limit_ratio{")
        and 'pod="payments-5c8d7f9b4-qw7zt"' in primary.suspect
    )
