"""More related series match than `context.max_related_series`: ranked by labels alone, each pod keeps
its first few series by kind and name, and the one that moved (a broker's stuck partitions, named last)
is left out. Screened for change first, it is kept; a screen the source refuses leaves the ranked order,
with a note. Through a real Prometheus."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.fetching import FetchScope, Window
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.screening import ScreenQuery, moved_first, screening_window
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from receiver.evidence.source import MetricSourceError, SeriesData
from receiver.models import Incident
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
END = math.floor(time.time() / STEP) * STEP - 120
STUCK = END - 12 * 60
PODS = [f"worker-{i}" for i in range(7)] + ["events-kafka-1"]
CAUSE = "zz_stuck_partitions"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    stuck = ts >= STUCK
    series = [
        SyntheticSeries(
            "ingest_latency_seconds",
            {"namespace": "data", "service": "ingest-api", "pod": "ingest-api-0"},
            ts,
            noisy(ts, 0.03, 0.002, 1) + np.where(stuck, 0.8, 0.0),
        )
    ]
    for i, pod in enumerate(PODS):
        own = {"namespace": "data", "pod": pod, "service": pod.rsplit("-", 1)[0]}
        series += [
            SyntheticSeries(f"app_gauge_{j:02d}", own, ts, noisy(ts, 100, 2, 100 * i + j)) for j in range(12)
        ]
        if pod == "events-kafka-1":
            series.append(SyntheticSeries(CAUSE, own, ts, np.where(stuck, 40.0, 0.0)))
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("screened-related"), series)
    yield proc
    proc.stop()


def latency_alert() -> Incident:
    labels = {
        "alertname": "IngestLatencyHigh",
        "severity": "critical",
        "namespace": "data",
        "service": "ingest-api",
    }
    expr = 'ingest_latency_seconds{namespace="data", service="ingest-api"} > 0.5'
    return firing_incident(STUCK + 120, labels, expr)


@pytest.mark.parametrize("screened", [0, 2000])
async def test_the_series_that_moved_is_kept_under_the_budget(
    prometheus: ManagedProcess, screened: int
) -> None:
    settings = ContextSettings(max_related_series=40, max_screened_series=screened)
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(latency_alert(), source, settings, now=END)
    related = [s for s in evidence.series if s.role == "related"]
    assert len(related) == 40
    kept = any(s.metric == CAUSE for s in related)
    limited = next(note for note in evidence.notes if note.startswith("related series limited to 40"))
    if not screened:
        assert not kept  # each of the 9 pods' first series by name fill the budget
        assert "changed first" not in limited
        return
    assert kept, limited
    assert "those that changed first" in limited and "of 97 screened" in limited, limited
    cause = next(s for s in related if s.metric == CAUSE)
    assert cause.anomalous and cause.component == "events-kafka", cause


def test_the_screen_reads_no_finer_than_the_analyst() -> None:
    assert screening_window(Window(0.0, 7200.0, 15.0), 240) == Window(0.0, 7200.0, 30.0)
    assert screening_window(Window(0.0, 3600.0, 15.0), 240) == Window(0.0, 3600.0, 15.0)


class _ScreenRefused(PrometheusSource):
    """Prometheus, but the screen's read (a query over many metric names at once) is refused."""

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        if "__name__=~" in query and "app_gauge_00" in query and not query.startswith("count"):
            raise MetricSourceError("too_large", "the query would load too many samples")
        return await super().query_range(query, start, end, step)


async def test_a_screen_the_source_refuses_leaves_the_ranked_order(prometheus: ManagedProcess) -> None:
    settings = ContextSettings(max_related_series=40)
    source = _ScreenRefused(PrometheusSettings(url=prometheus.url, retries=0, timeout_seconds=5))
    try:
        evidence = await collect_alert_context(latency_alert(), source, settings, now=END)
    finally:
        await source.close()
    related = [s for s in evidence.series if s.role == "related"]
    assert len(related) == 40 and all(s.available for s in related)
    assert not any(s.metric == CAUSE for s in related)  # the ranked order's first 40, as without a screen
    assert any(note.startswith("related series not screened for change (") for note in evidence.notes)
    assert any(note == "related series limited to 40 of 97" for note in evidence.notes), evidence.notes


class _Recorded:
    """A MetricSource whose range queries return fixed series (whatever the selector), counting the calls."""

    def __init__(self, series: list[SeriesData]) -> None:
        self.data, self.queries = series, 0

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        self.queries += 1
        return self.data


def test_the_budget_takes_what_changed_first_then_the_rest_in_ranked_order_and_a_counter_by_its_rate() -> (
    None
):
    ts = np.arange(0.0, 7200.0, 60.0)
    calm = noisy(ts, 100, 2, 1)
    jump = np.where(ts >= 6600, 160.0, 100.0) + noisy(ts, 0, 2, 2)
    steady_counter = np.cumsum(np.full(ts.size, 30.0))
    steady_counter[60:] -= steady_counter[59]  # a restart: the counter starts again, its rate the same
    labels = [{"__name__": f"m{i}", "namespace": "data", "pod": f"p{i}"} for i in range(6)]
    labels[5]["__name__"] = "m5_total"
    values = [calm, calm, calm, calm, jump, steady_counter]
    source = _Recorded([SeriesData(lab, ts, v) for lab, v in zip(labels, values, strict=True)])
    window = Window(0.0, float(ts[-1]), 60.0)
    scope = FetchScope(source, ContextSettings(), window, [])  # type: ignore[arg-type]
    query = ScreenQuery([("namespace", "data")], {}, {"m5_total"})
    screen = asyncio.run(moved_first(labels, 3, 2000, query, scope))
    assert [item["__name__"] for item in screen.kept] == ["m0", "m1", "m4"]  # m4 moved; then m0, m1
    assert (screen.moved, screen.screened, source.queries) == (1, 6, 1)
    off = asyncio.run(moved_first(labels, 3, 3, query, scope))  # a cap at the budget: no screen
    assert [item["__name__"] for item in off.kept] == ["m0", "m1", "m2"] and off.moved is None


