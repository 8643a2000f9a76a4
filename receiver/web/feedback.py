"""Feedback on diagnoses: the JSON API, the incident page's form handler and its HTML fragment."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
from aiohttp import web

from analyst.diagnosis import Category
from analyst.evidence import evidence_from_dict
from analyst.memory import evidence_signature
from receiver.errors import PayloadError
from receiver.pipeline.memory import recall_line
from receiver.storage import feedback as db_feedback
from receiver.storage import incidents as db_incidents
from receiver.storage import memory as db_memory
from receiver.storage.feedback import (
    DIAGNOSIS_ID_DIGITS,
    VERDICTS,
    Feedback,
    FeedbackOutcome,
    FeedbackRefused,
)
from receiver.web.json_errors import bad_request, decode_json, error_response, read_body, read_form
from receiver.web.keys import METRICS, STORE
from receiver.web.templating import visible_bidi

WHO_REQUIRED = (
    "who is required on the form: one judgement is kept per name, and judgements without one would share"
    " the 'anonymous' judgement, the newest replacing the others"
)
FIELD_LIMITS = {"who": 200, "actual_cause": 500, "note": 4000}
FIELDS = ("verdict", "who", "actual_category", "actual_cause", "note", "diagnosis_id")
CATEGORIES = tuple(c.value for c in Category)
JUDGEMENT_FIELDS = (("actual_category", "category"), ("actual_cause", "cause"), ("note", "note"))


def parse_feedback(body: Mapping[str, Any], source: str) -> Feedback:
    """Validate a judgement; a bad field raises 400 naming it."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r}", unknown[0])
    verdict = body.get("verdict")
    if verdict is None:
        raise bad_request(f"verdict is required: one of {', '.join(VERDICTS)}", "verdict")
    if verdict not in VERDICTS:
        raise bad_request(f"verdict must be one of {', '.join(VERDICTS)}", "verdict")
    values: dict[str, str | None] = {}
    for name, limit in FIELD_LIMITS.items():
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{name} must be a string", name)
        value = (value or "").strip() or None
        if value is not None and len(value) > limit:
            raise bad_request(f"{name} is longer than {limit} characters", name)
        values[name] = value
    category = body.get("actual_category") or None
    if category is not None and category not in CATEGORIES:
        raise bad_request(f"actual_category must be one of {', '.join(CATEGORIES)}", "actual_category")
    return Feedback(
        who=values["who"] or "anonymous",
        verdict=verdict,
        actual_category=category,
        actual_cause=values["actual_cause"],
        note=values["note"],
        source=source,
        diagnosis_id=parse_diagnosis_id(body.get("diagnosis_id")),
    )


