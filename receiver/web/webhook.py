"""POST /webhook/alertmanager: authenticate, validate, commit the notification to SQLite, then answer.

The answer names the incidents the notification touches; `Materializer` creates or closes them right
behind it (in notification order, resumed after a restart).
"""

from __future__ import annotations

import asyncio
import sqlite3

import structlog
from aiohttp import web

from receiver.errors import PayloadError
from receiver.payload import WebhookPayload, parse_webhook
from receiver.storage.incidents import accept_notification, accept_resend, body_digest
from receiver.web.auth import is_authorized
from receiver.web.json_errors import error_response, read_body
from receiver.web.keys import CREDENTIALS, INTAKE, MATERIALIZER, METRICS, RECENT_BODIES, SETTINGS, STORE
from receiver.web.resends import accepted

log = structlog.get_logger("receiver.webhook")

JSON_TYPES = ("application/json",)
PARSE_IN_THREAD_BYTES = 256 * 1024


async def _parse(body: bytes) -> WebhookPayload:
    if len(body) > PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_webhook, body)
    return parse_webhook(body)


async def receive_alertmanager(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    with request.app[INTAKE].receiving():
        response = await _receive(request)
    metrics.webhook_requests.labels(str(response.status)).inc()
    return response


async def _receive(request: web.Request) -> web.Response:
    app = request.app
    if not is_authorized(request.headers.get("Authorization"), app[CREDENTIALS]):
        log.warning("webhook_unauthorized", remote=request.remote)
        return error_response(401, "missing or wrong credentials")
    if request.content_type not in JSON_TYPES:
        return error_response(415, f"Content-Type must be application/json, got {request.content_type!r}")
    try:
        body = await read_body(request, app[SETTINGS].webhook.max_body_bytes)
    except PayloadError as exc:
        log.warning("webhook_rejected", status=exc.status, error=str(exc), field=exc.field)
        return error_response(exc.status, str(exc), exc.field)
    digest = body_digest(body)
    seen = app[RECENT_BODIES].get(digest)  # a re-send of bytes validated and stored before
    payload: WebhookPayload | None = None
    if seen is None:
        try:
            payload = await _parse(body)
        except PayloadError as exc:
            log.warning("webhook_rejected", status=exc.status, error=str(exc), field=exc.field)
            return error_response(exc.status, str(exc), exc.field)
    try:
        if payload is not None:
            notification_id = await app[STORE].write(accept_notification, payload, body, digest=digest)
        else:
            assert seen is not None
            notification_id = await app[STORE].write(accept_resend, seen.notification_id, seen.head, digest)
    except sqlite3.Error as exc:
        log.error("webhook_store_failed", error=str(exc))
        return error_response(503, "storage unavailable; Alertmanager will retry")
    if payload is not None:
        seen = accepted(notification_id, payload)
        app[RECENT_BODIES].put(digest, seen)
    assert seen is not None
    app[MATERIALIZER].accepted()
    metrics = app[METRICS]
    for status, count in seen.statuses.items():
        metrics.alerts_received.labels(status).inc(count)
    log.debug("webhook_stored", group_key=seen.head.group_key, notification_id=notification_id)
    return web.json_response(
        {
            "status": "ok",
            "notification_id": notification_id,
            "incidents": list(seen.incident_ids),
            "alerts": seen.head.alert_count,
        }
    )
