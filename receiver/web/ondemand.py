"""On-demand diagnosis over HTTP: POST /api/v1/diagnoses runs the pipeline's evidence and diagnosis stages."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import quote_plus

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence, evidence_to_dict
from analyst.llm.redact import redact_secrets
from analyst.schema import diagnosis_to_dict
from receiver.config import Settings
from receiver.errors import PayloadError
from receiver.evidence.settings import ContextQuery, ContextSettings
from receiver.evidence.source import MetricSource, MetricSourceError
from receiver.models import DONE, Incident, new_incident
from receiver.payload import parse_alert
from receiver.pipeline.stages import StagePlugins, diagnose_now, evidence_now
from receiver.pipeline.unread import FailureRecordingSource, unread_because
from receiver.storage import incidents as db_incidents
from receiver.times import format_time, parse_time
from receiver.web.json_errors import error_response, read_model
from receiver.web.keys import ANALYST, SETTINGS, SOURCE, STORE


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


def incident_from_adhoc(alert: AdHocAlert, now: float) -> Incident:
    starts = parse_time(alert.start, now)
    ends = parse_time(alert.end, now) if alert.end is not None else None
    if starts > now:
        raise ValueError(
            f"start {format_time(starts)} is after now ({format_time(now)}): there is nothing to diagnose"
            " yet (e.g. start -1h)"
        )
    if ends is not None and ends < starts:
        raise ValueError(
            f"end {format_time(ends)} is before start {format_time(starts)}: give the range oldest first"
            " (e.g. start -1h, end now)"
        )
    labels = {"alertname": alert.alertname, "severity": alert.severity, **alert.labels}
    fingerprint = parse_alert({"labels": labels, "startsAt": format_time(starts)}).effective_fingerprint()
    return new_incident(
        fingerprint=fingerprint,
        starts_at=starts,
        ends_at=ends,
        alertname=alert.alertname,
        severity=alert.severity,
        labels=labels,
        annotations=alert.annotations,
        generator_url=f"/graph?g0.expr={quote_plus(alert.expr)}" if alert.expr else "",
        group_key=f"on-demand:{alert.alertname}",
        source="on_demand",
        now=now,
        stage=DONE,
    )


@dataclass
class OnDemandRuns:
    """On-demand diagnoses running now. Each may cost an LLM call, so at most the pipeline's
    `max_concurrent_analyses` run at once; a request past that is refused (429), not queued."""

    running: int = 0


ONDEMAND_RUNS = web.AppKey("ondemand_runs", OnDemandRuns)


def context_with_metrics(context: ContextSettings, metrics: list[str]) -> ContextSettings:
    extra = [ContextQuery(name=f"requested_{i}", query=q) for i, q in enumerate(metrics)]
    return context.model_copy(update={"context_queries": [*context.context_queries, *extra]})


class OnDemandError(Exception):
    """A request the on-demand path refuses: HTTP status, message, offending field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


PROBE_SECONDS = 5.0  # how long the expression's check may take before the diagnosis goes ahead unchecked


async def check_expression(source: MetricSource, expr: str, at: float) -> None:
    """OnDemandError (400, on `alert.expr`) when the backend rejects `expr` as PromQL: asked over one minute
    at `at`, so a typo is said on the form instead of becoming a diagnosis of nothing. A backend that fails
    otherwise, or is slow, leaves it to the diagnosis, which says so in its notes."""
    try:
        await asyncio.wait_for(source.query_range(expr, at - 60, at, 60), PROBE_SECONDS)
    except MetricSourceError as exc:
        if exc.kind == "bad_query":
            raise OnDemandError(400, f"expression: the backend rejects it ({exc})", "alert.expr") from None
    except TimeoutError:
        pass


async def run_on_demand(
    app: web.Application, body: DiagnosisRequest
) -> tuple[Incident, Evidence, DiagnosisResult]:
    """Evidence and diagnosis for a stored incident (kept with it) or an ad-hoc alert (not stored)."""
    if (body.incident_id is None) == (body.alert is None):
        raise OnDemandError(400, "give exactly one of incident_id or alert", "incident_id")
    settings: Settings = app[SETTINGS]
    context = settings.context
    now = time.time()
    if body.incident_id is not None:
        incident = await app[STORE].run(db_incidents.get_incident, body.incident_id)
        if incident is None:
            raise OnDemandError(404, "no such incident")
    else:
        assert body.alert is not None
        try:
            incident = incident_from_adhoc(body.alert, now)
            context = context_with_metrics(context, body.alert.metrics)
        except (ValueError, PayloadError, ValidationError) as exc:
            raise OnDemandError(400, f"alert: {exc}", "alert") from exc
        if body.alert.expr:
            await check_expression(app[SOURCE], body.alert.expr, incident.ends_at or now)
    source = FailureRecordingSource(app[SOURCE])
    plugins = StagePlugins(source, context, app[ANALYST], delivery=None)
    runs, limit = app[ONDEMAND_RUNS], settings.pipeline.max_concurrent_analyses
    if runs.running >= limit:
        running = "1 on-demand diagnosis is" if limit == 1 else f"{limit} on-demand diagnoses are"
        raise OnDemandError(
            429,
            f"{running} running already (pipeline.max_concurrent_analyses): try again when one is done",
        )
    runs.running += 1
    try:
        if body.incident_id is None:  # an ad-hoc alert has no incident row: nothing is kept
            evidence, diagnosis = await diagnose_now(incident, plugins, now=now)
            return incident, evidence, diagnosis
        evidence = await evidence_now(incident, plugins, now=now)
        if (error := unread_because(evidence, source.first_error)) is not None:
            raise OnDemandError(503, not_kept(error))
        evidence, diagnosis = await diagnose_now(
            incident, plugins, store=app[STORE], now=now, evidence=evidence
        )
    finally:
        runs.running -= 1
    return incident, evidence, diagnosis


def not_kept(error: MetricSourceError) -> str:
    """Why a re-diagnosis was refused: its metric source failed and no series could be read, so its
    diagnosis would only say the evidence is unavailable; the stored one is worth more."""
    return redact_secrets(
        f"no metric could be read ({error}), so nothing was diagnosed or stored: the incident keeps its"
        " diagnosis and evidence. Diagnose again once the metric source answers."
    )


async def post_diagnosis(request: web.Request) -> web.Response:
    body = await read_model(request, DiagnosisRequest)
    if isinstance(body, web.Response):
        return body
    try:
        incident, evidence, diagnosis = await run_on_demand(request.app, body)
    except OnDemandError as exc:
        return error_response(exc.status, exc.message, exc.field)
    return web.json_response(
        {
            "incident_id": incident.id,
            "evidence": evidence_to_dict(evidence),
            "diagnosis": diagnosis_to_dict(diagnosis),
        }
    )


def ondemand_routes() -> list[web.RouteDef]:
    return [web.post("/api/v1/diagnoses", post_diagnosis)]
