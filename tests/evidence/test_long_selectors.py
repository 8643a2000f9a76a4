"""An alert whose related series span 300 pods with long names, through a real Prometheus and VictoriaMetrics.

Each related query's selector then names every pod (about 19 KB of alternation, twice in a ratio or a
mean): more than VictoriaMetrics' `-search.maxQueryLen` (16 KiB), which refuses it. The evidence still
holds every series: each query is cut into several under `context.max_query_length`, and their answers
merged are what the one query gives where the backend takes it (Prometheus).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from analyst.evidence import Evidence
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy
from receiver.evidence.context import collect_alert_context
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, grid_end, source_at

STEP = 60.0
PODS = [f"checkout-reconciliation-worker-7d9f8b6c5d-{i:05d}" for i in range(300)]
SHOP = {"namespace": "shop", "service": "checkout"}
ALERT_EXPR = 'checkout_latency_seconds{namespace="shop",service="checkout"} > 1'
LIMITS = "kube_pod_container_resource_limits"
# per pod: a gauge, a counter (under rate()), a histogram's _sum and _count (their mean), and the limit the
# counter's usage is derived over
RAW = (
    "app_queue_depth",
    "container_cpu_usage_seconds_total",
    "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count",
    LIMITS,
)
DERIVED = ("container_cpu_limit_ratio", "http_request_duration_seconds:mean")
SETTINGS = ContextSettings(max_related_series=2000, step_seconds=STEP)


@pytest.fixture(scope="module")
def end() -> float:
    return grid_end(STEP, 120)


@pytest.fixture(scope="module")
def series(end: float) -> list[SyntheticSeries]:
    ts = np.arange(end - 3 * 3600, end + STEP, STEP)
    out = [SyntheticSeries("checkout_latency_seconds", SHOP, ts, noisy(ts, 0.2, 0.01, 0))]
    for i, pod in enumerate(PODS):
        labels = {**SHOP, "pod": pod, "container": "server"}
        seconds, requests = (np.cumsum(noisy(ts, level, level / 10, i) * STEP) for level in (0.1, 0.5))
        out += [
            SyntheticSeries("app_queue_depth", labels, ts, noisy(ts, 10.0, 1.0, i)),
            SyntheticSeries("container_cpu_usage_seconds_total", labels, ts, seconds, "counter"),
            SyntheticSeries("http_request_duration_seconds_sum", labels, ts, seconds, "counter"),
            SyntheticSeries("http_request_duration_seconds_count", labels, ts, requests, "counter"),
            SyntheticSeries(LIMITS, {**labels, "resource": "cpu", "unit": "core"}, ts, np.full(ts.size, 0.5)),
        ]
    return out


async def _evidence(backend: ManagedProcess, end: float, settings: ContextSettings) -> Evidence:
    labels = {"alertname": "CheckoutSlow", **SHOP, "severity": "critical"}
    incident = firing_incident(end - 600, labels, ALERT_EXPR, "inc-long")
    async with source_at(backend.url, max_points_per_series=30_000) as source:
        return await collect_alert_context(incident, source, settings, now=end)


async def test_every_related_series_of_hundreds_of_pods_is_evidence(
    backfilled_backend: ManagedProcess, end: float
):
    evidence = await _evidence(backfilled_backend, end, SETTINGS)

    assert all(s.available for s in evidence.series)  # the limits are flat, not unavailable
    assert not [n for n in evidence.notes if "unavailable" in n]
    pods = {m: sorted(s.labels["pod"] for s in evidence.series if s.metric == m) for m in RAW + DERIVED}
    assert pods == {m: PODS for m in RAW + DERIVED}
    assert all(len(s.query.encode()) <= SETTINGS.max_query_length for s in evidence.series)
    ratio = next(s for s in evidence.series if s.metric == "container_cpu_limit_ratio")
    mean = next(s for s in evidence.series if s.metric == "http_request_duration_seconds:mean")
    assert ratio.baseline == pytest.approx(0.1 / 0.5, rel=0.1)
    assert mean.baseline == pytest.approx(0.1 / 0.5, rel=0.1)


async def test_the_queries_cut_to_fit_give_the_evidence_prometheus_gives_for_one_query(
    backfilled_prometheus: ManagedProcess, end: float
):
    cut = await _evidence(backfilled_prometheus, end, SETTINGS)
    unbounded = SETTINGS.model_copy(update={"max_query_length": 1_000_000})
    whole = await _evidence(backfilled_prometheus, end, unbounded)

    assert max(len(s.query) for s in whole.series) > 2 * SETTINGS.max_query_length
    assert [replace(s, query="") for s in cut.series] == [replace(s, query="") for s in whole.series]
    assert cut.notes == whole.notes


async def test_a_limit_above_victoriametrics_gives_its_reason_and_what_to_set(
    backfilled_victoria: ManagedProcess, end: float
):
    unbounded = SETTINGS.model_copy(update={"max_query_length": 1_000_000})
    evidence = await _evidence(backfilled_victoria, end, unbounded)

    refused = {s.unavailable_reason for s in evidence.series if s.metric == "app_queue_depth"}
    [reason] = refused
    assert reason is not None and "too long query" in reason and "-search.maxQueryLen" in reason
    assert "context.max_query_length" in reason
