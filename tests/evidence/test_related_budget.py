"""More related series than `context.max_related_series`: which ones the evidence keeps (a real Prometheus).

Three pods of a namespace, each with four series whose names sort traffic first. The budget of six keeps
each pod's saturation and latency series, a kind at a time, rather than the alphabetically first two
metrics of every pod.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, grid_end

STEP = 60.0
PODS = ("cart-5d9f8b6c5d-x2k4p", "pay-7c8d7f9b4-qw7zt", "ship-6b7c9d8f5-m4n8r")
METRICS = ("a_received_bytes", "b_handled_ops", "cpu_usage_cores", "server_latency_seconds")
ALERT_EXPR = 'entry_latency_seconds{namespace="shop",service="web"} > 1'
BUSY_PODS, BUSY_METRICS = 10, 25


@pytest.fixture(scope="module")
def end() -> float:
    return grid_end(STEP, 120)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, end: float) -> Iterator[ManagedProcess]:
    ts = np.arange(end - 3 * 3600, end + STEP, STEP)
    series = [
        SyntheticSeries(
            "entry_latency_seconds", {"namespace": "shop", "service": "web"}, ts, noisy(ts, 1, 0.1, 0)
        ),
        SyntheticSeries(
            "entry_latency_seconds",
            {"k8s_namespace_name": "otel", "service_name": "storefront"},
            ts,
            noisy(ts, 1, 0.1, 0),
        ),
    ]
    for p, pod in enumerate(PODS):
        for m, metric in enumerate(METRICS):
            labels = {"namespace": "shop", "pod": pod}
            series.append(SyntheticSeries(metric, labels, ts, noisy(ts, 10.0 + m, 1.0, 10 * p + m)))
            # the same pods as OpenTelemetry names them, one service over all three
            otel = {"k8s_namespace_name": "otel", "service_name": "backend", "k8s_pod_name": pod}
            series.append(SyntheticSeries(metric, otel, ts, noisy(ts, 10.0 + m, 1.0, 10 * p + m)))
    web = {"namespace": "busy", "pod": "web-1"}  # a busy namespace: other pods' series sort first
    series += [
        SyntheticSeries("web_latency_seconds", web, ts, noisy(ts, 1.0, 0.1, 1, steps=[(end - 600, 3.0)])),
        SyntheticSeries("http_requests_total", web, ts, np.cumsum(np.full(ts.size, 30.0)), kind="counter"),
        SyntheticSeries("process_resident_memory_bytes", web, ts, noisy(ts, 1e8, 1e6, 2)),
    ]
    for i in range(BUSY_PODS):
        labels = {"namespace": "busy", "pod": f"other-{i:02d}"}
        series += [
            SyntheticSeries(f"container_m{m:02d}", labels, ts, noisy(ts, 1.0, 0.1, 100 + i))
            for m in range(BUSY_METRICS)
        ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("budget"), series)
    yield proc
    proc.stop()


async def test_the_budget_keeps_each_pods_most_telling_series(source: PrometheusSource, end: float):
    incident = firing_incident(
        end - 600, {"alertname": "WebSlow", "namespace": "shop", "service": "web"}, ALERT_EXPR
    )
    evidence = await collect_alert_context(incident, source, ContextSettings(max_related_series=6), now=end)

    kept = {(s.labels["pod"], s.metric) for s in evidence.series if "pod" in s.labels}
    # before: the alphabetically first names, a_received_bytes and b_handled_ops of every pod
    assert kept == {(pod, metric) for pod in PODS for metric in ("cpu_usage_cores", "server_latency_seconds")}
    assert any("related series limited to 6 of 12" in note for note in evidence.notes)


async def test_opentelemetry_pods_each_keep_their_most_telling_series(source: PrometheusSource, end: float):
    labels = {"alertname": "StorefrontSlow", "k8s_namespace_name": "otel", "service_name": "storefront"}
    expr = 'entry_latency_seconds{k8s_namespace_name="otel",service_name="storefront"} > 1'
    incident = firing_incident(end - 600, labels, expr)
    evidence = await collect_alert_context(incident, source, ContextSettings(max_related_series=6), now=end)

    kept = {(s.labels["k8s_pod_name"], s.metric) for s in evidence.series if "k8s_pod_name" in s.labels}
    # by service_name (one subject for all three pods) the first pod would keep all four and the third none
    assert kept == {(pod, metric) for pod in PODS for metric in ("cpu_usage_cores", "server_latency_seconds")}


async def test_the_alerting_pods_own_series_are_kept_in_a_busy_namespace(
    source: PrometheusSource, end: float
):
    """All identifying matchers went into one /api/v1/series call whose answer (sorted by name) was cut at
    10 x max_related_series before ranking: 250 `container_*` series of other pods pushed out web-1's own
    request counter and memory, the series that name its cause."""
    labels = {"alertname": "WebSlow", "namespace": "busy", "pod": "web-1"}
    incident = firing_incident(end - 600, labels, 'web_latency_seconds{namespace="busy",pod="web-1"} > 2')
    settings = ContextSettings(max_related_series=20)
    assert 10 * settings.max_related_series < BUSY_PODS * BUSY_METRICS
    evidence = await collect_alert_context(incident, source, settings, now=end)

    own = {s.metric for s in evidence.series if s.labels.get("pod") == "web-1"}
    assert {"process_resident_memory_bytes", "web_latency_seconds"} <= own
    assert any("http_requests_total" in m for m in own), own
