"""POST /webhook/alertmanager: authenticate, validate, commit the notification to SQLite, then answer.

The answer names the incidents the notification touches; `Materializer` creates or closes them right
behind it (in notification order, resumed after a restart).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import sqlite_utils
import structlog
from aiohttp import hdrs, web

from receiver.errors import PayloadError
from receiver.payload import WebhookPayload, parse_webhook
from receiver.storage.incidents import (
    accept_notification,
    accept_resend,
    alert_occurrences,
    body_digest,
    current_incident_ids,
)
from receiver.web.auth import is_authorized
from receiver.web.json_errors import (
    error_body,
    error_response,
    method_not_allowed,
    read_body,
    unauthorized,
)
from receiver.web.keys import CREDENTIALS, INTAKE, MATERIALIZER, METRICS, RECENT_BODIES, SETTINGS, STORE
from receiver.web.resends import Accepted, accepted

log = structlog.get_logger("receiver.webhook")

JSON_TYPES = ("application/json",)
PARSE_IN_THREAD_BYTES = 256 * 1024


async def _parse(body: bytes) -> WebhookPayload:
    if len(body) > PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_webhook, body)
    return parse_webhook(body)


async def receive_alertmanager(request: web.Request) -> web.Response:
    """The webhook's route takes every method, so that a sender using the wrong one is answered and
    counted as a webhook request (a 405 that AlertAnalystWebhookRejected sees)."""
    metrics = request.app[METRICS]
    if request.method != hdrs.METH_POST:
        response = method_not_allowed(request.method, [hdrs.METH_POST])
    else:
        with request.app[INTAKE].receiving():
            response = await _receive(request)
    metrics.webhook_requests.labels(str(response.status)).inc()
    return response


async def _receive(request: web.Request) -> web.Response:
    app = request.app
    if not is_authorized(request.headers.get("Authorization"), app[CREDENTIALS]):
        log.warning("webhook_unauthorized", remote=request.remote)
        return unauthorized(app[CREDENTIALS])
    if request.content_type not in JSON_TYPES:  # no Accept-Encoding: that is for a refused Content-Encoding
        message = f"Content-Type must be application/json, got {request.content_type!r}"
        return web.json_response(error_body(message), status=415)
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
    if payload is not None:
        occurrences = alert_occurrences(payload)
    else:
        assert seen is not None
        occurrences = list(seen.occurrences)
    try:
        notification_id, incidents = await app[STORE].write(
            _store_notification, payload, body, digest, seen, occurrences
        )
    except sqlite3.Error as exc:
        log.error("webhook_store_failed", error=str(exc))
        return error_response(503, "storage unavailable; Alertmanager will retry")
    if payload is not None:
        seen = accepted(notification_id, payload, occurrences)
        app[RECENT_BODIES].put(digest, seen)
    assert seen is not None
    app[MATERIALIZER].accepted()
    metrics = app[METRICS]
    for status, count in seen.statuses.items():
        metrics.alerts_received.labels(status).inc(count)
    group_key = seen.head.group_key
    if seen.truncated_alerts:
        metrics.alerts_truncated.inc(seen.truncated_alerts)
        log.warning(
            "webhook_truncated",
            group_key=group_key,
            truncated=seen.truncated_alerts,
            hint="Alertmanager's max_alerts left these alerts out: they are not tracked",
        )
    log.debug("webhook_stored", group_key=group_key, notification_id=notification_id)
    return web.json_response(
        {
            "status": "ok",
            "notification_id": notification_id,
            "incidents": incidents,
            "alerts": seen.head.alert_count,
        }
    )


def _store_notification(
    db: sqlite_utils.Database,
    payload: WebhookPayload | None,
    body: bytes,
    digest: str,
    seen: Accepted | None,
    occurrences: list[tuple[str, str]],
) -> tuple[int, list[str]]:
    """Store a notification (`payload`, or a re-send of `seen` as a reference to its first copy) and name
    the incidents it touches as they stand: an alert firing again after its resolution names its new
    incident (call through Store.write)."""
    now = time.time()
    if payload is not None:
        notification_id = accept_notification(db, payload, body, now, digest=digest)
    else:
        assert seen is not None
        notification_id = accept_resend(db, seen.notification_id, seen.head, digest, now)
    return notification_id, current_incident_ids(db, occurrences, now)
