"""DeliveryService: writes diagnoses back to Grafana, Slack, PagerDuty and a generic webhook.

Events become outbox rows first (`DeliveryPlanner`, one transaction each), then per-queue workers
send them (`Outbox`). The pipeline never waits for a destination.
"""

from __future__ import annotations

import time

import aiohttp
import structlog
from prometheus_client import CollectorRegistry

from analyst.diagnosis import DiagnosisResult
from receiver.delivery.grafana import DESTINATION as GRAFANA
from receiver.delivery.grafana import GrafanaSink
from receiver.delivery.outbox import DeliveryMetrics, Outbox, RetryPolicy
from receiver.delivery.outgoing_webhook import DESTINATION as OUTGOING_WEBHOOK
from receiver.delivery.outgoing_webhook import OutgoingWebhookSink
from receiver.delivery.pagerduty import DESTINATION as PAGERDUTY
from receiver.delivery.pagerduty import PagerDutySink
from receiver.delivery.planner import DeliveryPlanner, Plan
from receiver.delivery.protocol import Sink
from receiver.delivery.recovery import RecoveryCheck
from receiver.delivery.requeue import requeue_rejected_credentials
from receiver.delivery.settings import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    SlackSettings,
)
from receiver.delivery.severity import UNKNOWN_AS, is_known_severity, severity_at_least, severity_key
from receiver.delivery.slack import DESTINATION as SLACK
from receiver.delivery.slack import SlackSink
from receiver.models import Incident
from receiver.storage.database import Store
from receiver.storage.outbox import SUPPRESSED, deliveries_of

log = structlog.get_logger(__name__)

# The destinations in the order of the settings tuple (grafana, slack, pagerduty, outgoing_webhook).
DESTINATIONS = (GRAFANA, SLACK, PAGERDUTY, OUTGOING_WEBHOOK)
MAX_UNKNOWN_SEVERITIES_LOGGED = 100  # distinct values: a sender of random labels cannot grow the set


