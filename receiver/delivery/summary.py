"""Plain-text pieces every destination shares: diagnosis links, durations, the one-line cause."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from analyst.builtin.playbooks import follow_up_actions
from analyst.diagnosis import DiagnosisResult, Hypothesis
from receiver.models import Incident


@dataclass(frozen=True)
class IncidentLinks:
    ui: str
    api: str


def incident_links(public_url: str, incident_id: str) -> IncidentLinks:
    base = public_url.rstrip("/")
    return IncidentLinks(
        ui=f"{base}/ui/incidents/{incident_id}", api=f"{base}/api/v1/incidents/{incident_id}"
    )


def format_duration(seconds: float) -> str:
    """`1h 02m`, `5m 03s`, `42s`."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def percent(confidence: float) -> str:
    return f"{round(confidence * 100)}%"


def hypothesis_line(hypothesis: Hypothesis) -> str:
    return f"{hypothesis.title} ({hypothesis.category.value}, {percent(hypothesis.confidence)})"


def cause_line(diagnosis: DiagnosisResult) -> str:
    primary = diagnosis.primary_hypothesis
    return f"{primary.title} (confidence {percent(diagnosis.confidence_score)})"


def actions_title(incident: Incident, diagnosis: DiagnosisResult) -> str:
    """What a diagnosis' `immediate_actions` are: follow-ups when it was analysed for the resolved alert
    (the analysts write them so), else mitigations. A reused analysis (`cached`, or recalled from
    memory) was written for an earlier, possibly firing, alert."""
    fresh = not diagnosis.cached and diagnosis.backend != "memory"
    return "Follow-up actions" if incident.status == "resolved" and fresh else "Immediate actions"


def closing_diagnosis(
    incident: Incident, diagnosis: DiagnosisResult, follow_up: tuple[str, ...] | None = None
) -> DiagnosisResult:
    """The diagnosis as a resolution's messages carry it: `follow_up` (those of the recovery checked at
    resolution), else the playbooks' follow-ups, as its actions instead of the firing-time mitigations
    (the stored diagnosis is usually the firing-time one, whatever the alert's status now)."""
    actions = follow_up or follow_up_actions(diagnosis.primary_hypothesis, incident.alertname)
    return replace(diagnosis, immediate_actions=actions)


def alert_summary(incident: Incident) -> str:
    """The alert's own summary annotation, or its name."""
    annotations = incident.annotations
    return annotations.get("summary") or annotations.get("description") or incident.alertname


def group_of(incident: Incident) -> str:
    """The alert group: Alertmanager's groupKey, or the incident itself for detector/on-demand incidents."""
    return incident.group_key or f"incident:{incident.id}"


def similarity_key(incident: Incident, category: str) -> str:
    """Same alertname, labels and diagnosed category: the unit of the noise cooldown."""
    canonical = json.dumps([incident.alertname, sorted(incident.labels.items()), category])
    return hashlib.sha256(canonical.encode()).hexdigest()


def group_dedup_key(group_key: str) -> str:
    """A stable, short key per alert group (PagerDuty dedup_key)."""
    return "alert-analyst-" + hashlib.sha256(group_key.encode()).hexdigest()[:40]
