"""JSON API: incidents, their evidence, stages and diagnoses."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from receiver.storage import feedback as db_feedback
from receiver.storage import incidents as db_incidents
from receiver.times import parse_time
from receiver.web.auth import is_authorized
from receiver.web.incident_page import recovery_checked
from receiver.web.json_errors import bad_request, error_response, is_unicode, unauthorized
from receiver.web.keys import CREDENTIALS, DELIVERY, MATERIALIZER, STORE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_PAGE = 500


@web.middleware
async def require_api_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The API and UI use the webhook's credentials when they are configured."""
    path = request.path
    if (path.startswith("/api/") or path.startswith("/ui")) and not is_authorized(
        request.headers.get("Authorization"), request.app[CREDENTIALS]
    ):
        return unauthorized(request.app[CREDENTIALS])
    return await handler(request)


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise bad_request(f"{name} must be an integer in [{low}, {high}]", name)
    return int(raw)


def page_cursor(row: dict[str, Any]) -> str:
    """The opaque `next_cursor` after `row`: its place in the newest-first order, (first_seen, id)."""
    place = json.dumps([row["first_seen"], row["id"]], separators=(",", ":"))
    return base64.urlsafe_b64encode(place.encode()).decode().rstrip("=")


def _after(request: web.Request) -> tuple[float, str] | None:
    """The `cursor` parameter as the (first_seen, id) it stands for; 400 naming it when it is not one."""
    raw = request.query.get("cursor")
    if raw is None:
        return None
    try:
        first_seen, incident_id = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if isinstance(first_seen, int | float) and math.isfinite(first_seen) and isinstance(incident_id, str):
            return float(first_seen), incident_id
    except (ValueError, TypeError, ArithmeticError, RecursionError):  # not what page_cursor wrote
        pass
    raise bad_request("cursor must be a next_cursor of an earlier answer, unchanged", "cursor")


async def list_incidents(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status not in (None, "firing", "resolved"):
        return error_response(400, "status must be firing or resolved", "status")
    since = None
    if "since" in request.query:
        try:
            since = parse_time(request.query["since"])
        except ValueError as exc:
            return error_response(
                400, f"since must be Unix seconds, RFC 3339, now or relative to now (-24h): {exc}", "since"
            )
    limit = _int_param(request, "limit", 50, 1, MAX_PAGE)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    after = _after(request)
    if after is not None and "offset" in request.query:
        return error_response(400, "give cursor or offset, not both", "offset")
    rows = await request.app[STORE].run(
        db_incidents.list_incidents,
        status=status,
        alertname=request.query.get("alertname"),
        since=since,
        limit=limit + 1,  # one more: whether there is a next page
        offset=offset,
        after=after,
    )
    more, rows = len(rows) > limit, rows[:limit]
    return web.json_response(
        {
            "incidents": rows,
            "next_cursor": page_cursor(rows[-1]) if more else None,
            "next_offset": offset + limit if more and after is None else None,
        }
    )


async def incident_view(app: web.Application, incident_id: str) -> dict[str, Any] | None:
    """The incident with alerts, stages, evidence, diagnosis, the recovery checked at resolution (its text,
    or null) and (when delivery is on) deliveries."""
    if not is_unicode(incident_id):
        return None
    detail = await app[STORE].run(db_incidents.incident_detail, incident_id)
    if detail is None:
        return None
    detail["feedback"] = await app[STORE].run(db_feedback.incident_feedback, incident_id)
    detail["recovery"] = recovery_checked(detail["stages"])
    delivery = app[DELIVERY]
    detail["deliveries"] = await delivery.list_deliveries(incident_id) if delivery is not None else []
    return detail


async def get_incident(request: web.Request) -> web.Response:
    detail = await incident_view(request.app, request.match_info["incident_id"])
    if detail is None:
        backlog = request.app[MATERIALIZER].backlog
        hint = f" (yet: {backlog} acknowledged notifications are still being turned into incidents)"
        return error_response(404, "no such incident" + (hint if backlog else ""))
    return web.json_response(detail)


def api_routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/incidents", list_incidents),
        web.get("/api/v1/incidents/{incident_id}", get_incident),
    ]
