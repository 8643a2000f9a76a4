"""Which related series a busy namespace's alert gets, and what the evidence says of them (a real Prometheus
and VictoriaMetrics).

Two namespaces hold the same incident: eight pods of `api`, each with 30 noise gauges and a connection pool
beside its size; pod 3's pool fills up to its size nine minutes before the error ratio rises. In `first`
the pool's metric sorts before the noise (`aaa_pool_*`), in `last` after it (`zz_pool_*`). Each identifying
label's lookup may return 200 series (10 x a budget of 20), fewer than the 256 that match: cut in the
backend's order, `last` lost its pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from analyst.builtin import BuiltinAnalyst
from analyst.builtin.narrative import data_examination
from analyst.evidence import Evidence
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.promql import is_counter_name
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, grid_end, source_at

STEP = 60.0
PODS = [f"api-7f8c9d6b5-{i:05d}" for i in range(8)]
NOISE = [f"app_m{m:02d}_queue_depth" for m in range(30)]
POOLS = {"first": "aaa_pool_connections", "last": "zz_pool_connections"}
POOL_SIZE = 50.0
SETTINGS = ContextSettings(max_related_series=20, step_seconds=STEP)
HIST = {"namespace": "hist", "service": "checkout", "pod": "checkout-1"}


@pytest.fixture(scope="module")
def end() -> float:
    return grid_end(STEP, 120)


def _busy_namespace(namespace: str, pool: str, ts: np.ndarray, end: float) -> list[SyntheticSeries]:
    cause, effect = end - 20 * 60, end - 17 * 60
    api = {"namespace": namespace, "service": "api"}
    series = [
        SyntheticSeries(
            "api_error_ratio", api, ts, np.clip(noisy(ts, 0.01, 0.002, 1, steps=[(effect, 0.3)]), 0, 1)
        )
    ]
    for p, pod in enumerate(PODS):
        labels = {**api, "pod": pod}
        series += [
            SyntheticSeries(name, labels, ts, noisy(ts, 20.0 + m, 1.0, 100 * p + m))
            for m, name in enumerate(NOISE)
        ]
        in_use = noisy(ts, 10.0, 1.0, 1000 + p, steps=[(cause, POOL_SIZE)] if p == 3 else [])
        series += [
            SyntheticSeries(f"{pool}_in_use", labels, ts, np.clip(in_use, 0, POOL_SIZE)),
            SyntheticSeries(f"{pool}_max", labels, ts, np.full(ts.size, POOL_SIZE)),
        ]
    return series


def _histogram_namespace(ts: np.ndarray) -> list[SyntheticSeries]:
    """A service's histogram, request counter (with its `_created`) and Go runtime gauge."""
    requests = np.cumsum(np.full(ts.size, 20.0 * STEP))
    series = [
        SyntheticSeries(
            "checkout_latency_seconds",
            {"namespace": "hist", "service": "checkout"},
            ts,
            noisy(ts, 0.2, 0.01, 2),
        ),
        SyntheticSeries("http_request_duration_seconds_count", HIST, ts, requests, "counter"),
        SyntheticSeries("http_request_duration_seconds_sum", HIST, ts, requests * 0.05, "counter"),
        SyntheticSeries("http_requests_total", HIST, ts, requests, "counter"),
        SyntheticSeries("http_requests_created", HIST, ts, np.full(ts.size, ts[0])),
        SyntheticSeries("go_goroutines", HIST, ts, noisy(ts, 40, 2, 3)),
    ]
    for le, share in (("0.1", 0.9), ("0.5", 0.99), ("+Inf", 1.0)):
        series.append(
            SyntheticSeries("http_request_duration_seconds_bucket", {**HIST, "le": le}, ts, requests * share)
        )
    return series


@pytest.fixture(scope="module")
def series(end: float) -> list[SyntheticSeries]:
    ts = np.arange(end - 3 * 3600, end + STEP, STEP)
    out = [s for namespace, pool in POOLS.items() for s in _busy_namespace(namespace, pool, ts, end)]
    edge = {"namespace": "edge", "job": "edge", "pod": "edge-1"}
    out += [
        SyntheticSeries("up", edge, ts, np.zeros(ts.size)),
        SyntheticSeries("edge_requests_in_flight", edge, ts, noisy(ts, 5, 1, 4)),
    ]
    return out + _histogram_namespace(ts)


@pytest.fixture
def prometheus(backfilled_prometheus: ManagedProcess) -> ManagedProcess:
    """The package's `source` asks the Prometheus holding this module's series."""
    return backfilled_prometheus


def _api_incident(namespace: str, end: float, expr: str | None = None):
    labels = {"alertname": "APIErrors", "namespace": namespace, "service": "api", "severity": "critical"}
    expr = expr or f'api_error_ratio{{namespace="{namespace}",service="api"}} > 0.1'
    return firing_incident(end - 15 * 60, labels, expr)


async def _api_evidence(url: str, namespace: str, end: float, expr: str | None = None) -> Evidence:
    async with source_at(url, max_points_per_series=30_000) as source:
        return await collect_alert_context(_api_incident(namespace, end, expr), source, SETTINGS, now=end)


