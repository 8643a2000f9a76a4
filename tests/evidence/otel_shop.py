"""A three-service shop measured through OpenTelemetry beside cAdvisor, for the OpenTelemetry label tests:
the payments pod's CPU rises at `cause`, and two minutes later the frontend's latency."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from demo.tsdb import SyntheticSeries, noisy
from tests.evidence.alerts import grid_end

STEP = 60.0
KUBELET = {"job": "kubelet", "service": "kube-prometheus-stack-kubelet"}
PODS = {  # service -> (pod, CPU cores after the cause)
    "frontend": ("frontend-5d9f8b6c5d-x2k4p", 0.2),
    "payments": ("payments-7c8d7f9b4-qw7zt", 0.9),
    "catalog": ("catalog-6b7c9d8f5-m4n8r", 0.2),
}


def shop_end() -> float:
    """The newest grid time the shop's series reach (two minutes back from now)."""
    return grid_end(STEP, 120)


def timeline(end: float) -> tuple[np.ndarray, float]:
    """Four hours of one-minute points up to `end`, and the cause's time (20 minutes before it)."""
    return np.arange(end - 4 * 3600, end + STEP, STEP), end - 20 * 60


def shop_series(end: float, app: Callable[[int, str, str], Mapping[str, str]]) -> list[SyntheticSeries]:
    """Per service: its latency p90 under the labels `app(index, service, pod)` gives, and its pod's CPU as
    cAdvisor counts it under the kubelet's labels."""
    ts, cause = timeline(end)
    series = []
    for seed, (service, (pod, cores)) in enumerate(PODS.items()):
        slow = [(cause + 120, 1.5)] if service == "frontend" else []
        latency = np.clip(noisy(ts, 0.1, 0.005, seed, steps=slow), 0.0, None)
        busy = np.clip(noisy(ts, 0.2, 0.01, 10 + seed, steps=[(cause, cores)]), 0.0, None)
        cadvisor = {**KUBELET, "namespace": "shop", "pod": pod, "container": "server"}
        series.append(
            SyntheticSeries("http_server_latency_p90_seconds", app(seed, service, pod), ts, latency)
        )
        series.append(
            SyntheticSeries(
                "container_cpu_usage_seconds_total", cadvisor, ts, np.cumsum(busy * STEP), kind="counter"
            )
        )
    return series
