"""Helpers of evidence tests: a firing Alertmanager incident, the end of a synthetic grid, a source."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.promql import generator_url_for
from receiver.evidence.settings import PrometheusSettings
from receiver.models import Incident


def firing_incident(at: float, labels: Mapping[str, str], expr: str, incident_id: str = "inc-1") -> Incident:
    """An incident that started firing at `at`, its generatorURL carrying `expr` (the rule's expression)."""
    return Incident(
        id=incident_id,
        fingerprint=incident_id,
        starts_at=at,
        ends_at=None,
        status="firing",
        alertname=labels["alertname"],
        severity=labels.get("severity", "critical"),
        labels=dict(labels),
        annotations={},
        generator_url=generator_url_for("http://prometheus.invalid:9090", expr),
        group_key="{}:{}",
        source="alertmanager",
        first_seen=at,
        last_seen=at,
        stage="received",
    )


def grid_end(step: float, margin: float) -> float:
    """The newest time on a `step` grid, `margin` seconds back from now (the series' last sample)."""
    return math.floor(time.time() / step) * step - margin


@asynccontextmanager
async def source_at(url: str, **settings: object) -> AsyncIterator[PrometheusSource]:
    """A PrometheusSource on `url` without retries, closed afterwards."""
    source = PrometheusSource(PrometheusSettings(url=url, retries=0, timeout_seconds=5, **settings))
    try:
        yield source
    finally:
        await source.close()
