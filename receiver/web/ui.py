"""A small server-rendered web UI of incidents and their diagnoses (no JavaScript)."""

from __future__ import annotations

import time
from html import escape
from typing import Any

from aiohttp import web

from receiver.storage import incidents as db_incidents
from receiver.web.api import incident_view
from receiver.web.keys import STORE

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2330;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{padding:.35rem .5rem;border-bottom:1px solid #e3e6ec;
text-align:left;vertical-align:top}th{background:#f4f6f9}a{color:#1f5fbf;text-decoration:none}
.firing{color:#b3261e;font-weight:600}.resolved{color:#2e7d32}.muted{color:#6b7280}
.card{border:1px solid #e3e6ec;border-radius:6px;padding:1rem;margin:1rem 0}
code{background:#f4f6f9;padding:0 .2rem}
"""


def _time(value: float | None) -> str:
    if not value:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))


def _page(title: str, body: str, refresh: bool = True) -> web.Response:
    meta = '<meta http-equiv="refresh" content="10">' if refresh else ""
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'>{meta}<title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=html, content_type="text/html")


def _diagnosis_cell(diag: dict[str, Any] | None) -> str:
    if not diag:
        return "<span class='muted'>pending</span>"
    return (
        f"{escape(str(diag['category']))} ({float(diag['confidence']):.0%}, {escape(str(diag['backend']))})"
    )


async def incidents_page(request: web.Request) -> web.Response:
    rows = await request.app[STORE].run(db_incidents.list_incidents, limit=200)
    lines = "".join(
        f"<tr><td><a href='/ui/incidents/{escape(r['id'])}'>{escape(r['alertname'] or r['id'])}</a></td>"
        f"<td>{escape(r['severity'])}</td><td class='{escape(r['status'])}'>{escape(r['status'])}</td>"
        f"<td>{_time(r['starts_at'])}</td><td>{escape(r['stage'])}</td><td>{_diagnosis_cell(r['diagnosis'])}</td>"
        "</tr>"
        for r in rows
    )
    body = (
        "<p class='muted'>Newest first. JSON: <a href='/api/v1/incidents'>/api/v1/incidents</a></p>"
        "<table><tr><th>Alert</th><th>Severity</th><th>Status</th><th>Started</th><th>Stage</th>"
        f"<th>Diagnosis</th></tr>{lines or '<tr><td colspan=6>No incidents yet.</td></tr>'}</table>"
    )
    return _page("alert-analyst: incidents", body)


def _list(items: list[Any]) -> str:
    return "<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in items) + "</ul>" if items else "<p>-</p>"


def _hypothesis(h: dict[str, Any]) -> str:
    return (
        f"<b>{escape(h['title'])}</b> <span class='muted'>{escape(h['category'])}, suspect "
        f"<code>{escape(h['suspect'])}</code>, confidence {float(h['confidence']):.0%}</span>"
        f"{_list(h.get('supporting_evidence', []))}"
    )


def _diagnosis_html(diag: dict[str, Any] | None) -> str:
    if not diag:
        return "<div class='card'>No diagnosis yet.</div>"
    steps = "".join(
        f"<li><b>{escape(s['step'].replace('_', ' '))}</b>: {escape(s['findings'])}</li>"
        for s in diag.get("detailed_analysis", [])
    )
    alternatives = "".join(f"<li>{_hypothesis(h)}</li>" for h in diag.get("alternative_hypotheses", []))
    return (
        f"<div class='card'><h2>Diagnosis</h2><p>{escape(diag.get('executive_summary', ''))}</p>"
        f"<h3>Primary cause</h3>{_hypothesis(diag['primary_hypothesis'])}"
        f"<h3>Alternatives</h3><ol>{alternatives or '<li>-</li>'}</ol>"
        f"<h3>Immediate actions</h3>{_list(diag.get('immediate_actions', []))}"
        f"<h3>Analysis</h3><ol>{steps}</ol>"
        f"<h3>Preventive measures</h3>{_list(diag.get('preventive_measures', []))}"
        f"<h3>Monitoring</h3>{_list(diag.get('monitoring_recommendations', []))}"
        f"<p class='muted'>backend {escape(str(diag.get('backend')))}, model "
        f"{escape(str(diag.get('llm_model_used')))}, {float(diag.get('analysis_duration', 0)):.3f}s</p></div>"
    )


def _number(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _availability(series: dict[str, Any]) -> str:
    if not series["available"]:
        return "n/a: " + escape(series.get("unavailable_reason") or "")
    return "yes" if series["anomalous"] else "no"


def _evidence_html(evidence: dict[str, Any] | None) -> str:
    if not evidence:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(s['series_id'])}</code></td><td>{escape(s['role'])}</td>"
        f"<td>{_availability(s)}</td>"
        f"<td>{_time(s.get('onset'))}</td><td>{escape(str(s.get('direction') or '-'))}</td>"
        f"<td>{_number(s.get('magnitude'), '+.1%')}</td><td>{_number(s.get('p_value'), '.2g')}</td></tr>"
        for s in sorted(evidence.get("series", []), key=lambda s: (not s["anomalous"], s.get("onset") or 0))
    )
    return (
        "<div class='card'><h2>Evidence</h2><table><tr><th>Series</th><th>Role</th><th>Anomalous</th>"
        f"<th>Onset</th><th>Dir.</th><th>Change</th><th>p</th></tr>{rows}</table></div>"
    )


async def incident_page(request: web.Request) -> web.Response:
    detail = await incident_view(request.app, request.match_info["incident_id"])
    if detail is None:
        raise web.HTTPNotFound(text="no such incident")
    inc = detail["incident"]
    labels = ", ".join(f"{escape(k)}={escape(v)}" for k, v in sorted(inc["labels"].items()))
    stages = "".join(
        f"<tr><td>{escape(s['stage'])}</td><td>{escape(s['outcome'])}</td>"
        f"<td>{s['duration_seconds']:.3f}s</td><td>{escape(s['detail'] or '')}</td></tr>"
        for s in detail["stages"]
    )
    body = (
        f"<p><a href='/ui/'>All incidents</a> · <a href='/api/v1/incidents/{escape(inc['id'])}'>JSON</a></p>"
        f"<p class='{escape(inc['status'])}'>{escape(inc['status'])}</p><p>{labels}</p>"
        f"<p>Started {_time(inc['starts_at'])}, ended {_time(inc['ends_at'])}; group "
        f"<code>{escape(inc['group_key'])}</code></p>"
        f"{_diagnosis_html(detail['diagnosis'])}{_evidence_html(detail['evidence'])}"
        "<div class='card'><h2>Pipeline</h2><table><tr><th>Stage</th><th>Outcome</th><th>Time</th>"
        f"<th>Detail</th></tr>{stages}</table></div>"
    )
    return _page(f"{inc['alertname'] or inc['id']}", body)


async def ui_root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


def ui_routes() -> list[web.RouteDef]:
    return [
        web.get("/", ui_root),
        web.get("/ui", ui_root),
        web.get("/ui/", incidents_page),
        web.get("/ui/incidents/{incident_id}", incident_page),
    ]
