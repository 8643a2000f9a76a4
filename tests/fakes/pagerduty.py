"""A fake PagerDuty Events API v2 (`POST /v2/enqueue`): validates events as documented, answers 202,
400 `invalid event`, or queued failures (429, 5xx), and tracks open alerts per dedup_key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PATH = "/v2/enqueue"
ACTIONS = {"trigger", "acknowledge", "resolve"}
SEVERITIES = {"critical", "error", "warning", "info"}


@dataclass
class FakePagerDuty:
    events: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    open_alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def fail_next(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        self.failures.extend((status, headers or {}) for _ in range(times))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(PATH, self._enqueue)
        return app

    @staticmethod
    def _errors(event: dict[str, Any]) -> list[str]:
        errors = []
        if not event.get("routing_key"):
            errors.append("'routing_key' is missing or blank")
        if event.get("event_action") not in ACTIONS:
            errors.append("'event_action' is invalid")
        dedup_key = event.get("dedup_key")
        if event.get("event_action") in ("acknowledge", "resolve") and not dedup_key:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if dedup_key is not None and len(dedup_key) > 255:
            errors.append("'dedup_key' must be at most 255 characters")
        if event.get("event_action") == "trigger":
            payload = event.get("payload") or {}
            for key in ("summary", "source", "severity"):
                if not payload.get(key):
                    errors.append(f"'payload.{key}' is missing or blank")
            if len(payload.get("summary") or "") > 1024:
                errors.append("'payload.summary' must be at most 1024 characters")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid")
        return errors

    async def _enqueue(self, request: web.Request) -> web.Response:
        try:
            event = await request.json()
        except ValueError:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid JSON"]},
                status=400,
            )
        self.events.append(event)
        if self.failures:
            status, headers = self.failures.pop(0)
            return web.json_response(
                {"status": "throttled" if status == 429 else "error"}, status=status, headers=headers
            )
        errors = self._errors(event)
        if errors:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status=400,
            )
        dedup_key = event.get("dedup_key") or f"generated-{len(self.accepted)}"
        if event["event_action"] == "trigger":
            self.open_alerts.setdefault(dedup_key, event)
        elif event["event_action"] == "resolve":
            self.open_alerts.pop(dedup_key, None)
        self.accepted.append(event)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=202
        )
