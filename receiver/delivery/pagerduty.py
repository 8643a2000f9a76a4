"""PagerDuty sink: Events API v2 trigger for serious diagnoses, resolve when the alert group resolves.

The dedup_key is a hash of the Alertmanager groupKey, so every event of a group lands on one
PagerDuty alert. The routing key is added at send time and never stored in the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import sqlite_utils

from analyst.diagnosis import DiagnosisResult
from analyst.llm.redact import redact_document, redact_secrets
from receiver.delivery.errors import PermanentDeliveryError, RetryableDeliveryError
from receiver.delivery.http_errors import error_for_status
from receiver.delivery.protocol import Delivery
from receiver.delivery.settings import PagerDutySettings
from receiver.delivery.severity import normalise_severity
from receiver.delivery.summary import IncidentLinks, group_dedup_key, group_of, hypothesis_line, percent
from receiver.models import Incident

DESTINATION = "pagerduty"
QUEUE = DESTINATION
TRIGGER, RESOLVE = "trigger", "resolve"
SUMMARY_LIMIT = 1024


def _summary(incident: Incident, diagnosis: DiagnosisResult) -> str:
    text = redact_secrets(
        f"[{incident.severity}] {incident.alertname}: {diagnosis.primary_hypothesis.title} "
        f"(confidence {percent(diagnosis.confidence_score)})"
    )
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def build_trigger(incident: Incident, diagnosis: DiagnosisResult, links: IncidentLinks) -> dict[str, Any]:
    """A trigger event without `routing_key` (added when sending), secrets redacted."""
    primary = diagnosis.primary_hypothesis
    labels = incident.labels
    group = labels.get("team") or labels.get("namespace") or labels.get("cluster")
    event: dict[str, Any] = {
        "event_action": TRIGGER,
        "dedup_key": group_dedup_key(group_of(incident)),
        "payload": {
            "summary": _summary(incident, diagnosis),
            "source": labels.get("instance") or labels.get("job") or labels.get("service") or "alert-analyst",
            "severity": normalise_severity(incident.severity),
            "timestamp": datetime.fromtimestamp(incident.starts_at, UTC).isoformat(timespec="milliseconds"),
            "component": labels.get("job") or labels.get("service") or incident.alertname,
            "class": primary.category.value,
            "custom_details": {
                "incident_id": incident.id,
                "alertname": incident.alertname,
                "labels": dict(labels),
                "executive_summary": diagnosis.executive_summary,
                "primary_hypothesis": {
                    "title": primary.title,
                    "category": primary.category.value,
                    "suspect": primary.suspect,
                    "confidence": primary.confidence,
                    "supporting_evidence": list(primary.supporting_evidence),
                },
                "alternative_hypotheses": [hypothesis_line(h) for h in diagnosis.alternative_hypotheses],
                "immediate_actions": list(diagnosis.immediate_actions),
                "confidence": diagnosis.confidence_score,
                "diagnosis_url": links.ui,
            },
        },
        "links": [
            {"href": links.ui, "text": "alert-analyst diagnosis"},
            {"href": links.api, "text": "Diagnosis (JSON)"},
        ],
        "client": "alert-analyst",
        "client_url": links.ui,
    }
    if group:
        event["payload"]["group"] = group
    return dict(redact_document(event, keep=("dedup_key",)))


def build_resolve(group_key: str) -> dict[str, Any]:
    return {"event_action": RESOLVE, "dedup_key": group_dedup_key(group_key)}


class PagerDutySink:
    destination = DESTINATION

    def __init__(self, settings: PagerDutySettings, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._url = settings.url
        self._routing_key = settings.routing_key_value() or ""
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)

    async def send(self, delivery: Delivery) -> dict[str, Any]:
        event = {"routing_key": self._routing_key, **delivery.payload["event"]}
        try:
            async with self._session.post(
                self._url, json=event, timeout=self._timeout, allow_redirects=False
            ) as response:
                text = await response.text()
                if response.status != 202:
                    raise error_for_status("pagerduty", response.status, text, response.headers)
                answer = await response.json(content_type=None) if text else {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"pagerduty: {type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, dict):
            raise PermanentDeliveryError(f"pagerduty: unexpected answer {text[:200]!r}")
        return {"dedup_key": answer.get("dedup_key", event["dedup_key"])}

    async def recover(self, delivery: Delivery) -> dict[str, Any] | None:
        """Events are idempotent per dedup_key while the alert is open: resend."""
        return None

    def record_result(self, db: sqlite_utils.Database, delivery: Delivery, result: Mapping[str, Any]) -> None:
        return None
