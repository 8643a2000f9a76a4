"""Evidence: what the analyst reasons from (built by the receiver from Prometheus and the detectors)."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, PlainSerializer, TypeAdapter, with_config

SeriesRole = Literal["alert", "related", "context"]
Direction = Literal["up", "down"]
_JSON = ConfigDict(ser_json_inf_nan="constants")


@with_config(_JSON)
@dataclass(frozen=True)
class AlertInfo:
    """The alert that opened the incident (times are Unix seconds). `active_since`: when its condition
    began to hold (Prometheus' `ALERTS_FOR_STATE`), before `starts_at` by the rule's `for:`; None unknown."""

    alertname: str
    status: Literal["firing", "resolved"]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None = None
    severity: str = "warning"
    expr: str | None = None
    source: Literal["alertmanager", "detector", "on_demand"] = "alertmanager"
    active_since: float | None = None


def _pack_points(points: tuple[float | None, ...]) -> str:
    packed = struct.pack(f"<{len(points)}d", *(math.nan if v is None else v for v in points))
    return base64.b64encode(packed).decode("ascii")


def _unpack_points(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    raw = base64.b64decode(value)
    return tuple(None if math.isnan(v) else v for v in struct.unpack(f"<{len(raw) // 8}d", raw))


# In JSON, the points are one base64 string of little-endian float64 (NaN: no sample): a fraction of the
# size of a JSON list and one value to encode, which matters with hundreds of series per incident.
PackedPoints = Annotated[
    tuple[float | None, ...],
    BeforeValidator(_unpack_points),
    PlainSerializer(_pack_points, return_type=str, when_used="json"),
]


@with_config(_JSON)
@dataclass(frozen=True)
class SeriesValues:
    """A series' values on a regular grid: `values[i]` at `start + i * step` (None: no sample there)."""

    start: float
    step: float
    values: PackedPoints


@with_config(_JSON)
@dataclass(frozen=True)
class SeriesEvidence:
    """One series looked at around the alert, and what detection found in it.

    `lag_seconds` > 0 means this series changed *before* the alert's own series (it leads).
    `recovered` is when an anomalous series came back within its baseline band for good (None: it had not).
    `component` names where the series lives (service, pod, node...) for topology reasoning.
    `values` are the fetched points themselves (possibly coarsened), for analysts that score their own way.
    """

    series_id: str
    metric: str
    labels: Mapping[str, str]
    role: SeriesRole
    query: str = ""
    available: bool = True
    unavailable_reason: str | None = None
    anomalous: bool = False
    anomaly_type: str | None = None
    onset: float | None = None
    recovered: float | None = None
    direction: Direction | None = None
    magnitude: float | None = None
    baseline: float | None = None
    current: float | None = None
    z_score: float | None = None
    p_value: float | None = None
    score: float = 0.0
    correlation: float | None = None
    lag_seconds: float | None = None
    component: str | None = None
    points: int = 0
    values: SeriesValues | None = None


@with_config(_JSON)
@dataclass(frozen=True)
class Precedent:
    """A judged past incident that looked like this one (from the receiver's memory).

    `suspect`/`category` are what was diagnosed then; `actual_*` what the judge said it really was.
    """

    incident_id: str
    similarity: float
    verdict: Literal["correct", "wrong", "partly"]
    category: str
    suspect: str
    actual_category: str | None = None
    actual_cause: str | None = None
    note: str | None = None
    seen_at: float = 0.0

    @property
    def confirmed_cause(self) -> tuple[str | None, str | None]:
        """(cause, category) known to be right, or (None, None)."""
        if self.verdict == "correct":
            return self.actual_cause or self.suspect, self.actual_category or self.category
        if self.actual_cause or self.actual_category:
            return self.actual_cause, self.actual_category
        return None, None


@with_config(_JSON)
@dataclass(frozen=True)
class Evidence:
    """All series evidence for one incident, plus optional call-graph topology (caller -> callees)."""

    incident_id: str
    alert: AlertInfo
    series: tuple[SeriesEvidence, ...]
    window_start: float
    window_end: float
    alert_series_id: str | None = None
    topology: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    precedents: tuple[Precedent, ...] = ()

    @property
    def anomalous(self) -> tuple[SeriesEvidence, ...]:
        return tuple(s for s in self.series if s.anomalous)


def evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    """JSON-ready form of Evidence (for storage and the API); NaN and infinities stay floats."""
    return EVIDENCE.dump_python(evidence, mode="json")


def evidence_from_dict(data: Mapping[str, Any]) -> Evidence:
    """Inverse of `evidence_to_dict`."""
    return EVIDENCE.validate_python(dict(data))


EVIDENCE: TypeAdapter[Evidence] = TypeAdapter(Evidence)
