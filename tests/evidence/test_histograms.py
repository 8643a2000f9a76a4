"""Timing histograms among the related series: their mean is the latency, their count the traffic.

Through a real Prometheus: `checkout` gets three times slower at the same traffic, `search` six times
busier at the same latency, and the entry service's latency alert fires two minutes later. Either one's
`_sum` rate rises; only the mean (`rate(_sum) / rate(_count)`) tells which got slower.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from analyst.builtin.entities import SeriesKind, rank_entities, series_kind
from analyst.evidence import Evidence
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, grid_end

STEP = 15.0
HISTORY = 4 * 3600.0
HISTOGRAM = "http_server_request_duration_seconds"
# service -> (requests per second before, after; mean seconds before, after)
SERVICES = {"checkout": (20.0, 20.0, 0.05, 0.15), "search": (20.0, 120.0, 0.05, 0.05)}
ALERT_EXPR = 'frontend_latency_p90_seconds{namespace="shop",service="frontend"} > 0.5'


@pytest.fixture(scope="module")
def end() -> float:
    return grid_end(STEP, 60)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, end: float) -> Iterator[ManagedProcess]:
    ts = np.arange(end - HISTORY, end + STEP, STEP)
    cause = end - 20 * 60
    series = [
        SyntheticSeries(
            "frontend_latency_p90_seconds",
            {"namespace": "shop", "service": "frontend"},
            ts,
            noisy(ts, 0.2, 0.01, 1, steps=[(cause + 120, 0.9)]),
        )
    ]
    for seed, (service, (rps, rps_after, mean, mean_after)) in enumerate(SERVICES.items()):
        labels = {"namespace": "shop", "service": service, "job": service, "instance": f"{service}:8080"}
        rate = np.clip(noisy(ts, rps, 0.5, 10 + seed, steps=[(cause, rps_after)]), 0.0, None)
        seconds = np.clip(noisy(ts, mean, 0.002, 20 + seed, steps=[(cause, mean_after)]), 0.0, None)
        count = np.cumsum(rate * STEP)
        series += [
            SyntheticSeries(f"{HISTOGRAM}_count", labels, ts, count, kind="counter"),
            SyntheticSeries(f"{HISTOGRAM}_sum", labels, ts, np.cumsum(rate * seconds * STEP), kind="counter"),
        ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("histograms"), series)
    yield proc
    proc.stop()


async def _evidence(source: PrometheusSource, end: float, **settings: float) -> Evidence:
    at = end - 20 * 60 + 180
    labels = {"alertname": "FrontendSlow", "namespace": "shop", "service": "frontend"}
    incident = firing_incident(at, labels, ALERT_EXPR, "inc-hist")
    return await collect_alert_context(incident, source, ContextSettings(**settings), now=at + 120)


@pytest.mark.parametrize(
    ("settings", "window"),
    [
        ({"step_seconds": 25.0}, "[62500ms]"),  # rate() over 2.5 steps: PromQL has no `62.5s`
        ({"step_seconds": 7.5}, "[60s]"),  # the API's step: `7.5`, not `7.5s`
        ({"rate_window_seconds": 90.25}, "[90250ms]"),
    ],
)
async def test_fractional_steps_and_rate_windows_are_valid_promql(
    source: PrometheusSource, end: float, settings: dict[str, float], window: str
):
    evidence = await _evidence(source, end, **settings)

    means = [s for s in evidence.series if s.metric == f"{HISTOGRAM}:mean"]
    assert len(means) == 2 and all(window in s.query and s.available for s in means), [s.query for s in means]
    assert not any("bad_query" in (s.unavailable_reason or "") for s in evidence.series)


async def test_the_mean_of_a_timing_histogram_is_derived_per_series(source: PrometheusSource, end: float):
    evidence = await _evidence(source, end)

    means = {s.labels["service"]: s for s in evidence.series if s.metric == f"{HISTOGRAM}:mean"}
    assert set(means) == set(SERVICES)
    checkout, search = means["checkout"], means["search"]
    assert (
        checkout.query.startswith(f"rate({HISTOGRAM}_sum{{")
        and f"/ rate({HISTOGRAM}_count{{" in checkout.query
    )
    assert checkout.anomalous and checkout.baseline == pytest.approx(0.05, rel=0.1)
    assert not search.anomalous and search.baseline == pytest.approx(0.05, rel=0.1)


async def test_the_slower_service_is_blamed_not_the_busier_one(source: PrometheusSource, end: float):
    evidence = await _evidence(source, end)

    ranked = [e.name for e in rank_entities(evidence) if e.name in SERVICES]
    assert ranked == ["checkout", "search"]  # before: search's request count ranked as latency, first


def test_a_timing_histograms_count_is_traffic_and_its_sum_busy_time():
    assert series_kind(f"{HISTOGRAM}_count") is SeriesKind.THROUGHPUT
    assert series_kind(f"{HISTOGRAM}_sum") is SeriesKind.OTHER
    assert series_kind(f"{HISTOGRAM}:mean") is SeriesKind.LATENCY
    assert series_kind("pg_stat_activity_count") is SeriesKind.OTHER  # not a histogram's: as before
