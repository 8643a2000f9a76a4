"""Grafana sink: one region annotation per diagnosis (POST /api/annotations), closed on resolve (PATCH).

Grafana silently turns an unknown `dashboardUID` into an organisation-wide annotation, so the sink
checks the UID first (GET /api/dashboards/uid/<uid>), warns, and posts org-wide on purpose.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import sqlite_utils
import structlog

from analyst.diagnosis import DiagnosisResult
from analyst.llm.redact import redact_secrets
from receiver.delivery.errors import PermanentDeliveryError, RetryableDeliveryError
from receiver.delivery.http_errors import error_for_status, maybe_sent
from receiver.delivery.protocol import Delivery
from receiver.delivery.settings import GrafanaSettings
from receiver.delivery.summary import IncidentLinks, percent
from receiver.models import Incident
from receiver.storage import outbox as db_outbox

log = structlog.get_logger(__name__)

DESTINATION = "grafana"
QUEUE = DESTINATION
CREATE, PATCH = "annotation", "annotation_patch"
TAG = "alert-analyst"
DASHBOARD_KEYS = ("grafana_dashboard_uid", "__dashboardUid__")
PANEL_KEYS = ("grafana_panel_id", "__panelId__")
AUTH_HINTS = {
    401: " (check grafana.token, or grafana.username and grafana.password)",
    403: " (the token or user lacks the annotations:create / annotations:write permission)",
}


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def _first(annotations: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    return next((annotations[k].strip() for k in keys if annotations.get(k, "").strip()), None)


def _inert_html(text: str) -> str:
    """Untrusted text in an annotation: redacted, then HTML-escaped (redacting after would miss quotes)."""
    return html.escape(redact_secrets(text))


def annotation_text(
    incident: Incident, diagnosis: DiagnosisResult, links: IncidentLinks, recovery: str | None = None
) -> str:
    """The region's HTML text: the cause, its confidence and the top actions. At resolution `recovery` is
    how the alert recovered ("" when not checked) and the diagnosis' actions are follow-ups, headed so."""
    primary = diagnosis.primary_hypothesis
    actions = "".join(f"<br>{n}. {_inert_html(a)}" for n, a in enumerate(diagnosis.immediate_actions[:3], 1))
    heading = "Top actions" if recovery is None else "Follow-up"
    return (
        f"<b>{_inert_html(incident.alertname)}</b>: {_inert_html(primary.title)}"
        f"<br>Confidence: {percent(diagnosis.confidence_score)} ({html.escape(primary.category.value)})"
        + (f"<br>Recovery: {_inert_html(recovery)}" if recovery else "")
        + (f"<br>{heading}:{actions}" if actions else "")
        + f'<br><a href="{html.escape(links.ui)}">Open the diagnosis in alert-analyst</a>'
    )


def build_annotation(
    incident: Incident,
    diagnosis: DiagnosisResult,
    links: IncidentLinks,
    now: float,
    recovery: str | None = None,
) -> dict[str, Any]:
    """The POST /api/annotations body: a region from startsAt to endsAt (or now), in ms; `recovery` as in
    `annotation_text`."""
    primary = diagnosis.primary_hypothesis
    text = annotation_text(incident, diagnosis, links, recovery)
    tags = list(
        dict.fromkeys(
            redact_secrets(t)
            for t in (TAG, incident.alertname, incident.severity, primary.category.value)
            if t
        )
    )
    body: dict[str, Any] = {
        "time": to_ms(incident.starts_at),
        "timeEnd": to_ms(incident.ends_at if incident.ends_at is not None else now),
        "tags": tags,
        "text": text,
        "data": {"incident_id": incident.id, "category": primary.category.value, "diagnosis_url": links.ui},
    }
    dashboard_uid = _first(incident.annotations, DASHBOARD_KEYS)
    if dashboard_uid:
        body["dashboardUID"] = dashboard_uid
        panel = _first(incident.annotations, PANEL_KEYS)
        if panel and panel.isdigit():
            body["panelId"] = int(panel)
    return body


