"""Evidence on a two-hour grid a minute apart whose alert fires near its end (entity-ranking tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from analyst.evidence import AlertInfo, Evidence, SeriesEvidence, SeriesValues

STEP = 60.0
START = 1_700_000_000.0
POINTS = 120  # two hours a minute apart
ALERT_POINT = 115
ALERT_AT = START + ALERT_POINT * STEP
CHANGED_AT = 113  # a change made here starts two minutes before the alert


def grid_noise(level: float, spread: float, seed: int) -> np.ndarray:
    """`level` plus normal noise of sd `spread` at every point of the grid (seeded)."""
    return level + np.random.default_rng(seed).normal(0.0, spread, POINTS)


def grid_step(level: float, spread: float, seed: int, after: float, at: int = CHANGED_AT) -> np.ndarray:
    """`level` + noise, and `after` + noise from point `at` on (seeded)."""
    values = grid_noise(level, spread, seed)
    values[at:] = grid_noise(after, spread, seed + 1)[at:]
    return values


def labelled(series: SeriesEvidence, **labels: str) -> SeriesEvidence:
    """`series` with `labels` added (to its labels and its id)."""
    merged = {**series.labels, **labels}
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(merged.items()) if k != "__name__")
    return dataclasses.replace(series, labels=merged, series_id=f"{series.metric}{{{inner}}}")


def grid_series(
    metric: str, service: str, values: Iterable[float], role: str = "related", **fields: Any
) -> SeriesEvidence:
    """`metric{service="..."}` of component `service` with `values` on the grid (and other `fields`)."""
    return SeriesEvidence(
        series_id=f'{metric}{{service="{service}"}}',
        metric=metric,
        labels={"__name__": metric, "service": service},
        role=role,  # type: ignore[arg-type]
        component=service,
        values=SeriesValues(START, STEP, tuple(float(v) for v in values)),
        points=POINTS,
        **fields,
    )


def grid_evidence(
    series: Sequence[SeriesEvidence],
    alert_service: str = "frontend",
    topology: Mapping[str, tuple[str, ...]] | None = None,
    alertname: str = "EntryLatencyHigh",
) -> Evidence:
    """`series` as the evidence of an `alertname` alert on `alert_service`, with `topology`."""
    alert = AlertInfo(
        alertname=alertname,
        status="firing",
        labels={"alertname": alertname, "service": alert_service},
        annotations={},
        starts_at=ALERT_AT,
    )
    return Evidence(
        incident_id="inc-1",
        alert=alert,
        series=tuple(series),
        window_start=START,
        window_end=START + (POINTS - 1) * STEP,
        topology=dict(topology or {}),
    )


def caller_of_a_leak(
    b_memory: np.ndarray,
    b_cpu: np.ndarray,
    a_latency: np.ndarray,
    a_errors: np.ndarray,
    a_cpu: np.ndarray,
    a_memory: np.ndarray,
    topology: Mapping[str, tuple[str, ...]] | None = None,
) -> Evidence:
    """A callee b whose memory is `b_memory` (a leak, in the tests) and its caller a, which alerts on its
    latency (ALatencyHigh): each component's memory and CPU, a's latency and error ratio."""
    return grid_evidence(
        [
            grid_series("container_memory_working_set_bytes", "b", b_memory),
            grid_series("pod_cpu_usage_percent", "b", b_cpu),
            grid_series("http_latency_p90_seconds", "a", a_latency, "alert"),
            grid_series("http_error_ratio", "a", a_errors),
            grid_series("pod_cpu_usage_percent", "a", a_cpu),
            grid_series("container_memory_working_set_bytes", "a", a_memory),
        ],
        alert_service="a",
        topology=topology,
        alertname="ALatencyHigh",
    )
