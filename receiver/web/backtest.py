"""Try a detection rule on history before it pages anyone: POST /api/v1/backtest and the /ui/backtest page.

Both replay the rule as the scheduler would (`receiver.scheduled.backtest`) in the scheduler's pool, one
backtest at a time, within a budget of point-scores per request (the `alert-analyst backtest` CLI has
none). The history comes through the backtests' own metric source (`BACKTEST_SOURCE`), whose circuit is
not the pipeline's: backtests whose fetches time out cannot leave new alerts without evidence.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analyst.builtin.ranking import finite
from detectors import AnomalyType
from receiver.errors import InvalidRuleField, PayloadError, ReceiverError, RuleConflict, RuleNotFound
from receiver.evidence.promql import series_id
from receiver.evidence.source import MetricSource, MetricSourceError
from receiver.scheduled.backtest import (
    DAY,
    BacktestError,
    BacktestPlan,
    BacktestReport,
    fetch_history,
    fetched_points,
    plan_backtest,
    replay_counting,
    report_notes,
    work,
)
from receiver.scheduled.probe import Sampling
from receiver.scheduled.settings import RuleSettings, rule_error
from receiver.times import format_time, parse_duration, parse_time
from receiver.web.json_errors import error_headers, error_response, read_form, read_model
from receiver.web.keys import BACKTEST_SOURCE, SCHEDULER
from receiver.web.ui import rule_floor, rule_how

if TYPE_CHECKING:
    from receiver.scheduled.scheduler import DetectionScheduler, DetectorFinding

MAX_POINT_SCORES = 50_000_000  # about 14 s of one core with the default detector (bench.backtest)
MAX_FETCHED_POINTS = 200_000  # per series: 139 days at one minute
MAX_FINDINGS = 500  # listed in an answer (all are counted)
MAX_CHARTS = 12  # series charted on the page, those with the most incidents first
NEW_RULE = "backtest"  # the name of a rule tried without one


class BacktestRequest(BaseModel):
    """`rule`: the fields of a detection rule; with the name of an existing rule, the others override it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    rule: dict[str, Any]
    start: float | str = Field(default="-24h", alias="from")
    end: float | str = Field(default="now", alias="to")
    lookback: float | str | None = None
    step: float | str | None = None
    interval: float | str | None = None


class Refused(ReceiverError):
    """A backtest or rule-saving request answered with `status` (4xx, 502) and a message naming `field`."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _seconds(value: float | str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value) if not isinstance(value, str) else parse_duration(value.strip())
    except ValueError as exc:
        raise Refused(400, f"{name}: {exc}", name) from None


def rule_to_try(known: Mapping[str, RuleSettings], fields: Mapping[str, Any]) -> RuleSettings:
    """The rule `fields` describe: a `known` rule (config or API, by name) with `fields` over it, else a
    new one."""
    name = fields.get("name") or NEW_RULE
    base = known[name].model_dump() if isinstance(name, str) and name in known else None
    if base is None and "query" not in fields and fields.get("name"):
        raise Refused(404, f"no rule named {name!r}; give a query to try a new rule", "rule.name")
    try:
        return RuleSettings.model_validate({**(base or {}), **fields, "name": name})
    except ValidationError as exc:
        field, message = rule_error(exc)
        where = f"rule.{field}" if field else "rule"
        raise Refused(400, f"{where}: {message}", where) from None


def plan_of(request: BacktestRequest, rule: RuleSettings, scheduler: DetectionScheduler) -> BacktestPlan:
    now = time.time()
    start, end = _time(request.start, now, "from"), _time(request.end, now, "to")
    try:
        plan = plan_backtest(
            rule,
            scheduler.settings,
            start,
            end,
            lookback=_seconds(request.lookback, "lookback"),
            step=_seconds(request.step, "step"),
            interval=_seconds(request.interval, "interval"),
        )
    except BacktestError as exc:
        raise Refused(400, str(exc), exc.field) from None
    _within_budget(plan, None)
    return plan


def _time(value: float | str, now: float, field: str) -> float:
    """`parse_time` of the request's `field` (`from` or `to`), refused naming it."""
    try:
        return parse_time(value, now)
    except ValueError as exc:
        raise Refused(400, f"{field}: {exc}", field) from None


def _within_budget(plan: BacktestPlan, series: int | None) -> None:
    """Refused when the plan fetches or computes more than a request may; `series` None before the fetch
    (one series is assumed: the least it can cost)."""
    points = fetched_points(plan)
    if points > MAX_FETCHED_POINTS:
        raise Refused(
            400,
            f"the range and its lookback hold {points:,} points per series at a {plan.step:g} s step, more"
            f" than the {MAX_FETCHED_POINTS:,} a request may fetch: shorten the range or raise the step",
            "from",
        )
    asked = work(plan, series or 1)
    if asked > MAX_POINT_SCORES:
        counted = f"{series} series" if series is not None else "for each series the query returns"
        raise Refused(
            400,
            f"this backtest would compute {asked / 1e6:,.0f} M point-scores ({counted}), more than the"
            f" {MAX_POINT_SCORES / 1e6:,.0f} M a request may: shorten the range, widen the interval or"
            " narrow the query (the alert-analyst backtest command has no limit)",
            "from",
        )