@pytest.mark.parametrize("namespace", POOLS)
async def test_the_pool_is_found_whatever_its_name_sorts_like(
    backfilled_backend: ManagedProcess, end: float, namespace: str
) -> None:
    evidence = await _api_evidence(backfilled_backend.url, namespace, end)

    pool = POOLS[namespace]
    kept = {(s.metric, s.labels.get("pod")) for s in evidence.series}
    assert {(f"{pool}_{part}", pod) for part in ("in_use", "max") for pod in PODS} <= kept
    assert sum(s.role == "related" for s in evidence.series) == SETTINGS.max_related_series
    # before: "limited to 20 of 200", the lookup's answer cut in the backend's order
    assert any(note.startswith("related series limited to 20 of at least 256") for note in evidence.notes)

    diagnosis = await BuiltinAnalyst().diagnose(evidence)
    assert diagnosis.primary_hypothesis.category.value == "dependency.database"
    assert f'{pool}_in_use{{namespace="{namespace}",pod="{PODS[3]}",service="api"}}' in (
        diagnosis.primary_hypothesis.suspect
    )


async def test_a_constant_size_is_a_flat_series_beside_its_use(
    backfilled_prometheus: ManagedProcess, end: float
) -> None:
    """Before: `available: false, "insufficient data: constant series"`, counted as unavailable."""
    evidence = await _api_evidence(backfilled_prometheus.url, "last", end)

    sizes = [s for s in evidence.series if s.metric == "zz_pool_connections_max"]
    assert len(sizes) == len(PODS)
    assert all(s.available and not s.anomalous for s in sizes)
    assert all(s.baseline == s.current == POOL_SIZE and s.magnitude == 0.0 for s in sizes)
    assert all(s.available for s in evidence.series)
    assert "(21 with data, 8 of them flat, 0 unavailable)" in data_examination(evidence)


async def test_buckets_and_created_stay_out_whatever_the_user_excludes(
    source: PrometheusSource, end: float
) -> None:
    """Before: a user's `exclude_metrics` replaced the defaults, and the buckets came back raw."""
    labels = {"alertname": "CheckoutSlow", "namespace": "hist", "service": "checkout"}
    incident = firing_incident(end - 600, labels, 'checkout_latency_seconds{namespace="hist"} > 1')
    settings = ContextSettings(exclude_metrics=["go_.*"], step_seconds=STEP)
    evidence = await collect_alert_context(incident, source, settings, now=end)

    metrics = {s.metric for s in evidence.series if s.role == "related"}
    assert metrics == {
        "http_request_duration_seconds_count",
        "http_request_duration_seconds_sum",
        "http_request_duration_seconds:mean",
        "http_requests_total",
    }


def test_a_bucket_is_a_counter_by_its_name() -> None:
    """A bucket counts like its `_count`: were one among the related series, it would go under rate()."""
    assert is_counter_name("http_request_duration_seconds_bucket")


async def test_comments_in_the_alert_expression_are_not_in_its_series_id(
    backfilled_prometheus: ManagedProcess, end: float
) -> None:
    expr = '# errors\nmax by (namespace, service) (api_error_ratio{namespace="first"}) # of any pod\n > 0.1'
    evidence = await _api_evidence(backfilled_prometheus.url, "first", end, expr)

    alert = next(s for s in evidence.series if s.role == "alert")
    assert alert.series_id == (
        '{__name__="max by (namespace, service) (api_error_ratio{namespace=\\"first\\"})",'
        'namespace="first",service="api"}'
    )


async def test_an_alert_whose_series_has_no_labels_says_why_nothing_is_related(
    source: PrometheusSource, end: float
) -> None:
    """`absent(...)` gives a series without labels: every label of the alert is taken for one its rule
    added. Before, the note said the alert had no identifying labels, though it has three."""
    labels = {"alertname": "EdgeAbsent", "namespace": "edge", "job": "edge", "pod": "edge-1"}
    incident = firing_incident(end - 600, labels, 'absent(up{job="edge",pod="edge-1"} == 1)')
    evidence = await collect_alert_context(incident, source, ContextSettings(step_seconds=STEP), now=end)

    assert evidence.notes == (
        "the alert's identifying labels (pod, job, namespace) are not on its series (as of absent() or an "
        "aggregation without by): they were taken for labels its rule added, so no related series were "
        "looked up",
    )
    [alert] = evidence.series
    assert alert.available and alert.baseline == alert.current == 1.0  # flat: the target stayed down


@pytest.fixture
async def series_refused(backfilled_prometheus: ManagedProcess, aiohttp_server) -> AsyncIterator[str]:
    """The Prometheus behind a proxy that answers 503 to /api/v1/series (an overloaded querier)."""

    async def forward(request: web.Request) -> web.Response:
        if request.path.endswith("/api/v1/series"):
            return web.Response(status=503, text="Service Unavailable")
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                f"{backfilled_prometheus.url}{request.path_qs}",
                data=await request.read(),
                headers={"Content-Type": request.headers.get("Content-Type", "")},
            ) as answer,
        ):
            return web.Response(
                status=answer.status, body=await answer.read(), content_type="application/json"
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    server = await aiohttp_server(app)
    yield str(server.make_url("")).rstrip("/")


async def test_the_alert_is_no_cause_of_itself_when_its_related_series_cannot_be_read(
    series_refused: str, end: float
) -> None:
    """Before: "Undetermined cause: api_error_ratio{...}" at 50 %, the alert named as its own cause, and
    the summary silent about the related series."""
    evidence = await _api_evidence(series_refused, "last", end)
    diagnosis = await BuiltinAnalyst().diagnose(evidence)

    related = [s for s in evidence.series if s.role == "related"]
    assert [s.available for s in related] == [False]
    assert related[0].unavailable_reason is not None and "503" in related[0].unavailable_reason
    primary = diagnosis.primary_hypothesis
    assert primary.title == "Cause not determined: related series unavailable"
    assert primary.confidence == 0.05 and "api_error_ratio" not in primary.suspect
    assert "the series related to the alert could not be read (unreachable: HTTP 503" in (
        diagnosis.executive_summary
    )