def parse_diagnosis_id(value: object) -> int | None:
    """The diagnosis a judgement is about: an integer, or its digits (a form field); None or "" for the
    incident's newest. Anything else raises 400 naming `diagnosis_id`."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= DIAGNOSIS_ID_DIGITS:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**DIAGNOSIS_ID_DIGITS:
        return value
    raise bad_request(
        "diagnosis_id must be a positive integer: one of the incident's diagnoses", "diagnosis_id"
    )


async def store_feedback(app: web.Application, incident_id: str, feedback: Feedback) -> FeedbackOutcome:
    """Store a judgement of diagnosis `feedback.diagnosis_id` (None: the incident's newest) and count it
    on /metrics when it gave a diagnosis a new verdict. The write raises FeedbackRefused for an incident
    that is not stored or not diagnosed yet, or a diagnosis id that is not one of the incident's."""
    outcome = await app[STORE].write(db_feedback.record_feedback, incident_id, feedback, time.time())
    if "verdict" in outcome.changes or "diagnosis_id" in outcome.changes:  # a verdict on a new diagnosis
        app[METRICS].feedback.labels(
            verdict=feedback.verdict,
            category=outcome.diagnosis["category"] or "none",
            backend=outcome.diagnosis["backend"] or "none",
        ).inc()
    return outcome


async def post_feedback(request: web.Request) -> web.Response:
    try:
        body = decode_json(await read_body(request))
    except PayloadError as exc:
        return error_response(exc.status, str(exc), exc.field)
    if not isinstance(body, dict):
        return error_response(400, "body must be a JSON object", "body")
    feedback = parse_feedback(body, "api")
    try:
        outcome = await store_feedback(request.app, request.match_info["incident_id"], feedback)
    except FeedbackRefused as exc:
        return error_response(exc.status, str(exc), exc.field)
    answer = {"feedback": outcome.feedback, "changes": outcome.changes, "created": outcome.created}
    return web.json_response(answer, status=201 if outcome.created else 200)


async def get_feedback(request: web.Request) -> web.Response:
    incident_id = request.match_info["incident_id"]
    if not await request.app[STORE].run(db_feedback.incident_exists, incident_id):
        return error_response(404, "no such incident")
    return web.json_response(await request.app[STORE].run(db_feedback.incident_feedback, incident_id))


async def post_feedback_form(request: web.Request) -> web.StreamResponse:
    """The incident page's form (form-encoded); answers with a redirect back to the page."""
    try:  # a file upload (multipart/form-data) is a 400 naming its field
        form = await read_form(request)
    except PayloadError as exc:
        return error_response(exc.status, str(exc), exc.field)
    body = {name: value for name, value in form.items() if name in FIELDS}
    if not str(body.get("who") or "").strip():
        return error_response(400, WHO_REQUIRED, "who")
    incident_id = request.match_info["incident_id"]
    feedback = parse_feedback(body, "ui")
    try:
        await store_feedback(request.app, incident_id, feedback)
    except FeedbackRefused as exc:
        return error_response(exc.status, str(exc), exc.field)
    # back to the page, the form showing what was just stored
    raise web.HTTPSeeOther(
        f"/ui/incidents/{quote(incident_id)}?{urlencode({'judge': feedback.who})}#feedback"
    )


async def similar_view(app: web.Application, incident_id: str, limit: int = 10) -> dict[str, Any] | None:
    """Past incidents like this one (signature + full text), or None when the incident does not exist."""
    store = app[STORE]
    if not await store.run(db_feedback.incident_exists, incident_id):
        return None
    signature = await store.run(db_memory.signature_of, incident_id)
    if signature is None:
        stored = await store.run(db_incidents.load_evidence, incident_id)
        if stored is None:
            return {"signature": None, "similar": [], "recall": None}
        signature = evidence_signature(evidence_from_dict(stored))
    text = await store.run(db_memory.incident_text, incident_id)
    similar = await store.read(db_memory.similar_incidents, signature, text, exclude=incident_id, limit=limit)
    return {
        "signature": {"key": signature.key, "alert": signature.alert, "moved": list(signature.moved)},
        "similar": similar,
        "recall": recall_line(similar),
    }


async def incident_learning_html(request: web.Request, incident_id: str) -> str:
    """The incident page's feedback section: the form (once there is a diagnosis to judge; it judges the
    newest, which the page shows first), filled with the judgement of `?judge=` when there is one, the
    current judgements, their history, similar past incidents."""
    app = request.app
    view = await similar_view(app, incident_id, limit=5)
    if view is None:
        return ""
    feedback = await app[STORE].run(db_feedback.incident_feedback, incident_id)
    diagnosis = await app[STORE].run(db_feedback.latest_diagnosis, incident_id)
    diagnosis_id = int(diagnosis["id"]) if diagnosis else None
    judge = request.query.get("judge", "").strip()
    return incident_extras_html(
        incident_id, feedback, view["similar"], diagnosis_id=diagnosis_id, judge=judge or None
    )


async def overview_accuracy_html(app: web.Application) -> str:
    """The overview page's accuracy section: judged diagnoses, precision, calibration."""
    return accuracy_extras_html(await app[STORE].run(db_feedback.accuracy))


async def get_similar(request: web.Request) -> web.Response:
    limit = request.query.get("limit", "10")
    if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= 100:
        return error_response(400, "limit must be an integer in [1, 100]", "limit")
    view = await similar_view(request.app, request.match_info["incident_id"], int(limit))
    if view is None:
        return error_response(404, "no such incident")
    return web.json_response(view)


async def get_problems(request: web.Request) -> web.Response:
    return web.json_response({"problems": await request.app[STORE].run(db_memory.problems)})


async def problems_page(request: web.Request) -> web.Response:
    """Recurring problems, in the workbench's layout."""
    rows = await request.app[STORE].run(db_memory.problems)
    return aiohttp_jinja2.render_template("problems.html", request, {"problems": rows, "now": time.time()})


async def get_accuracy(request: web.Request) -> web.Response:
    return web.json_response(await request.app[STORE].run(db_feedback.accuracy))


def _e(value: object) -> str:
    """Escaped as it is: for attributes and form fields, which must send back what they were given."""
    return html.escape("" if value is None else str(value), quote=True)


def _shown(value: object) -> str:
    """Escaped text to read, as the templates show theirs: its bidirectional controls shown (`[U+202E]`)
    instead of obeyed, in a `<bdi>` so that its direction stays inside it."""
    return f"<bdi>{_e(visible_bidi('' if value is None else str(value)))}</bdi>"


def incident_extras_html(
    incident_id: str,
    feedback: Mapping[str, Any] | None = None,
    similar: list[Mapping[str, Any]] | None = None,
    *,
    diagnosis_id: int | None = None,
    judge: str | None = None,
) -> str:
    """An escaped HTML fragment for the incident page: the feedback form, the current judgements and their
    history, similar incidents.

    `feedback` is `GET /api/v1/incidents/{id}/feedback`, `similar` the `similar` list of
    `GET /api/v1/incidents/{id}/similar`. The form judges diagnosis `diagnosis_id` (a hidden field, so a
    re-diagnosis made while the page was open does not take the judgement); without one there is nothing
    to judge yet, and no form. With `judge`, the form holds that judge's current judgement, so changing one
    field sends the others as they were.
    """
    current = list((feedback or {}).get("current") or [])
    mine = next((entry for entry in current if entry["who"] == judge), {"who": judge} if judge else {})
    parts = ['<section class="feedback" id="feedback"><h2>Was this diagnosis right?</h2>']
    if current:
        parts.append("<h3>Current judgements</h3><ul>")
        parts += [_judgement_item(incident_id, entry, diagnosis_id) for entry in current]
        parts.append("</ul>")
    if diagnosis_id is None:
        parts.append('<p class="small muted">Not diagnosed yet: judge it once the diagnosis is here.</p>')
    else:
        parts.append(_feedback_form(incident_id, diagnosis_id, mine))
    history = (feedback or {}).get("history") or []
    if history:
        parts.append("<h3>Feedback history</h3><ul>")
        for entry in history:
            changes = "; ".join(
                f"{_e(name)}: {_shown(old)} &rarr; {_shown(new)}"
                for name, (old, new) in entry["changes"].items()
            )
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(entry["at"])))
            who = f"{_shown(entry['who'])} ({_e(entry['source'])})"
            parts.append(f"<li>{_e(when)} UTC, {who}: {changes}</li>")
        parts.append("</ul>")
    if similar:
        parts.append("<h3>Similar past incidents</h3><ul>")
        for item in similar:
            link = f'<a href="/ui/incidents/{_e(item["incident_id"])}">{_e(item["incident_id"])}</a>'
            cause = item.get("confirmed_cause") or item.get("suspect")
            parts.append(
                f"<li>{link} {_shown(item.get('alertname'))}, similarity {float(item['similarity']):.2f},"
                f" verdict {_e(item.get('verdict') or 'not judged')}, cause {_shown(cause)}</li>"
            )
        parts.append("</ul>")
    parts.append("</section>")
    return "".join(parts)


