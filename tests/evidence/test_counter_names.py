"""A gauge whose name ends in `_count` (postgres_exporter's `pg_stat_activity_count`) is fetched as it is,
not under rate(); a histogram's `_count` still is, through a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import fetch_alert_context
from receiver.evidence.fetching import FetchScope, Window, counter_metrics
from receiver.evidence.promql import family_siblings
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
DB = {"instance": "db:9187", "job": "postgres"}
ACTIVE = {**DB, "datname": "shop", "state": "active"}
HISTOGRAM = "pg_query_duration_seconds"
END = math.floor(time.time() / STEP) * STEP - 120


def test_family_siblings_of_count_and_sum_names() -> None:
    assert family_siblings("x_count") == ("x_sum", "x_bucket")
    assert family_siblings("x_sum") == ("x_count", "x_bucket")
    assert family_siblings("x_total") == family_siblings("x") == ()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    connections = np.where(ts < END - 900, 40.0, 95.0)
    queries = np.cumsum(np.full(ts.size, 600.0))
    series = [
        SyntheticSeries("pg_replication_lag_seconds", DB, ts, noisy(ts, 1, 0.1, 0, steps=[(END - 900, 60)])),
        SyntheticSeries("pg_stat_activity_count", ACTIVE, ts, connections),
        SyntheticSeries(f"{HISTOGRAM}_count", DB, ts, queries, "counter"),
        SyntheticSeries(f"{HISTOGRAM}_sum", DB, ts, queries * 0.01, "counter"),
        SyntheticSeries(f"{HISTOGRAM}_bucket", {**DB, "le": "+Inf"}, ts, queries, "counter"),
    ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("counter-names"), series)
    yield proc
    proc.stop()


async def test_a_count_gauge_is_raw_and_a_histogram_count_is_rated(prometheus: ManagedProcess) -> None:
    incident = firing_incident(END - 600, {"alertname": "PgLag", **DB}, "pg_replication_lag_seconds > 30")
    async with source_at(prometheus.url) as source:
        context = await fetch_alert_context(incident, source, ContextSettings(), now=END)

    by_metric = {f.metric: f for f in context.fetched}
    gauge = by_metric["pg_stat_activity_count"]
    assert not gauge.query.startswith("rate(")
    assert gauge.data.values[0] == 40.0 and gauge.data.values[-1] == 95.0
    count = by_metric[f"{HISTOGRAM}_count"]
    assert count.query.startswith("rate(")
    assert np.allclose(count.data.values, 10.0)  # 600 per minute


async def test_siblings_not_among_the_found_series_are_asked_for(prometheus: ManagedProcess) -> None:
    groups = {
        name: [labels] for name, labels in (("pg_stat_activity_count", ACTIVE), (f"{HISTOGRAM}_count", DB))
    }
    async with source_at(prometheus.url) as source:
        scope = FetchScope(source, ContextSettings(), Window(END - 3600, END, STEP), [])
        counters = await counter_metrics(groups, set(groups), scope)

    assert counters == {f"{HISTOGRAM}_count"}
