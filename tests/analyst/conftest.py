"""Builders for analyst evidence: one incident whose alert fired at ALERT_AT."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from analyst.builtin import Playbooks, load_playbooks
from analyst.evidence import AlertInfo, Evidence, SeriesEvidence

ALERT_AT = 1_700_000_000.0


def series(
    series_id: str,
    *,
    metric: str | None = None,
    component: str | None = None,
    anomalous: bool = True,
    onset_min: float | None = None,
    direction: str = "up",
    z: float = 6.0,
    corr: float | None = 0.8,
    baseline: float = 1.0,
    current: float = 3.0,
    role: str = "related",
    labels: Mapping[str, str] | None = None,
    recovered_min: float | None = None,
) -> SeriesEvidence:
    """A series; `onset_min` and `recovered_min` (back to normal) are minutes relative to the alert
    (negative = before)."""
    return SeriesEvidence(
        series_id=series_id,
        metric=metric or series_id.split("{")[0],
        labels=dict(labels or {}),
        role=role,  # type: ignore[arg-type]
        anomalous=anomalous,
        anomaly_type="level_shift" if anomalous else None,
        onset=None if onset_min is None or not anomalous else ALERT_AT + 60 * onset_min,
        recovered=None if recovered_min is None or not anomalous else ALERT_AT + 60 * recovered_min,
        direction=direction if anomalous else None,  # type: ignore[arg-type]
        baseline=baseline,
        current=current if anomalous else baseline,
        z_score=z if anomalous else 0.4,
        p_value=1e-6 if anomalous else 0.4,
        score=z,
        correlation=corr,
        component=component,
        points=60,
    )


def incident(
    alert: SeriesEvidence,
    *others: SeriesEvidence,
    topology: Mapping[str, Sequence[str]] | None = None,
    alertname: str = "HighErrorRate",
) -> Evidence:
    """Evidence with `alert` as the alert's own series and `others` as related series."""
    from dataclasses import replace

    alert = replace(alert, role="alert", lag_seconds=0.0)
    return Evidence(
        incident_id="inc-1",
        alert=AlertInfo(
            alertname=alertname,
            status="firing",
            labels={"alertname": alertname, "service": alert.component or "svc"},
            annotations={"summary": "test"},
            starts_at=ALERT_AT,
        ),
        series=(alert, *others),
        window_start=ALERT_AT - 3600,
        window_end=ALERT_AT + 600,
        alert_series_id=alert.series_id,
        topology={k: tuple(v) for k, v in (topology or {}).items()},
    )


@pytest.fixture(scope="session")
def playbooks() -> Playbooks:
    return load_playbooks(None)
