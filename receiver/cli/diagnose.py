"""`alert-analyst diagnose --alert FILE.json`: diagnose one alert now and print the diagnosis."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from analyst.builtin import BuiltinAnalyst
from analyst.evidence import evidence_to_dict
from analyst.llm import build_analyst
from analyst.report import render_text_report
from analyst.schema import diagnosis_to_dict
from receiver.config import Settings, load_settings
from receiver.errors import ConfigError, PayloadError
from receiver.evidence.prometheus import PrometheusSource
from receiver.models import DONE, Incident, new_incident
from receiver.payload import parse_alert
from receiver.pipeline.stages import StagePlugins, diagnose_now
from receiver.times import parse_time


def incident_from_alert_json(data: Mapping[str, Any], now: float) -> Incident:
    """An Alertmanager alert object, or a whole webhook payload (its first alert)."""
    alert_data = data["alerts"][0] if "alerts" in data else data
    alert = parse_alert(alert_data)
    status = alert.status or ("resolved" if alert.ends_at else "firing")
    return new_incident(
        fingerprint=alert.effective_fingerprint(),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at if status == "resolved" else None,
        status=status,
        labels=alert.labels,
        annotations=alert.annotations,
        generator_url=alert.generator_url,
        group_key=str(data.get("groupKey", f"on-demand:{alert.alertname}")),
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
    args = parser.parse_args(argv)
    overrides = {"prometheus": {"url": args.prometheus_url}} if args.prometheus_url else {}
    try:
        settings = load_settings(args.config_file, overrides=overrides)
        with open(args.alert, "rb") as handle:
            data = json.load(handle)
        current = time.time()
        incident = incident_from_alert_json(data, current)
        now = (
            parse_time(args.at, current)
            if args.at is not None
            else alert_window_end(incident, settings, current)
        )
    except (
        OSError,
        json.JSONDecodeError,
        ValidationError,
        ValueError,
        KeyError,
        ConfigError,
        PayloadError,
    ) as exc:
        print(f"alert-analyst diagnose: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_diagnose_and_print(settings, incident, now, args.format))


async def _diagnose_and_print(settings: Settings, incident: Incident, now: float, fmt: str) -> int:
    source = PrometheusSource(settings.prometheus)
    builtin = BuiltinAnalyst(settings.analyst)
    analyst = build_analyst(
        settings.analyst.backend, settings.llm, builtin, dependency_graph=builtin.dependency_graph
    )
    try:
        plugins = StagePlugins(source, settings.context, analyst, delivery=None)
        evidence, diagnosis = await diagnose_now(incident, plugins, now=now)
    finally:
        await source.close()
        close = getattr(analyst, "aclose", None)
        if close is not None:
            await close()
    if fmt == "json":
        report = {
            "incident_id": incident.id,
            "evidence": evidence_to_dict(evidence),
            "diagnosis": diagnosis_to_dict(diagnosis),
        }
        print(json.dumps(report, indent=2))
    else:
        print(render_text_report(diagnosis, evidence))
    return 0
