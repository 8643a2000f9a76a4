"""The receiver's own Prometheus metrics, on a registry per application (no global state)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from receiver import __version__

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(frozen=True)
class ReceiverMetrics:
    registry: CollectorRegistry
    webhook_requests: Counter
    alerts_received: Counter
    open_incidents: Gauge
    queue_depth: Gauge
    stage_duration: Histogram
    stage_failures: Counter
    incidents_created: Counter
    notifications_pending: Gauge
    feedback: Counter


def create_metrics(registry: CollectorRegistry | None = None) -> ReceiverMetrics:
    registry = registry or CollectorRegistry()
    build = Info("alert_analyst_build", "Version of alert-analyst.", registry=registry)
    build.info({"version": __version__})
    return ReceiverMetrics(
        registry=registry,
        webhook_requests=Counter(
            "alert_analyst_webhook_requests",
            "Webhook requests answered, by HTTP status code.",
            ["code"],
            registry=registry,
        ),
        alerts_received=Counter(
            "alert_analyst_alerts_received",
            "Alerts received in accepted webhooks, by alert status.",
            ["status"],
            registry=registry,
        ),
        open_incidents=Gauge(
            "alert_analyst_open_incidents", "Incidents whose alert is still firing.", registry=registry
        ),
        queue_depth=Gauge(
            "alert_analyst_queue_depth", "Incidents waiting for a pipeline worker.", registry=registry
        ),
        stage_duration=Histogram(
            "alert_analyst_stage_duration_seconds",
            "Duration of pipeline stages.",
            ["stage", "outcome"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        ),
        stage_failures=Counter(
            "alert_analyst_stage_failures",
            "Pipeline stages that raised or timed out.",
            ["stage"],
            registry=registry,
        ),
        incidents_created=Counter(
            "alert_analyst_incidents_created",
            "Incidents created, by source.",
            ["source"],
            registry=registry,
        ),
        notifications_pending=Gauge(
            "alert_analyst_notifications_pending",
            "Acknowledged notifications not yet turned into incidents.",
            registry=registry,
        ),
        feedback=Counter(
            "alert_analyst_feedback",
            "Judgements of diagnoses, by verdict and the judged diagnosis' category and backend.",
            ["verdict", "category", "backend"],
            registry=registry,
        ),
    )