class DeliveryService:
    """Owns the outbox, its workers and the HTTP session of the sinks (unless one is passed in)."""

    def __init__(
        self,
        store: Store,
        *,
        grafana: GrafanaSettings,
        slack: SlackSettings,
        pagerduty: PagerDutySettings,
        outgoing_webhook: OutgoingWebhookSettings,
        noise: NoiseSettings,
        public_url: str,
        registry: CollectorRegistry | None = None,
        session: aiohttp.ClientSession | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self._store = store
        self._settings = (grafana, slack, pagerduty, outgoing_webhook)
        self._planner = DeliveryPlanner(slack, grafana, pagerduty, outgoing_webhook, noise, public_url)
        self._metrics = DeliveryMetrics(registry if registry is not None else CollectorRegistry())
        self._policy = retry_policy or RetryPolicy()
        self._session = session
        self._owns_session = session is None
        self._outbox: Outbox | None = None
        self._unknown_severities: set[str] = set()  # the values warned about, kept across reloads

    async def reconfigure(
        self,
        *,
        grafana: GrafanaSettings,
        slack: SlackSettings,
        pagerduty: PagerDutySettings,
        outgoing_webhook: OutgoingWebhookSettings,
        noise: NoiseSettings,
        public_url: str,
    ) -> None:
        """New destinations' settings (a configuration reload): the outbox workers stop, the planner and
        sinks are rebuilt, and the workers resume every pending row with the new sinks. A destination whose
        settings changed (loaded settings compare their secret files' contents too) gets its rows that failed
        on refused credentials again, while their incident is open (a fixed Grafana token draws the firing
        alert's region, a Slack token its thread)."""
        await self.stop()
        new = (grafana, slack, pagerduty, outgoing_webhook)
        changed = [name for name, s, old in zip(DESTINATIONS, new, self._settings, strict=True) if s != old]
        self._settings = new
        self._planner = DeliveryPlanner(slack, grafana, pagerduty, outgoing_webhook, noise, public_url)
        requeued = await self._store.run(requeue_rejected_credentials, changed, time.time())
        if requeued:
            log.info("delivery.requeued_after_reload", count=requeued, destinations=changed)
        await self.start()

    def _build_sinks(self, session: aiohttp.ClientSession) -> dict[str, Sink]:
        grafana, slack, pagerduty, outgoing_webhook = self._settings
        sinks: list[Sink] = []
        if grafana.enabled:
            sinks.append(GrafanaSink(grafana, session))
        if slack.enabled:
            sinks.append(SlackSink(slack, session))
        if pagerduty.enabled:
            sinks.append(PagerDutySink(pagerduty, session))
        if outgoing_webhook.enabled:
            sinks.append(OutgoingWebhookSink(outgoing_webhook, session))
        return {sink.destination: sink for sink in sinks}

    async def start(self) -> None:
        """Resume what a previous run left (reconciling interrupted sends) and start the queue workers."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        sinks = self._build_sinks(self._session)
        self._outbox = Outbox(self._store, sinks, self._policy, self._metrics)
        await self._outbox.start()
        log.info("delivery.started", destinations=sorted(sinks))

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        if self._outbox is not None:
            await self._outbox.stop(timeout)
            self._outbox = None
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _dispatch(self, plan: Plan) -> None:
        for destination in plan.suppressed:
            self._metrics.deliveries.labels(destination, SUPPRESSED).inc()
        if self._outbox is None:
            return  # rows wait in the outbox until start()
        for queue in plan.queues:
            self._outbox.wake(queue)

    def _check_severity(self, severity: str) -> None:
        """Count an alert whose severity is unknown, and warn once per value (up to a bound): it counts as
        warning, so at the default `pagerduty.min_severity` it never pages."""
        if is_known_severity(severity):
            return
        self._metrics.unknown_severities.inc()
        key = severity_key(severity)
        if key in self._unknown_severities or len(self._unknown_severities) >= MAX_UNKNOWN_SEVERITIES_LOGGED:
            return
        self._unknown_severities.add(key)
        _, _, pagerduty, _ = self._settings
        log.warning(
            "delivery.unknown_severity",
            severity=severity,
            counted_as=UNKNOWN_AS,
            pages=pagerduty.enabled and severity_at_least(severity, pagerduty.min_severity),
            pagerduty_min_severity=pagerduty.min_severity,
            hint="use critical, error, warning or info (or an alias listed in the README)",
        )

    async def on_incident_firing(self, incident: Incident) -> None:
        """Parent message for a new alert group, or a reply in the group's thread."""
        self._check_severity(incident.severity)
        self._dispatch(await self._store.run(self._planner.plan_firing, incident, time.time()))

    async def on_diagnosis(
        self, incident: Incident, diagnosis: DiagnosisResult, repeat_of: str | None = None
    ) -> None:
        """Thread reply, Grafana region, PagerDuty trigger (at or above min_severity), webhook. When the
        analysis repeats `repeat_of`'s (the same alert, analysed moments ago), recorded as suppressed where
        that one's still shows: its open Slack thread, its PagerDuty alert while triggered."""
        plan = await self._store.run(
            self._planner.plan_diagnosis, incident, diagnosis, time.time(), repeat_of
        )
        self._dispatch(plan)

    async def on_incident_resolved(
        self, incident: Incident, diagnosis: DiagnosisResult | None, recovery: RecoveryCheck | None = None
    ) -> None:
        """Close the Grafana region; once the whole group resolved, mark the Slack parent resolved and
        post the closing summary; resolve PagerDuty once no alert of the group at or above its
        min_severity fires. Each carries follow-ups, and says how the alert recovered when `recovery` was
        checked at resolution."""
        plan = await self._store.run(self._planner.plan_resolved, incident, diagnosis, time.time(), recovery)
        self._dispatch(plan)

    async def list_deliveries(self, incident_id: str) -> list[dict[str, object]]:
        return await self._store.run(deliveries_of, incident_id)

    @property
    def store(self) -> Store:
        return self._store

    @property
    def outbox(self) -> Outbox | None:
        """The running outbox (None before `start` and after `stop`)."""
        return self._outbox