async def run(
    scheduler: DetectionScheduler, source: MetricSource, busy: asyncio.Lock, body: BacktestRequest
) -> BacktestReport:
    """Resolve, plan, fetch from `source` and replay; Refused with the answer when it cannot."""
    rule = rule_to_try({r.name: r for r, _ in await scheduler.rules()}, body.rule)
    plan = plan_of(body, rule, scheduler)
    if busy.locked():
        raise Refused(429, "a backtest is running already; try again when it is done")
    async with busy:
        clock = time.monotonic()
        try:
            series, fetched_start = await fetch_history(plan, source)
        except MetricSourceError as exc:  # invalid PromQL is the request's fault, the rest the backend's
            status = 400 if exc.kind == "bad_query" else 502
            raise Refused(status, f"cannot fetch {rule.query!r}: {exc}", "rule.query") from None
        _within_budget(plan, len(series))
        findings, sampling = (
            await scheduler.run_in_pool(replay_counting, plan, series, fetched_start)
            if series
            else ([], Sampling())
        )
        return BacktestReport(plan, series, findings, time.monotonic() - clock, sampling)


def finding_to_dict(finding: DetectorFinding) -> dict[str, Any]:
    d = finding.detection
    return {
        "starts_at": format_time(finding.starts_at),
        "detected_at": format_time(d.timestamp),
        "series": d.series,
        "labels": {k: v for k, v in finding.series_labels.items()},
        "anomaly_type": str(d.anomaly_type),
        "detector_severity": str(d.severity),
        "confidence": round(d.confidence, 4),
        "direction": d.direction,
        "value": finite(d.raw_data.get("value")),
        "baseline": finite(d.raw_data.get("baseline")),
        "change": finite(d.magnitude),
    }


def report_to_dict(report: BacktestReport) -> dict[str, Any]:
    plan = report.plan
    per_day = report.per_series_day
    return {
        "rule": plan.rule.model_dump(mode="json"),
        "from": format_time(plan.start),
        "to": format_time(plan.end),
        "days": round((plan.end - plan.start) / DAY, 4),
        "lookback_seconds": plan.lookback,
        "step_seconds": plan.step,
        "interval_seconds": plan.interval,
        "cooldown_seconds": plan.detection.cooldown_seconds,
        "evaluations": report.evaluations,
        "series": len(report.series),
        "incidents": len(report.findings),
        "incidents_per_series_day": round(per_day, 4) if per_day is not None else None,
        "per_series": [{"series": s, "incidents": n} for s, n in report.per_series.most_common()],
        "findings": [finding_to_dict(f) for f in report.findings[:MAX_FINDINGS]],
        "truncated": len(report.findings) > MAX_FINDINGS,
        "notes": report_notes(report),
        "seconds": round(report.seconds, 3),
    }


def chart_rows(report: BacktestReport) -> list[dict[str, Any]]:
    """The page's charts: the series with the most incidents, each with its incidents marked."""
    by_name = {series_id(s.labels): s for s in report.series}
    rows = []
    for name, count in report.per_series.most_common(MAX_CHARTS):
        labels = dict(by_name[name].labels) if name in by_name else {}
        starts = [f.starts_at for f in report.findings if f.detection.series == name]
        rows.append(
            {
                "series": name,
                "incidents": count,
                "query": report.plan.rule.query,
                "match": json.dumps({k: v for k, v in labels.items() if k != "__name__"}),
                "start": report.plan.start - report.plan.lookback / 4,
                "end": report.plan.end,
                "marks": json.dumps({f"fired {i + 1}": t for i, t in enumerate(starts)}),
            }
        )
    return rows


RULE_FIELDS = (
    "name",
    "query",
    "method",
    "threshold",
    "direction",
    "min_delta",
    "min_change",
    "window_size",
    "severity",
    "anomaly_type",
    "labels",
)
FORM_FIELDS = (*RULE_FIELDS, "from", "to", "interval")


def labels_text(labels: Mapping[str, str]) -> str:
    """A rule's labels as the form shows them: `team=risk, desk=fx-spot`."""
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def labels_of(text: str) -> dict[str, str]:
    """The form's `name=value, ...` as labels; Refused (400, rule.labels) for a pair without `=` or a name."""
    labels: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise Refused(400, f"rule.labels: {pair!r} is not name=value", "rule.labels")
        labels[name.strip()] = value.strip()
    return labels


def form_of(rule: RuleSettings) -> dict[str, str]:
    """The form's fields filled from `rule`."""
    data = rule.model_dump(mode="json")
    form = {k: str(v) for k, v in data.items() if k in RULE_FIELDS and k != "labels" and v is not None}
    return form | {"labels": labels_text(rule.labels)}


