"""On-demand diagnosis: POST /api/v1/diagnoses and `alert-analyst diagnose --alert FILE.json`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analyst.builtin import BuiltinAnalyst
from analyst.evidence import evidence_to_dict
from analyst.llm import build_analyst
from analyst.protocol import Analyst
from analyst.report import render_text_report
from analyst.schema import diagnosis_to_dict
from receiver.config import Settings, load_settings
from receiver.errors import ConfigError, PayloadError
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextQuery, ContextSettings
from receiver.evidence.source import MetricSource
from receiver.models import Incident
from receiver.payload import parse_alert, parse_timestamp
from receiver.storage import incidents as db_incidents
from receiver.storage.incidents import incident_id_for
from receiver.web.keys import ANALYST, SETTINGS, SOURCE, STORE
from receiver.web.webhook import error_response


class AdHocAlert(BaseModel):
    """An alert described by hand, like the reference design's diagnose_anomaly_on_demand."""

    model_config = ConfigDict(extra="forbid")

    alertname: str = Field(min_length=1)
    expr: str | None = None
    start: float | str
    end: float | str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=list, description="PromQL of affected metrics to include.")
    severity: str = "warning"


class DiagnosisRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: str | None = None
    alert: AdHocAlert | None = None


def _seconds(value: float | str) -> float:
    return float(value) if isinstance(value, int | float) else parse_timestamp(value)


def incident_from_adhoc(alert: AdHocAlert, now: float) -> Incident:
    starts = _seconds(alert.start)
    ends = _seconds(alert.end) if alert.end is not None else None
    labels = {"alertname": alert.alertname, "severity": alert.severity, **alert.labels}
    fingerprint = parse_alert(
        {"labels": labels, "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(starts))}
    ).effective_fingerprint()
    return Incident(
        id=incident_id_for(fingerprint, starts),
        fingerprint=fingerprint,
        starts_at=starts,
        ends_at=ends,
        status="resolved" if ends is not None else "firing",
        alertname=alert.alertname,
        severity=alert.severity,
        labels=labels,
        annotations=alert.annotations,
        generator_url=f"/graph?g0.expr={quote_plus(alert.expr)}" if alert.expr else "",
        group_key=f"on-demand:{alert.alertname}",
        source="on_demand",
        first_seen=now,
        last_seen=now,
        stage="done",
    )


def incident_from_alert_json(data: Mapping[str, Any], now: float) -> Incident:
    """An Alertmanager alert object, or a whole webhook payload (its first alert)."""
    alert_data = data["alerts"][0] if "alerts" in data else data
    alert = parse_alert(alert_data)
    status = alert.status or ("resolved" if alert.ends_at else "firing")
    return Incident(
        id=incident_id_for(alert.effective_fingerprint(), alert.starts_at),
        fingerprint=alert.effective_fingerprint(),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at if status == "resolved" else None,
        status=status,
        alertname=alert.alertname,
        severity=alert.labels.get("severity", "warning"),
        labels=alert.labels,
        annotations=alert.annotations,
        generator_url=alert.generator_url,
        group_key=str(data.get("groupKey", f"on-demand:{alert.alertname}")),
        source="on_demand",
        first_seen=now,
        last_seen=now,
        stage="done",
    )


def context_with_metrics(context: ContextSettings, metrics: list[str]) -> ContextSettings:
    extra = [ContextQuery(name=f"requested_{i}", query=q) for i, q in enumerate(metrics)]
    return context.model_copy(update={"context_queries": [*context.context_queries, *extra]})


async def diagnose_incident(
    incident: Incident,
    source: MetricSource,
    context: ContextSettings,
    analyst: Analyst,
    *,
    now: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evidence and diagnosis (as JSON-ready dicts) for one incident, fetched now."""
    evidence = await collect_alert_context(incident, source, context, now=now)
    result = await analyst.diagnose(evidence)
    return evidence_to_dict(evidence), diagnosis_to_dict(result)


async def post_diagnosis(request: web.Request) -> web.Response:
    app = request.app
    try:
        body = DiagnosisRequest.model_validate(await request.json())
    except json.JSONDecodeError as exc:
        return error_response(400, f"malformed JSON: {exc}")
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        return error_response(400, f"{field}: {err['msg']}", field)
    if (body.incident_id is None) == (body.alert is None):
        return error_response(400, "give exactly one of incident_id or alert", "incident_id")
    settings: Settings = app[SETTINGS]
    context = settings.context
    now = time.time()
    if body.incident_id is not None:
        incident = await app[STORE].run(db_incidents.get_incident, body.incident_id)
        if incident is None:
            return error_response(404, "no such incident")
    else:
        assert body.alert is not None
        try:
            incident = incident_from_adhoc(body.alert, now)
        except (ValueError, PayloadError, ValidationError) as exc:
            return error_response(400, f"alert: {exc}", "alert")
        context = context_with_metrics(context, body.alert.metrics)
    evidence, diagnosis = await diagnose_incident(incident, app[SOURCE], context, app[ANALYST], now=now)
    if body.incident_id is not None:
        await app[STORE].write(db_incidents.save_evidence, incident.id, evidence)
        await app[STORE].write(
            db_incidents.save_diagnosis,
            incident.id,
            diagnosis,
            backend=diagnosis["backend"],
            category=diagnosis["primary_hypothesis"]["category"],
            confidence=diagnosis["confidence_score"],
        )
    return web.json_response({"incident_id": incident.id, "evidence": evidence, "diagnosis": diagnosis})


def ondemand_routes() -> list[web.RouteDef]:
    return [web.post("/api/v1/diagnoses", post_diagnosis)]


def run_diagnose_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="alert-analyst diagnose", description="Diagnose one alert now.")
    parser.add_argument("--alert", required=True, help="JSON file: an Alertmanager alert or webhook payload")
    parser.add_argument("--config.file", dest="config_file")
    parser.add_argument("--prometheus", help="Prometheus base URL (overrides prometheus.url)")
    parser.add_argument("--at", help="evaluate as of this time (RFC 3339 or Unix seconds); default now")
    parser.add_argument("--format", choices=["json", "text"], default="text")
    args = parser.parse_args(argv)
    overrides = {"prometheus": {"url": args.prometheus}} if args.prometheus else {}
    try:
        settings = load_settings(args.config_file, overrides=overrides)
        with open(args.alert, "rb") as handle:
            data = json.load(handle)
        now = time.time() if args.at is None else _seconds(args.at)
        incident = incident_from_alert_json(data, now)
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
    from analyst.evidence import evidence_from_dict
    from analyst.schema import diagnosis_from_dict

    source = PrometheusSource(settings.prometheus)
    analyst = build_analyst(settings.analyst.backend, settings.llm, BuiltinAnalyst(settings.analyst))
    try:
        evidence, diagnosis = await diagnose_incident(incident, source, settings.context, analyst, now=now)
    finally:
        await source.close()
        close = getattr(analyst, "aclose", None)
        if close is not None:
            await close()
    if fmt == "json":
        report = {"incident_id": incident.id, "evidence": evidence, "diagnosis": diagnosis}
        print(json.dumps(report, indent=2))
    else:
        print(render_text_report(diagnosis_from_dict(diagnosis), evidence_from_dict(evidence)))
    return 0
