"""Typed records that cross module boundaries inside the receiver."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

IncidentStatus = Literal["firing", "resolved"]
IncidentSource = Literal["alertmanager", "detector", "on_demand"]

STAGES = ("announce", "collect_evidence", "detect", "diagnose", "deliver")
"""The pipeline's stages in order; an incident's `stage` is the next one to run, or `DONE`."""
DONE = "done"


@dataclass(frozen=True)
class Incident:
    """One alert occurrence, keyed by (fingerprint, starts_at). Times are Unix seconds."""

    id: str
    fingerprint: str
    starts_at: float
    ends_at: float | None
    status: IncidentStatus
    alertname: str
    severity: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    generator_url: str
    group_key: str
    source: IncidentSource
    first_seen: float
    last_seen: float
    stage: str


def incident_id_for(fingerprint: str, starts_at: float) -> str:
    """Deterministic id of one alert occurrence (fingerprint, startsAt)."""
    digest = hashlib.sha256(f"{fingerprint}|{starts_at:.6f}".encode()).hexdigest()
    return f"inc-{digest[:16]}"


def new_incident(
    *,
    fingerprint: str,
    starts_at: float,
    ends_at: float | None,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    generator_url: str,
    group_key: str,
    source: IncidentSource,
    now: float,
    stage: str = STAGES[0],
    status: IncidentStatus | None = None,
    alertname: str | None = None,
    severity: str | None = None,
) -> Incident:
    """An occurrence seen first `now`: id from (fingerprint, starts_at), resolved when it has an end."""
    return Incident(
        id=incident_id_for(fingerprint, starts_at),
        fingerprint=fingerprint,
        starts_at=starts_at,
        ends_at=ends_at,
        status=status or ("resolved" if ends_at is not None else "firing"),
        alertname=labels.get("alertname", "") if alertname is None else alertname,
        severity=labels.get("severity", "warning") if severity is None else severity,
        labels=labels,
        annotations=annotations,
        generator_url=generator_url,
        group_key=group_key,
        source=source,
        first_seen=now,
        last_seen=now,
        stage=stage,
    )
