"""A known-cause incident: the DB pool saturates at T, the order error ratio follows at T+3 min."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from demo.tsdb import SyntheticSeries, noisy
from receiver.evidence.promql import generator_url_for
from receiver.models import Incident

STEP = 15.0
HISTORY = 8 * 3600.0
ALERT_EXPR = 'demo_order_error_ratio{service="orders"} > 0.1'


@dataclass(frozen=True)
class Scenario:
    end: float
    cause_at: float
    effect_at: float
    series: tuple[SyntheticSeries, ...]

    def incident(self, generator_url: str | None = None, **changes: object) -> Incident:
        labels = {
            "alertname": "OrderErrorsHigh",
            "job": "shop",
            "service": "orders",
            "instance": "orders-1:8080",
            "severity": "critical",
            "team": "checkout",
            "cluster": "eu-1",
        }
        fields: dict[str, object] = dict(
            id="inc-1",
            fingerprint="f00d",
            starts_at=self.effect_at + 60,
            ends_at=None,
            status="firing",
            alertname="OrderErrorsHigh",
            severity="critical",
            labels=labels,
            annotations={"summary": "order errors above 10%"},
            generator_url=generator_url_for("http://prometheus.invalid:9090", ALERT_EXPR)
            if generator_url is None
            else generator_url,
            group_key="{}:{}",
            source="alertmanager",
            first_seen=self.effect_at + 60,
            last_seen=self.effect_at + 60,
            stage="received",
        )
        fields.update(changes)
        return Incident(**fields)  # type: ignore[arg-type]


def causal_scenario(now: float | None = None) -> Scenario:
    now = time.time() if now is None else now
    end = math.floor(now / STEP) * STEP - 60
    ts = np.arange(end - HISTORY, end + STEP, STEP)
    cause_at = end - 40 * 60
    effect_at = cause_at + 180
    shop = {"job": "shop", "namespace": "prod"}

    def gauge(metric: str, labels: dict[str, str], values: np.ndarray) -> SyntheticSeries:
        return SyntheticSeries(metric, {**shop, **labels}, ts, values)

    requests_total = np.cumsum(np.full(ts.size, 50.0 * STEP)) + np.random.default_rng(9).normal(0, 5, ts.size)
    series = (
        gauge(
            "demo_db_pool_in_use",
            {"service": "postgres", "instance": "db-1:5432"},
            np.clip(noisy(ts, 20, 2, 1, steps=[(cause_at, 100)]), 0, 100),
        ),
        gauge(
            "demo_order_error_ratio",
            {"service": "orders", "instance": "orders-1:8080"},
            np.clip(noisy(ts, 0.01, 0.002, 2, steps=[(effect_at, 0.25)]), 0, 1),
        ),
        gauge(
            "demo_cpu_usage_ratio", {"service": "frontend", "instance": "web-1:8080"}, noisy(ts, 0.4, 0.02, 3)
        ),
        gauge(
            "demo_queue_depth", {"service": "billing", "instance": "billing-1:8080"}, noisy(ts, 12, 1.0, 4)
        ),
        gauge(
            "demo_memory_bytes", {"service": "search", "instance": "search-1:8080"}, noisy(ts, 2e9, 1e7, 5)
        ),
        SyntheticSeries(
            "demo_http_requests_total",
            {**shop, "service": "catalog", "instance": "cat-1:8080"},
            ts,
            np.maximum.accumulate(requests_total),
            kind="counter",
        ),
        SyntheticSeries(
            "demo_other_team_latency_seconds",
            {"job": "elsewhere", "service": "x"},
            ts,
            noisy(ts, 0.2, 0.01, 6, steps=[(cause_at, 2.0)]),
        ),
    )
    return Scenario(end, cause_at, effect_at, series)