class GrafanaSink:
    destination = DESTINATION

    def __init__(self, settings: GrafanaSettings, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._base = (settings.url or "").rstrip("/")
        self._verify_dashboards = settings.verify_dashboards
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
        self._headers = {"Accept": "application/json"}
        token = settings.token_value()
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif settings.username is not None:
            raw = f"{settings.username}:{settings.password_value() or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        if settings.org_id is not None:
            self._headers["X-Grafana-Org-Id"] = str(settings.org_id)
        self._known_dashboards: dict[str, bool | None] = {}

    async def _request(
        self, method: str, path: str, answered: tuple[int, ...] = (404,), **kwargs: Any
    ) -> tuple[int, Any]:
        """(status, JSON) of a request; a GET answered with a status in `answered` returns (status, None)."""
        try:
            async with self._session.request(
                method,
                self._base + path,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
                **kwargs,
            ) as response:
                text = await response.text()
                if response.status in answered and method == "GET":
                    return response.status, None
                if response.status >= 300:
                    detail = text + AUTH_HINTS.get(response.status, "")
                    raise error_for_status(
                        f"grafana {method} {path}", response.status, detail, response.headers
                    )
                return response.status, await response.json(content_type=None) if text else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(
                f"grafana {method} {path}: {type(exc).__name__}: {exc}", maybe_sent=maybe_sent(exc)
            ) from exc

    async def dashboard_exists(self, uid: str) -> bool | None:
        """Whether the dashboard exists; None when the token may not read dashboards (403: the annotation
        permissions are all it needs), so the UID cannot be checked."""
        if uid not in self._known_dashboards:
            status, _ = await self._request("GET", f"/api/dashboards/uid/{uid}", answered=(403, 404))
            self._known_dashboards[uid] = None if status == 403 else status == 200
        return self._known_dashboards[uid]

    async def send(self, delivery: Delivery) -> dict[str, Any]:
        if delivery.kind == PATCH:
            annotation_id = (delivery.parent_result or {}).get("id")
            if annotation_id is None:
                raise PermanentDeliveryError("grafana: the annotation to close has no id")
            await self._request(
                "PATCH", f"/api/annotations/{annotation_id}", json=dict(delivery.payload["body"])
            )
            return {"id": annotation_id}
        body = dict(delivery.payload["body"])
        body["data"] = {**body.get("data", {}), "delivery_id": delivery.id}
        result: dict[str, Any] = {}
        uid = body.get("dashboardUID")
        exists = await self.dashboard_exists(uid) if uid and self._verify_dashboards else True
        if exists is None:
            result["warning"] = (
                f"could not check Grafana dashboard UID {uid!r} (the token may not read dashboards: grant"
                " dashboards:read, or set grafana.verify_dashboards: false): posted with it as given"
            )
            log.warning(
                "grafana.dashboard_uid_unchecked", dashboard_uid=uid, incident_id=delivery.incident_id
            )
        elif not exists:
            warning = f"unknown Grafana dashboard UID {uid!r}: posted an organisation-wide annotation instead"
            log.warning("grafana.unknown_dashboard_uid", dashboard_uid=uid, incident_id=delivery.incident_id)
            body.pop("dashboardUID")
            body.pop("panelId", None)
            result["warning"] = warning
        _, answer = await self._request("POST", "/api/annotations", json=body)
        if not isinstance(answer, dict) or "id" not in answer:
            raise PermanentDeliveryError(f"grafana POST /api/annotations: unexpected answer {answer!r}")
        return {"id": int(answer["id"]), "dashboardUID": body.get("dashboardUID"), **result}

    async def recover(self, delivery: Delivery) -> dict[str, Any] | None:
        """Look for the annotation an interrupted POST may have created (by `data.delivery_id`). A token
        that may not read annotations (403) cannot tell: post again (a second region rather than none)."""
        if delivery.kind == PATCH:
            return None
        start = delivery.payload["body"]["time"]
        status, found = await self._request(
            "GET",
            "/api/annotations",
            answered=(403,),
            params={"tags": TAG, "from": start, "to": start, "limit": 1000},
        )
        if status == 403:
            log.warning("grafana.recover_unreadable", delivery_id=delivery.id)
            return None
        for item in found or []:
            if (item.get("data") or {}).get("delivery_id") == delivery.id:
                return {"id": int(item["id"]), "dashboardUID": item.get("dashboardUID") or None}
        return None

    def record_result(self, db: sqlite_utils.Database, delivery: Delivery, result: Mapping[str, Any]) -> None:
        if delivery.kind == CREATE:
            db_outbox.record_annotation(db, delivery.incident_id, delivery.id, result["id"], time.time())