def test_the_size_of_a_use_that_moved_is_kept_beside_it() -> None:
    """A limit seldom moves, yet without it the analyst cannot tell a container at its memory limit (or a
    pool at its maximum) from one that grew from 10 %: kept with the use that moved, not the other sizes."""
    ts = np.arange(0.0, 7200.0, 60.0)
    calm = noisy(ts, 100, 2, 1)
    climb = np.where(ts >= 6000, 100.0 + (ts - 6000) * 0.5, 100.0) + noisy(ts, 0, 2, 3)
    pod = {"namespace": "data", "container": "app"}
    labels = [
        {"__name__": "aaa_other", "namespace": "data", "pod": "a"},
        {"__name__": "container_memory_working_set_bytes", **pod, "pod": "a"},
        {"__name__": "container_memory_working_set_bytes", **pod, "pod": "b"},
        {"__name__": "kube_pod_container_resource_limits", **pod, "pod": "a", "resource": "memory"},
        {"__name__": "kube_pod_container_resource_limits", **pod, "pod": "a", "resource": "cpu"},
        {"__name__": "kube_pod_container_resource_limits", **pod, "pod": "b", "resource": "memory"},
        {"__name__": "db_pool_connections_active", "namespace": "data", "pod": "a"},
        {"__name__": "db_pool_connections_max", "namespace": "data", "pod": "a"},
        {"__name__": "db_pool_connections_max", "namespace": "data", "pod": "b"},
    ]
    values = [calm, climb, calm, calm, calm, calm, climb, calm, calm]
    source = _Recorded([SeriesData(lab, ts, v) for lab, v in zip(labels, values, strict=True)])
    scope = FetchScope(source, ContextSettings(), Window(0.0, float(ts[-1]), 60.0), [])  # type: ignore[arg-type]
    screen = asyncio.run(moved_first(labels, 4, 2000, ScreenQuery([("namespace", "data")], {}, ()), scope))
    kept = [(item["__name__"], item["pod"], item.get("resource")) for item in screen.kept]
    assert kept == [
        ("container_memory_working_set_bytes", "a", None),
        ("kube_pod_container_resource_limits", "a", "memory"),
        ("db_pool_connections_active", "a", None),
        ("db_pool_connections_max", "a", None),
    ]
    assert screen.moved == 2  # the sizes are kept for the uses, not counted as moved
    # ranked past the budget behind other series that moved, a size still comes with its use
    movers = [{"__name__": f"moved_{i}", "namespace": "data", "pod": "c"} for i in range(4)]
    ranked = [labels[1], *movers, labels[3]]
    source.data = [SeriesData(lab, ts, climb if lab is not labels[3] else calm) for lab in ranked]
    screen = asyncio.run(moved_first(ranked, 4, 2000, ScreenQuery([("namespace", "data")], {}, ()), scope))
    pairs = [(item["__name__"], item["pod"]) for item in screen.kept]
    assert pairs == [
        ("container_memory_working_set_bytes", "a"),
        ("moved_0", "c"),
        ("moved_1", "c"),
        ("kube_pod_container_resource_limits", "a"),
    ]


def test_a_counter_of_rare_events_is_judged_over_the_evidences_rate_window() -> None:
    """Five restarts in the last nine minutes of two hours, read every 30 s: as increases per step they are
    five ones among zeros, which the change test cannot tell from noise (p 0.02); over the evidence's
    rate() window (60 s, two steps), as the evidence will read them, they are a change."""
    ts = np.arange(0.0, 7230.0, 30.0)
    restarts = np.zeros(ts.size)
    for at in (223, 225, 228, 233, 240):
        restarts[at:] += 1
    labels = [{"__name__": f"m{i}", "namespace": "data", "pod": f"p{i}"} for i in range(3)]
    labels.append({"__name__": "kube_pod_container_status_restarts_total", "namespace": "data", "pod": "p3"})
    values = [noisy(ts, 100, 2, i) for i in range(3)] + [restarts]
    source = _Recorded([SeriesData(lab, ts, v) for lab, v in zip(labels, values, strict=True)])
    scope = FetchScope(source, ContextSettings(), Window(0.0, float(ts[-1]), 30.0), [])  # type: ignore[arg-type]
    counters = {"kube_pod_container_status_restarts_total"}
    per_step = asyncio.run(
        moved_first(labels, 2, 2000, ScreenQuery([("namespace", "data")], {}, counters), scope)
    )
    assert per_step.moved == 0
    query = ScreenQuery([("namespace", "data")], {}, counters, rate_seconds=60.0)
    screen = asyncio.run(moved_first(labels, 2, 2000, query, scope))
    assert screen.moved == 1
    assert [item["pod"] for item in screen.kept] == ["p0", "p3"]
