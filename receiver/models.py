"""Typed records that cross module boundaries inside the receiver."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

IncidentStatus = Literal["firing", "resolved"]
IncidentSource = Literal["alertmanager", "detector", "on_demand"]


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
