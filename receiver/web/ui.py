"""The web workbench: incident list, incident page, on-demand diagnosis, overview (server-rendered).

Queries live in `receiver.storage.workbench`; what a page shows is computed in `incident_page`; this module
only reads the request, runs the query on the Store's thread and renders a template.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import numpy as np
from aiohttp import web
from markupsafe import Markup
from pydantic import ValidationError

from analyst.evidence import evidence_to_dict
from analyst.schema import diagnosis_to_dict
from receiver.errors import PayloadError, RuleConflict, RuleNotFound
from receiver.evidence.prometheus import choose_step
from receiver.evidence.source import MetricSourceError
from receiver.scheduled.settings import RuleSettings
from receiver.storage import workbench as db_workbench
from receiver.times import parse_time
from receiver.web.chart_points import chart_points
from receiver.web.incident_page import build_incident_page
from receiver.web.json_errors import error_headers, is_unicode, read_form
from receiver.web.keys import (
    CHART_SOURCE,
    INCIDENT_EXTRAS,
    MATERIALIZER,
    OVERVIEW_EXTRAS,
    SCHEDULER,
    SETTINGS,
    STORE,
)
from receiver.web.ondemand import AdHocAlert, DiagnosisRequest, OnDemandError, run_on_demand
from receiver.web.templating import error_page, static_routes

PAGE_SIZE = 50
FILTERS = ("status", "severity", "category", "alertname", "q", "since", "until")
CHART_POINTS = 600
OVERVIEW_DAYS = 14


class FilterError(ValueError):
    """A list filter that does not parse: which one, and why (parse_time's message says what to write)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name


def _time_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise FilterError(name, str(exc)) from exc


def _list_query(request: web.Request) -> tuple[db_workbench.IncidentFilter, int]:
    q = request.query
    # ASCII digits only ("²".isdigit() is true), and few enough that the offset fits SQLite's integers
    raw_page = q.get("page", "1").strip() or "1"
    if not re.fullmatch(r"0*[1-9][0-9]{0,8}", raw_page):
        raise FilterError("page", f"{raw_page!r} is not a page number: a whole number from 1 to 999999999")
    where = db_workbench.IncidentFilter(
        status=q.get("status") or None,
        severity=q.get("severity") or None,
        category=q.get("category") or None,
        alertname=q.get("alertname") or None,
        since=_time_param(request, "since"),
        until=_time_param(request, "until"),
        text=q.get("q") or None,
    )
    if where.since is not None and where.until is not None and where.until <= where.since:
        raise FilterError(
            "until", "is not after since: give the range oldest first (e.g. since -2h, until -1h)"
        )
    return where, int(raw_page)


async def _list_context(request: web.Request) -> dict[str, Any]:
    where, page = _list_query(request)
    store = request.app[STORE]
    # a search may be the first to meet a damaged full-text index: `read_searching` rebuilds it
    rows = await (store.read_searching if where.text else store.run)(
        db_workbench.filtered_incidents, where, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    kept = {k: request.query[k] for k in FILTERS if request.query.get(k)}
    return {
        "rows": rows[:PAGE_SIZE],
        "page": page,
        "has_next": len(rows) > PAGE_SIZE,
        "filters": kept,
        "page_url": lambda n: "/ui/?" + urlencode({**kept, "page": n}),
        "rows_url": "/ui/rows?" + urlencode({**kept, "page": page}),
        "now": time.time(),
    }


async def incidents_page(request: web.Request) -> web.Response:
    """The list; a filter that does not parse gives the form again, saying what is wrong (HTTP 400)."""
    choices = await request.app[STORE].run(db_workbench.filter_choices)
    try:
        context = await _list_context(request)
    except FilterError as exc:
        kept = {k: request.query[k] for k in FILTERS if request.query.get(k)}
        context = {"filters": kept, "error": str(exc), "invalid": exc.name, "choices": choices}
        return aiohttp_jinja2.render_template("incidents.html", request, context, status=400)
    context["choices"] = choices
    return aiohttp_jinja2.render_template("incidents.html", request, context)


async def incident_rows(request: web.Request) -> web.Response:
    """The list's rows alone, polled by workbench.js for live updates."""
    try:
        context = await _list_context(request)
    except FilterError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return aiohttp_jinja2.render_template("rows.html", request, context)


async def incident_page(request: web.Request) -> web.Response:
    incident_id = request.match_info["incident_id"]
    data = await request.app[STORE].run(db_workbench.incident_page_data, incident_id)
    if data is None:
        named = incident_id if is_unicode(incident_id) else "by that id"
        message = f"There is no incident {named}: never stored, or deleted by retention."
        if backlog := request.app[MATERIALIZER].backlog:
            message = f"There is no incident {named} yet: {backlog} acknowledged notifications are still"
            message += " being turned into incidents."
        return error_page(request, 404, "No such incident", message)
    extras = [Markup(await extra(request, incident_id)) for extra in request.app[INCIDENT_EXTRAS]]
    return _render_incident(request, data, extras)


def _render_incident(request: web.Request, data: dict[str, Any], extras: list[Markup]) -> web.Response:
    settings = request.app[SETTINGS]
    now = time.time()
    prometheus_url = settings.prometheus.external_url or settings.prometheus.url
    page = build_incident_page(
        data, prometheus_url=prometheus_url, grafana_url=settings.grafana.url, now=now, extras=extras
    )
    return aiohttp_jinja2.render_template("incident.html", request, {"page": page, "now": now})


async def series_json(request: web.Request) -> web.Response:
    """Points of one chart (`chart_points`: gaps as nulls, NaN and ±Inf said in `notes`): the evidence
    query over the window, the series matching `match` labels, asked
    through the charts' own source (CHART_SOURCE) so a slow backend's timeouts here never open the
    pipeline's circuit."""
    q = request.query
    try:
        start, end = parse_time(q["start"]), parse_time(q["end"])  # finite, within the years 1..9999
        wanted = json.loads(q.get("match", "{}"))
        if not isinstance(wanted, dict):
            raise ValueError("match must be a JSON object")
    except (KeyError, ValueError) as exc:
        reason = f" ({exc})" if isinstance(exc, ValueError) else ""
        raise web.HTTPBadRequest(
            text=f"query, start, end (Unix seconds) and match (JSON labels) needed{reason}"
        ) from exc
    if end < start:
        raise web.HTTPBadRequest(text="end is before start")
    step = choose_step(start, end, min_step=1, target_points=CHART_POINTS)
    try:
        found = await request.app[CHART_SOURCE].query_range(q.get("query", ""), start, end, step)
    except MetricSourceError as exc:
        return web.json_response({"error": str(exc), "series": []}, status=502)
    # Only the series the chart's caption names: another one drawn under that caption would mislead.
    chosen = [s for s in found if all(s.labels.get(k) == v for k, v in wanted.items())]
    if found and not chosen:
        missing = (
            f"none of the query's {len(found)} series has the labels {json.dumps(wanted, sort_keys=True)}"
        )
        return web.json_response({"error": missing, "series": []})
    return web.json_response({"series": [chart_points(s, step).to_json() for s in chosen[:4]]})


async def diagnose_page(request: web.Request) -> web.Response:
    """GET: the form; POST: runs the diagnosis and redirects (303) to what it made, an incident id to its
    page, an expression to its result, so a reload or Back shows the result instead of running it again."""
    form = _diagnose_form()
    if request.method == "GET":
        form.update({k: v for k, v in request.query.items() if k in form})
        return aiohttp_jinja2.render_template("diagnose.html", request, {"form": form, "error": None})
    try:
        posted = await read_form(request)
    except PayloadError as exc:
        return _form_error(request, form, str(exc), status=exc.status)
    form.update({k: v.strip() for k, v in posted.items() if k in form})
    if not form["expr"] and not form["incident_id"]:
        nothing = "Nothing to diagnose: give a PromQL expression, or the id of an incident to diagnose again."
        return _form_error(request, form, nothing)
    try:
        if form["incident_id"]:
            await run_on_demand(request.app, DiagnosisRequest(incident_id=form["incident_id"]))
            raise web.HTTPSeeOther(f"/ui/incidents/{form['incident_id']}")
        alert = AdHocAlert(
            alertname="OnDemand",
            expr=form["expr"] or None,
            start=form["start"],
            end=form["end"] or None,
            metrics=[form["expr"]] if form["expr"] else [],
        )
        incident, evidence, diagnosis = await run_on_demand(request.app, DiagnosisRequest(alert=alert))
    except OnDemandError as exc:
        if exc.status == 503:  # the incident kept its diagnosis: the way back to it
            back = f"/ui/incidents/{form['incident_id']}"
            return _form_error(request, form, exc.message, status=503, back=back)
        said = exc.message.removeprefix("alert: ")  # the form's fields are the alert's
        return _form_error(request, form, said, status=429 if exc.status == 429 else 400)
    except ValidationError as exc:
        return _form_error(request, form, "; ".join(str(e["msg"]) for e in exc.errors()))
    row = {**asdict(incident), "labels": dict(incident.labels), "annotations": dict(incident.annotations)}
    result_id = await request.app[STORE].write(
        db_workbench.keep_ondemand_result,
        row,
        evidence_to_dict(evidence),
        diagnosis_to_dict(diagnosis),
        time.time(),
    )
    raise web.HTTPSeeOther(f"/ui/diagnoses/{result_id}")


async def diagnosis_result_page(request: web.Request) -> web.Response:
    """An ad-hoc diagnosis the form ran, shown like an incident; one no longer kept gives the form (404)."""
    data = await request.app[STORE].run(db_workbench.ondemand_result, request.match_info["result_id"])
    if data is None:
        gone = (
            "That on-demand result is no longer kept (the receiver keeps its last"
            f" {db_workbench.KEPT_ONDEMAND_RESULTS}): diagnose again."
        )
        return _form_error(request, _diagnose_form(), gone, status=404)
    return _render_incident(request, data, [])


def _diagnose_form() -> dict[str, str]:
    return {"start": "-1h", "end": "now", "expr": "", "incident_id": ""}


def _form_error(
    request: web.Request, form: dict[str, str], message: str, status: int = 400, back: str | None = None
) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "diagnose.html", request, {"form": form, "error": message, "back": back}, status=status
    )
    response.headers.extend(error_headers(status) or {})
    return response


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def delay_stats(delays: list[float | None]) -> dict[str, Any]:
    """Count, p50 and p95 of the known, non-negative delays (seconds)."""
    known = [d for d in delays if d is not None and d >= 0]
    return {"n": len(known), "p50": percentile(known, 50), "p95": percentile(known, 95)}


async def overview_page(request: web.Request) -> web.Response:
    now = time.time()
    store = request.app[STORE]
    data = await store.run(db_workbench.overview, now - OVERVIEW_DAYS * 86400)
    hits = {r["rule"]: r for r in data["rule_hits"]}
    scheduler = request.app[SCHEDULER]
    statuses = scheduler.statuses()
    rules = [  # the scheduler's own list: config rules, then the stored API rules that validate
        {**rule_row(rule, origin, hits.get(rule.name), OVERVIEW_DAYS), "status": statuses.get(rule.name)}
        for rule, origin in await scheduler.rules()
    ]
    context = {
        "days": OVERVIEW_DAYS,
        "by_severity": _pivot(data["by_severity"]),
        "by_category": _pivot(data["by_category"]),
        "delay": delay_stats([d[0] for d in data["delays"]]),  # a rule's for: and Alertmanager's waits too
        "own_delay": delay_stats([d[1] for d in data["delays"]]),  # the receiver's own time
        "llm": data["llm"],
        "diagnose_outcomes": data["diagnose_outcomes"],
        "rules": rules,
        "delivery_failures": data["delivery_failures"],
        "delivery_counts": data["delivery_counts"],
        "now": now,
        "extras": [Markup(await extra(request.app)) for extra in request.app[OVERVIEW_EXTRAS]],
        "said": {"rule": request.query.get("rule", ""), "what": request.query.get("said")},
    }
    return aiohttp_jinja2.render_template("overview.html", request, context)


def rule_row(rule: RuleSettings, origin: str, hits: dict[str, Any] | None, days: int) -> dict[str, Any]:
    """One row of the overview's rules table: what the rule asks, and how often it opened an incident."""
    found = hits or {"hits": 0, "last_at": None, "latest": None}
    count = int(found["hits"] or 0)
    row = {**found, "hits": count, "per_day": count / days, "source": origin}
    return {**row, "name": rule.name, "query": rule.query, "how": rule_how(rule), "floor": rule_floor(rule)}


def rule_how(rule: RuleSettings) -> str:
    """What a rule detects with: `level_step_tail, threshold 3, up`."""
    return f"{rule.method}, threshold {rule.threshold:g}, {rule.direction}"


def rule_floor(rule: RuleSettings) -> str:
    """The move a rule asks before it opens an incident: `±0.5 and ±5 %`, or `none`."""
    floors = [f"±{rule.min_delta:g}"] if rule.min_delta else []
    floors += [f"±{100 * rule.min_change:g} %"] if rule.min_change else []
    return " and ".join(floors) or "none"


def _pivot(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Day x key counts as a table: sorted keys, one row per day, and the largest day's total."""
    keys = sorted({str(r["key"]) for r in rows})
    days: dict[str, dict[str, int]] = {}
    for r in rows:
        days.setdefault(r["day"], {})[str(r["key"])] = r["n"]
    table = [
        {"day": d, "counts": [c.get(k, 0) for k in keys], "total": sum(c.values())} for d, c in days.items()
    ]
    return {"keys": keys, "rows": table, "max": max((sum(c.values()) for c in days.values()), default=0)}


async def delete_rule_form(request: web.Request) -> web.Response:
    """POST /ui/rules/{name}/delete (the overview's button): delete an API rule, then show the overview
    saying what happened (a config-file rule, or one already gone, is refused and stays as it is)."""
    name = request.match_info["name"]
    try:
        await request.app[SCHEDULER].delete_rule(name)
        said = "deleted"
    except RuleConflict:
        said = "config"
    except RuleNotFound:
        said = "missing"
    raise web.HTTPSeeOther(f"/ui/overview?{urlencode({'rule': name, 'said': said})}#rules")


async def ui_root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


def ui_routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/", ui_root),
        web.get("/ui", ui_root),
        web.get("/ui/", incidents_page),
        web.get("/ui/rows", incident_rows),
        web.get("/ui/incidents/{incident_id}", incident_page),
        web.get("/ui/series.json", series_json),
        web.get("/ui/diagnose", diagnose_page),
        web.post("/ui/diagnose", diagnose_page),
        web.get("/ui/diagnoses/{result_id}", diagnosis_result_page),
        web.get("/ui/overview", overview_page),
        web.post("/ui/rules/{name}/delete", delete_rule_form),
        *static_routes(),
    ]