def _judgement_item(incident_id: str, entry: Mapping[str, Any], diagnosis_id: int | None) -> str:
    """One current judgement: who said what, when, and a link that opens the form holding it."""
    said = [f"<b>{_e(entry['verdict'])}</b>"]
    said += [f"{label} {_shown(entry[name])}" for name, label in JUDGEMENT_FIELDS if entry.get(name)]
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(entry["updated_at"])))
    older = " (of an earlier diagnosis)" if diagnosis_id and entry.get("diagnosis_id") != diagnosis_id else ""
    change = f"/ui/incidents/{_e(quote(incident_id))}?{_e(urlencode({'judge': entry['who']}))}#feedback"
    link = f'<a href="{change}">change</a>'
    return f"<li>{_shown(entry['who'])}: {', '.join(said)}{older}, {_e(when)} UTC {link}</li>"


def _feedback_form(incident_id: str, diagnosis_id: int, mine: Mapping[str, Any]) -> str:
    """The form, holding the judgement `mine` (empty for a new judge)."""
    verdicts = "".join(
        f'<label><input type="radio" name="verdict" value="{v}" required{_checked(mine.get("verdict") == v)}>'
        f" {v}</label> "
        for v in VERDICTS
    )
    chosen = mine.get("actual_category")
    categories = '<option value="">(same as diagnosed)</option>' + "".join(
        f'<option value="{_e(c)}"{" selected" if c == chosen else ""}>{_e(c)}</option>' for c in CATEGORIES
    )
    heading = (
        f'<p class="small">Changing the judgement of {_shown(mine["who"])}.</p>' if "verdict" in mine else ""
    )
    return "".join(
        [
            heading,
            f'<form method="post" action="/ui/incidents/{_e(incident_id)}/feedback">',
            f'<input type="hidden" name="diagnosis_id" value="{int(diagnosis_id)}">',
            verdicts,
            f'<label>Actual category <select name="actual_category">{categories}</select></label> ',
            '<label>Actual cause (series or entity) <input name="actual_cause" maxlength="500"'
            f' value="{_e(mine.get("actual_cause"))}"></label> ',
            f'<label>Note <input name="note" maxlength="4000" value="{_e(mine.get("note"))}"></label> ',
            f'<label>Who <input name="who" maxlength="200" required value="{_e(mine.get("who"))}"></label> ',
            '<button type="submit">Send</button></form>',
        ]
    )


