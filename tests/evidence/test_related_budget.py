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
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, grid_end
from tests.support.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus

STEP = 60.0
PODS = ("cart-5d9f8b6c5d-x2k4p", "pay-7c8d7f9b4-qw7zt", "ship-6b7c9d8f5-m4n8r")
METRICS = ("a_received_bytes", "b_handled_ops", "cpu_usage_cores", "server_latency_seconds")
ALERT_EXPR = 'entry_latency_seconds{namespace="shop",service="web"} > 1'


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
