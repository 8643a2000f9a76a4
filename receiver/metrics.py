"""The receiver's own Prometheus metrics, on a registry per application (no global state)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    Metric,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from receiver import __version__
from receiver.logs import dropped_log_lines
from receiver.storage.search_index import SEARCH_INDEXES

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# The webhook's rejections (README, "Webhook"): exported at 0 from the start, so that the first one is an
# increase that AlertAnalystWebhookRejected sees, not a series born at 1.
WEBHOOK_REJECTION_CODES = ("400", "401", "405", "413", "415", "422")


class ReplaceableCollectors(Collector):
    """Exposes the collectors of `current`, a registry that a configuration reload replaces whole: the
    metric source and the analyst are rebuilt then, and their counters start again from zero."""

    def __init__(self) -> None:
        self.current = CollectorRegistry()

    def collect(self) -> Iterable[Metric]:
        return self.current.collect()

    def describe(self) -> Iterable[Metric]:
        return []  # names are not reserved in the parent registry: they change with each reload


class DroppedLogLines(Collector):
    """`alert_analyst_log_lines_dropped_total`: the log lines stderr refused (receiver/logs.py), a count
    of the process that logging keeps across configuration reloads."""

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            "alert_analyst_log_lines_dropped",
            "Log lines dropped because stderr refused them (disk full, closed, its reader gone).",
            value=dropped_log_lines(),
        )


@dataclass(frozen=True)
class ReceiverMetrics:
    registry: CollectorRegistry
    reloadable: ReplaceableCollectors
    config_reload_successful: Gauge
    config_reload_success_time: Gauge
    webhook_requests: Counter
    http_responses: Counter
    alerts_received: Counter
    alerts_truncated: Counter
    open_incidents: Gauge
    queue_depth: Gauge
    stage_duration: Histogram
    stage_failures: Counter
    incidents_created: Counter
    incidents_superseded: Counter
    notifications_pending: Gauge
    storage_wal_bytes: Gauge
    storage_database_bytes: Gauge
    feedback: Counter
    retention_deleted: Counter
    retention_last_prune: Gauge
    retention_prune_duration: Gauge
    retention_failures: Counter
    search_index_rebuilds: Counter


@cache
def build_revision() -> str:
    """The source revision: $ALERT_ANALYST_REVISION (set by the image build), else the git checkout's HEAD."""
    if revision := os.environ.get("ALERT_ANALYST_REVISION", "").strip():
        return revision
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def create_metrics(registry: CollectorRegistry | None = None) -> ReceiverMetrics:
    """The receiver's metrics plus the process and platform collectors, on `registry` (new by default)."""
    registry = registry or CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    build = Info("alert_analyst_build", "Version and source revision of alert-analyst.", registry=registry)
    build.info({"version": __version__, "revision": build_revision()})
    reloadable = ReplaceableCollectors()
    registry.register(reloadable)
    registry.register(DroppedLogLines())
    webhook_requests = Counter(
        "alert_analyst_webhook_requests",
        "Webhook requests answered, by HTTP status code.",
        ["code"],
        registry=registry,
    )
    for code in WEBHOOK_REJECTION_CODES:
        webhook_requests.labels(code)
    search_index_rebuilds = Counter(
        "alert_analyst_search_index_rebuilds",
        "Full-text indexes rebuilt from the primary tables because they were found damaged, by index.",
        ["index"],
        registry=registry,
    )
    for index in SEARCH_INDEXES:  # at 0 from the start: the first rebuild is an increase
        search_index_rebuilds.labels(index)
    return ReceiverMetrics(
        registry=registry,
        reloadable=reloadable,
        config_reload_successful=Gauge(
            "alert_analyst_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful (1 also before any reload).",
            registry=registry,
        ),
        config_reload_success_time=Gauge(
            "alert_analyst_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load (start-up or reload).",
            registry=registry,
        ),
        http_responses=Counter(
            "alert_analyst_http_responses",
            "Answers of every HTTP endpoint, by route template and status code.",
            ["route", "code"],
            registry=registry,
        ),
        webhook_requests=webhook_requests,
        alerts_received=Counter(
            "alert_analyst_alerts_received",
            "Alerts received in accepted webhooks, by alert status.",
            ["status"],
            registry=registry,
        ),
        alerts_truncated=Counter(
            "alert_analyst_alerts_truncated",
            "Alerts Alertmanager left out of accepted webhooks (truncatedAlerts: the webhook's max_alerts);"
            " they are never tracked.",
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
        incidents_superseded=Counter(
            "alert_analyst_incidents_superseded",
            "Incidents closed because their alert fired again (a newer startsAt for the same fingerprint).",
            registry=registry,
        ),
        notifications_pending=Gauge(
            "alert_analyst_notifications_pending",
            "Acknowledged notifications not yet turned into incidents.",
            registry=registry,
        ),
        storage_wal_bytes=Gauge(
            "alert_analyst_storage_wal_bytes", "Size of the SQLite write-ahead log.", registry=registry
        ),
        storage_database_bytes=Gauge(
            "alert_analyst_storage_database_bytes", "Size of the SQLite database file.", registry=registry
        ),
        feedback=Counter(
            "alert_analyst_feedback",
            "Judgements of diagnoses, by verdict and the judged diagnosis' category and backend.",
            ["verdict", "category", "backend"],
            registry=registry,
        ),
        retention_deleted=Counter(
            "alert_analyst_retention_deleted",
            "Rows deleted by the retention prune (storage.retention_days), by table.",
            ["table"],
            registry=registry,
        ),
        retention_last_prune=Gauge(
            "alert_analyst_retention_last_prune_timestamp_seconds",
            "Unix time the last retention prune finished (0: none yet).",
            registry=registry,
        ),
        retention_prune_duration=Gauge(
            "alert_analyst_retention_prune_duration_seconds",
            "How long the last retention prune took, batches and pauses between them included.",
            registry=registry,
        ),
        retention_failures=Counter(
            "alert_analyst_retention_failures",
            "Retention prunes that raised (logged; retried at the next interval).",
            registry=registry,
        ),
        search_index_rebuilds=search_index_rebuilds,
    )
