"""Builds the pipeline's plug-ins (metric source, analyst, delivery, scheduler) from the settings."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from analyst.builtin import BuiltinAnalyst
from analyst.llm import build_analyst
from receiver.config import Settings
from receiver.detection.api import rule_routes
from receiver.detection.scheduler import DetectionScheduler, DetectorFinding
from receiver.evidence.prometheus import PrometheusSource
from receiver.keys import METRICS, PIPELINE
from receiver.models import Incident
from receiver.pipeline import ResolveFn, StageFn
from receiver.stages import StagePlugins, build_stages, load_diagnosis
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store

if TYPE_CHECKING:
    from receiver.delivery.service import DeliveryService

log = structlog.get_logger("receiver.components")

Hook = Callable[[], Awaitable[None]]


@dataclass
class Components:
    stages: dict[str, StageFn] = field(default_factory=dict)
    on_resolved: ResolveFn | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    starters: list[Hook] = field(default_factory=list)
    intake_stoppers: list[Hook] = field(default_factory=list)
    closers: list[Hook] = field(default_factory=list)
    routes: list[web.RouteDef] = field(default_factory=list)

    async def start(self) -> None:
        for hook in self.starters:
            await hook()

    async def stop_intake(self) -> None:
        for hook in self.intake_stoppers:
            await hook()


def detector_incident(finding: DetectorFinding, now: float) -> Incident:
    """The incident a scheduled-detection finding opens (source "detector", its own group)."""
    detection = finding.detection
    labels = finding.labels
    summary = (
        f"{detection.anomaly_type} on {detection.series}: {detection.direction or 'change'}"
        f" (confidence {detection.confidence:.0%}, rule {finding.rule.name})"
    )
    return Incident(
        id=db_incidents.incident_id_for(finding.fingerprint, finding.starts_at),
        fingerprint=finding.fingerprint,
        starts_at=finding.starts_at,
        ends_at=None,
        status="firing",
        alertname=finding.alertname,
        severity=finding.severity,
        labels=labels,
        annotations={"summary": summary, "detector_method": detection.method},
        generator_url=f"/graph?g0.expr={quote_plus(finding.rule.query)}",
        group_key=f"detector:{finding.rule.name}:{finding.fingerprint}",
        source="detector",
        first_seen=now,
        last_seen=now,
        stage=db_incidents.STAGES[0],
    )


def _delivery_service(
    settings: Settings, store: Store, registry: CollectorRegistry, session: aiohttp.ClientSession
) -> DeliveryService | None:
    """The outbox-backed delivery service, or None when no destination is configured."""
    destinations = (settings.grafana, settings.slack, settings.pagerduty, settings.outgoing_webhook)
    if not any(d.enabled for d in destinations):
        return None
    from receiver.delivery.service import DeliveryService  # Slack SDK and sinks only when used

    return DeliveryService(
        store,
        grafana=settings.grafana,
        slack=settings.slack,
        pagerduty=settings.pagerduty,
        outgoing_webhook=settings.outgoing_webhook,
        noise=settings.noise,
        public_url=settings.web.public_url,
        registry=registry,
        session=session,
    )


async def build_components(app: web.Application, settings: Settings, store: Store) -> Components:
    """Metric source, analyst, delivery and scheduled detection, each closed in reverse order."""
    components = Components()
    registry = app[METRICS].registry
    session = aiohttp.ClientSession()
    components.closers.append(session.close)

    source = PrometheusSource(settings.prometheus, registry=registry)
    components.closers.append(source.close)

    analyst = build_analyst(
        settings.analyst.backend, settings.llm, BuiltinAnalyst(settings.analyst), registry
    )
    close_analyst = getattr(analyst, "aclose", None)
    if close_analyst is not None:
        components.closers.append(close_analyst)

    delivery = _delivery_service(settings, store, registry, session)
    if delivery is not None:
        components.starters.append(delivery.start)
        components.closers.append(delivery.stop)

    async def on_anomaly(finding: DetectorFinding) -> str | None:
        incident = detector_incident(finding, time.time())
        if await store.write(db_incidents.create_incident, incident):
            app[METRICS].incidents_created.labels("detector").inc()
            app[PIPELINE].submit([incident.id])
            log.info("detector_incident", incident_id=incident.id, rule=finding.rule.name)
        return incident.id

    scheduler = DetectionScheduler(
        store, source, settings.detection, on_anomaly=on_anomaly, registry=registry
    )
    components.starters.append(scheduler.start)
    components.intake_stoppers.append(scheduler.stop)

    async def on_resolved(incident: Incident) -> None:
        if delivery is not None:
            await delivery.on_incident_resolved(incident, await load_diagnosis(store, incident.id))

    components.routes = rule_routes(scheduler)
    components.stages = build_stages(StagePlugins(source, settings.context, analyst, delivery))
    components.on_resolved = on_resolved
    components.extras = {"source": source, "analyst": analyst, "delivery": delivery, "scheduler": scheduler}
    return components


async def close_components(components: Components) -> None:
    for hook in reversed(components.closers):
        try:
            await hook()
        except Exception:  # keep closing the others; the failure is logged
            log.exception("close_failed", hook=getattr(hook, "__qualname__", repr(hook)))
