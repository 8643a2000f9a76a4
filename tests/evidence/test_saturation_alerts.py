"""awesome-prometheus-alerts' `redis_connected_clients / redis_config_maxclients * 100 > 90`: a cache's
clients leak until every one of its 1,000 is taken. Before, the use and the size behind the ratio were left
out as "the raw series behind the alert's own expression", so "at its limit" could never be said; and the
market open twenty minutes earlier (the cache's traffic rose with it) made the cache's own series a mere
symptom: an unrelated rollout's restart or the traded volume was named the cause. Through a real
Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.related import rank_related
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
END = math.floor(time.time() / STEP) * STEP - 120
EXPR = "redis_connected_clients / redis_config_maxclients * 100 > 90 and redis_config_maxclients > 0"
OPEN = END - 1500  # the market opens; the cache's traffic and clients rise a little with it
LEAK = END - 720  # the leak begins; every client is taken four minutes later
CACHE = {"namespace": "trading", "service": "quote-cache-redis", "pod": "quote-cache-redis-0"}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    market = (ts >= OPEN).astype(float)
    clients = noisy(ts, 187, 4, 0) + 60 * market + np.clip((ts - LEAK) / 240, 0, 1) * 800
    clients = np.minimum(np.round(clients), 1000)
    volume = np.cumsum(
        (2e5 + 2e6 * market) * STEP * (1 + 0.02 * np.random.default_rng(1).normal(size=ts.size))
    )
    restarts = (ts >= END - 480).astype(float)
    series = [
        SyntheticSeries("redis_connected_clients", CACHE, ts, clients),
        SyntheticSeries("redis_config_maxclients", CACHE, ts, np.full(ts.size, 1000.0)),
        SyntheticSeries(
            "redis_commands_processed_total",
            CACHE,
            ts,
            np.cumsum((3e3 + 2e4 * market) * STEP),
            kind="counter",
        ),
        SyntheticSeries(
            "traded_volume_total",
            {
                "namespace": "trading",
                "service": "pricing",
                "pod": "pricing-7f6d5c4b3-p4d7s",
                "venue": "binance",
            },
            ts,
            volume,
            kind="counter",
        ),
        SyntheticSeries(
            "kube_pod_container_status_restarts_total",
            {"namespace": "trading", "pod": "position-ui-5d4c6b7a8-r2n8m", "container": "position-ui"},
            ts,
            restarts,
            kind="counter",
        ),
    ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("saturation-alerts"), series)
    yield proc
    proc.stop()


async def test_a_cache_whose_clients_ran_out_is_its_own_cause(prometheus: ManagedProcess) -> None:
    labels = {"alertname": "RedisTooManyConnections", "severity": "warning", **CACHE}
    incident = firing_incident(END - 180, labels, EXPR)
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(incident, source, ContextSettings(), now=END)
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis

    metrics = {s.metric for s in evidence.series if s.available}
    assert {"redis_connected_clients", "redis_config_maxclients"} <= metrics, metrics
    assert primary.suspect.startswith("redis_connected_clients{"), primary
    assert "quote-cache-redis" in primary.title, primary


def test_only_a_use_and_its_size_behind_the_alerts_expression_are_kept() -> None:
    own = {"service": "api", "pod": "api-0"}
    found = [
        {"__name__": "http_errors_total", **own},
        {"__name__": "db_pool_in_use", **own},
        {"__name__": "db_pool_max", **own},
        {"__name__": "process_resident_memory_bytes", **own},
    ]
    expr = "rate(http_errors_total[5m]) > 1 or db_pool_in_use / db_pool_max > 0.9"

    class Alert:  # the alert's own series as fetched: the expression's, without a name
        data = type("Data", (), {"labels": own})()

    kept = rank_related(found, [("service", "api")], expr, [Alert()], ContextSettings())  # type: ignore[list-item]
    assert [item["__name__"] for item in kept] == [
        "db_pool_in_use",
        "db_pool_max",
        "process_resident_memory_bytes",
    ]


def test_series_carrying_the_alerts_venue_are_kept_first_among_equally_specific_ones() -> None:
    """The gateway's latency to `lmax` fired; of 200 related series of 273 the connector's round trip to
    lmax was cut and its round trip to binance kept (the audit's rtt_vs_deploy)."""
    connector = {"namespace": "trading", "service": "exchange-connector", "pod": "exchange-connector-0"}
    found = [{"__name__": "a_metric", **connector, "venue": venue} for venue in ("binance", "cme", "deribit")]
    found += [{"__name__": "exchange_ws_rtt_seconds", **connector, "venue": v} for v in ("binance", "lmax")]
    alert = {"alertname": "OrderExecutionLatencyHigh", "namespace": "trading", "service": "order-gateway"}
    identifying = [("service", "order-gateway"), ("namespace", "trading")]

    untied = rank_related(found, identifying, None, [], ContextSettings(), alert)
    tied = rank_related(found, identifying, None, [], ContextSettings(), {**alert, "venue": "lmax"})
    assert untied[0]["venue"] != "lmax"
    assert tied[0] == {"__name__": "exchange_ws_rtt_seconds", **connector, "venue": "lmax"}
    assert len(tied) == len(untied) == len(found)