def _checked(yes: bool) -> str:
    return " checked" if yes else ""


def accuracy_extras_html(accuracy: Mapping[str, Any]) -> str:
    """An escaped HTML fragment for the overview page from `GET /api/v1/accuracy`: how many diagnoses were
    judged, precision by category and backend, and the calibration table."""

    def percent(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    parts = [
        '<section class="accuracy"><h2>Accuracy from feedback</h2>',
        f"<p>{int(accuracy['judged'])} of {int(accuracy['diagnosed'])} diagnosed incidents judged;"
        f" precision {percent(accuracy['precision'])}.</p>",
    ]
    if not accuracy["judged"]:  # no table of empty rows: say where judgements come from
        parts.append(
            '<p class="small muted">Judge a diagnosis on its incident page (or with the Slack buttons) to see'
            " precision by category and backend, and how stated confidence compares with what was right.</p>"
            "</section>"
        )
        return "".join(parts)
    for key, title in (("by_category", "Category"), ("by_backend", "Backend")):
        rows = "".join(
            f"<tr><td>{_shown(r[key.removeprefix('by_')])}</td><td>{r['judged']}</td><td>{r['correct']}</td>"
            f"<td>{r['partly']}</td><td>{r['wrong']}</td><td>{percent(r['precision'])}</td></tr>"
            for r in accuracy[key]
        )
        parts.append(
            f"<table><tr><th>{title}</th><th>judged</th><th>correct</th><th>partly</th><th>wrong</th>"
            f"<th>precision</th></tr>{rows}</table>"
        )
    calibration = "".join(
        f"<tr><td>{b['confidence_from']:.0%}-{b['confidence_to']:.0%}</td><td>{b['judged']}</td>"
        f"<td>{percent(b['mean_stated'])}</td><td>{percent(b['observed'])}</td></tr>"
        for b in accuracy["calibration"]
    )
    parts.append(
        "<table><tr><th>stated confidence</th><th>judged</th><th>mean stated</th><th>observed</th></tr>"
        f"{calibration}</table></section>"
    )
    return "".join(parts)


def feedback_routes() -> list[web.RouteDef]:
    return [
        web.post("/api/v1/incidents/{incident_id}/feedback", post_feedback),
        web.get("/api/v1/incidents/{incident_id}/feedback", get_feedback),
        web.get("/api/v1/incidents/{incident_id}/similar", get_similar),
        web.get("/api/v1/accuracy", get_accuracy),
        web.get("/api/v1/problems", get_problems),
        web.get("/ui/problems", problems_page),
        web.post("/ui/incidents/{incident_id}/feedback", post_feedback_form),
    ]
