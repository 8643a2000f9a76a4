"""Evidence on a two-hour grid a minute apart whose alert fires near its end (entity-ranking tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from analyst.evidence import AlertInfo, Evidence, SeriesEvidence, SeriesValues

STEP = 60.0
START = 1_700_000_000.0
POINTS = 120  # two hours a minute apart
ALERT_AT = START + 115 * STEP  # changes made at point 113 start 2 minutes before the alert


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
