"""A firing Alertmanager incident for evidence tests: its labels, its start and its rule's expression."""

from __future__ import annotations

from collections.abc import Mapping

from receiver.evidence.promql import generator_url_for
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
