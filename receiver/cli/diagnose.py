"""`alert-analyst diagnose --alert FILE.json`: diagnose one alert now and print the diagnosis."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence, evidence_to_dict
from analyst.llm.redact import redact_secrets
from analyst.report import render_text_report
from analyst.schema import diagnosis_to_dict
from receiver.cli.time_flags import join_relative_times
from receiver.config import Settings, load_settings, validation_summary
from receiver.delivery.readable import readable_diagnosis, without_alert_labels
from receiver.errors import ConfigError, PayloadError, ReceiverError
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.source import MetricSourceError
from receiver.logs import configure_logging
from receiver.models import DONE, Incident, new_incident
from receiver.payload import WebhookAlert, decode_payload_object, parse_alert
from receiver.pipeline.stages import StagePlugins, diagnose_now
from receiver.pipeline.unread import FailureRecordingSource, unread_because
from receiver.times import parse_time
from receiver.web.reload import build_analyst_for, close_analyst

T = TypeVar("T")


class AlertFileError(ReceiverError):
    """The --alert file is not an Alertmanager alert or webhook payload; the message says why, in one line."""


def read_alert_file(path: str) -> tuple[WebhookAlert, str, int]:
    """The alert in `path` (an Alertmanager alert object, or a whole version-4 webhook payload: its first
    alert), the payload's group key, and how many alerts the file holds. Decoded like a webhook body."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise AlertFileError(f"{path}: {exc.strerror}") from exc
    if not raw.strip():
        raise AlertFileError(f"{path}: empty: an Alertmanager alert or webhook payload (JSON) is expected")
    try:
        data = decode_payload_object(raw, "the file")
    except PayloadError as exc:
        raise AlertFileError(f"{path}: {exc}") from exc
    group_key, count = data.get("groupKey"), 1
    if "alerts" in data:  # a webhook payload: its first alert
        alerts = data["alerts"]
        if not isinstance(alerts, list) or not alerts:
            raise AlertFileError(f"{path}: the webhook payload's `alerts` holds no alerts")
        data, count = alerts[0], len(alerts)
        if not isinstance(data, dict):
            raise AlertFileError(f"{path}: alerts[0] is not an alert (a JSON object)")
    try:
        alert = parse_alert(data)
    except ValidationError as exc:
        raise AlertFileError(f"{path}: not an Alertmanager alert: {validation_summary(exc)}") from exc
    except PayloadError as exc:
        raise AlertFileError(f"{path}: {exc}") from exc
    return alert, str(group_key or ""), count


def incident_from_alert(alert: WebhookAlert, group_key: str, now: float) -> Incident:
    status = alert.status or ("resolved" if alert.ends_at else "firing")
    return new_incident(
        fingerprint=alert.effective_fingerprint(),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at if status == "resolved" else None,
        status=status,
        labels=alert.labels,
        annotations=alert.annotations,
        generator_url=alert.generator_url,
        group_key=group_key or f"on-demand:{alert.alertname}",
        source="on_demand",
        now=now,
        stage=DONE,
    )


def alert_window_end(incident: Incident, settings: Settings, now: float) -> float:
    """Where the alert's own window ends: its endsAt when resolved; else now, but no later than
    context.lookback_seconds after startsAt (an old saved payload is analysed around its alert)."""
    if incident.ends_at:
        return min(incident.ends_at, now)
    return min(now, incident.starts_at + settings.context.lookback_seconds)


def no_evidence_warning(evidence: Evidence, error: MetricSourceError | None, url: str) -> str | None:
    """The stderr line for a diagnosis made without any series because the metric source failed."""
    if (error := unread_because(evidence, error)) is None:
        return None
    return redact_secrets(
        f"alert-analyst diagnose: warning: no evidence from {url} ({error}); "
        "the diagnosis rests on the alert alone"
    )


def readable_text_report(diagnosis: DiagnosisResult, evidence: Evidence, labels: Mapping[str, str]) -> str:
    """The text report with selectors shortened as Slack shows them: the alert's labels, printed once in
    the header, leave every selector (the JSON format keeps them whole)."""
    notes = tuple(without_alert_labels(note, labels) for note in evidence.notes)
    return render_text_report(readable_diagnosis(diagnosis, labels), replace(evidence, notes=notes))


def run_diagnose(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="alert-analyst diagnose", description="Diagnose one alert now.")
    parser.add_argument("--alert", required=True, help="JSON file: an Alertmanager alert or webhook payload")
    parser.add_argument("--config.file", dest="config_file")
    parser.add_argument(
        "--prometheus.url",
        "--prometheus",
        dest="prometheus_url",
        help="Prometheus base URL (overrides prometheus.url)",
    )
    parser.add_argument(
        "--at",
        help="evaluate as of this time: RFC 3339, Unix seconds, now or -1h; default: the alert's own window "
        "(its endsAt when resolved, else now but at most context.lookback_seconds after startsAt)",
    )
    parser.add_argument("--format", choices=["json", "text"], default="text")
    args = parser.parse_args(join_relative_times(argv, ("--at",)))
    overrides = {"prometheus": {"url": args.prometheus_url}} if args.prometheus_url else {}
    try:
        settings = load_settings(args.config_file, overrides=overrides)
        configure_logging(settings.log.level, settings.log.format)  # on stderr: stdout is the result's
        alert, group_key, count = read_alert_file(args.alert)
        current = time.time()
        incident = incident_from_alert(alert, group_key, current)
        now = (
            parse_time(args.at, current)
            if args.at is not None
            else alert_window_end(incident, settings, current)
        )
    except (ValueError, ConfigError, AlertFileError) as exc:
        print(f"alert-analyst diagnose: {exc}", file=sys.stderr)
        return 2
    if count > 1:
        print(
            f"alert-analyst diagnose: {args.alert} holds {count} alerts; diagnosing the first,"
            f" {alert.alertname or '(no alertname)'}",
            file=sys.stderr,
        )
    return asyncio.run(_diagnose_and_print(settings, incident, now, args.format))


async def _diagnose_and_print(settings: Settings, incident: Incident, now: float, fmt: str) -> int:
    try:
        analyst = build_analyst_for(settings, CollectorRegistry())  # its LLM counters are not exported
    except ConfigError as exc:
        print(f"alert-analyst diagnose: {exc}", file=sys.stderr)
        return 2
    source = FailureRecordingSource(PrometheusSource(settings.prometheus))
    try:
        plugins = StagePlugins(source, settings.context, analyst, delivery=None)
        evidence, diagnosis = await diagnose_now(incident, plugins, now=now)
    finally:
        await source.close()
        await close_analyst(analyst)
    if warning := no_evidence_warning(evidence, source.first_error, settings.prometheus.url):
        print(warning, file=sys.stderr)
    if fmt == "json":
        report = {
            "incident_id": incident.id,
            "evidence": evidence_to_dict(evidence),
            "diagnosis": diagnosis_to_dict(diagnosis),
        }
        print(json.dumps(report, indent=2))
    else:
        print(readable_text_report(diagnosis, evidence, incident.labels))
    return 0