def rule_fields(form: Mapping[str, str]) -> dict[str, Any]:
    """The rule fields the form gives (an empty field keeps the rule's), labels parsed."""
    fields: dict[str, Any] = {k: form[k] for k in RULE_FIELDS if form.get(k)}
    if "labels" in fields:
        fields["labels"] = labels_of(fields["labels"])
    return fields


def backtest_routes(scheduler: DetectionScheduler | None = None) -> list[web.RouteDef]:
    """POST /api/v1/backtest and GET/POST /ui/backtest (add auth in front). Without `scheduler`, the app's
    scheduler and backtest source (`BACKTEST_SOURCE`); with one, its source (an app of these routes only)."""
    busy = asyncio.Lock()

    def scheduler_of(request: web.Request) -> DetectionScheduler:
        return scheduler if scheduler is not None else request.app[SCHEDULER]

    def source_of(request: web.Request) -> MetricSource:
        return scheduler.source if scheduler is not None else request.app[BACKTEST_SOURCE]

    async def post_backtest(request: web.Request) -> web.Response:
        body = await read_model(request, BacktestRequest)
        if isinstance(body, web.Response):
            return body
        try:
            report = await run(scheduler_of(request), source_of(request), busy, body)
        except Refused as exc:
            return error_response(exc.status, exc.message, exc.field)
        return web.json_response({"status": "success", "data": report_to_dict(report)})

    async def backtest_page(request: web.Request) -> web.Response:
        """GET: the form (`?rule=NAME` fills it from that rule); POST: the form and what it would open."""
        form = {"from": "-24h", "to": "now", "interval": ""}
        rules = [rule for rule, _ in await scheduler_of(request).rules()]
        if request.method == "GET":
            chosen = next((r for r in rules if r.name == request.query.get("rule")), None)
            if chosen is not None:
                form.update(form_of(chosen))
            return _page(request, form, rules)
        try:
            posted = await read_form(request)
        except PayloadError as exc:
            return _page(request, form, rules, error=str(exc), status=exc.status)
        form.update({k: v.strip() for k, v in posted.items() if k in FORM_FIELDS})
        try:
            fields = rule_fields(form)
        except Refused as exc:
            return _page(request, form, rules, error=exc.message, status=exc.status)
        if posted.get("action") == "save":
            try:
                saved = await save_rule(scheduler_of(request), fields)
            except Refused as exc:
                return _page(request, form, rules, error=exc.message, status=exc.status)
            rules = [rule for rule, _ in await scheduler_of(request).rules()]
            return _page(request, form, rules, saved=saved)
        body = BacktestRequest.model_validate(
            {"rule": fields, "from": form["from"] or "-24h", "to": form["to"] or "now"}
            | ({"interval": form["interval"]} if form.get("interval") else {})
        )
        try:
            report = await run(scheduler_of(request), source_of(request), busy, body)
        except Refused as exc:
            return _page(request, form, rules, error=exc.message, status=exc.status)
        return _page(request, form, rules, report=report)

    return [
        web.post("/api/v1/backtest", post_backtest),
        web.get("/ui/backtest", backtest_page),
        web.post("/ui/backtest", backtest_page),
    ]


@dataclass(frozen=True)
class SavedRule:
    """What Save as rule did: `done` is "added" or "replaced"; `notes` are the probe's."""

    name: str
    done: str
    notes: list[str]


async def save_rule(scheduler: DetectionScheduler, fields: Mapping[str, Any]) -> SavedRule:
    """Add the form's rule, or replace the API rule of its name, as the rules API would (its query tried
    first); what was done and the probe's notes. A config-file rule is changed in the file, not here."""
    name = fields.get("name")
    if not name:
        raise Refused(400, "give the rule a name to save it", "rule.name")
    rules = await scheduler.rules()
    origins = {rule.name: origin for rule, origin in rules}
    if origins.get(name) == "config":
        raise Refused(409, f"rule {name!r} comes from the configuration file; change it there", "rule.name")
    rule = rule_to_try({r.name: r for r, _ in rules}, fields)
    try:
        notes = await scheduler.store_rule(rule, replace=name in origins)
    except InvalidRuleField as exc:
        raise Refused(400, f"{exc.field}: {exc}", f"rule.{exc.field}") from None
    except (RuleConflict, RuleNotFound) as exc:  # changed by someone else meanwhile
        raise Refused(409, str(exc), "rule.name") from None
    return SavedRule(name, "replaced" if name in origins else "added", notes)


def _page(
    request: web.Request,
    form: dict[str, str],
    rules: list[RuleSettings],
    *,
    report: BacktestReport | None = None,
    saved: SavedRule | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    context = {
        "saved": saved,
        "form": form,
        "rules": [r.name for r in rules],
        "anomaly_types": [t.value for t in AnomalyType],
        "error": error,
        "result": report_to_dict(report) if report is not None else None,
        "how": rule_how(report.plan.rule) if report is not None else "",
        "floor": rule_floor(report.plan.rule) if report is not None else "",
        "charts": chart_rows(report) if report is not None else [],
    }
    response = aiohttp_jinja2.render_template("backtest.html", request, context, status=status)
    response.headers.extend(error_headers(status) or {})
    return response
