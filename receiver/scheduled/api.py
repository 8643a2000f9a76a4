"""`/api/v1/rules`: list, add and delete detection rules at runtime (config-file rules are read-only)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from receiver.detection.rules import RuleConflict, RuleNotFound, field_of
from receiver.detection.settings import RuleSettings

if TYPE_CHECKING:
    from receiver.detection.scheduler import DetectionScheduler


def _error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, object] = {"status": "error", "error": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


def _validation_error(exc: ValidationError) -> web.Response:
    first = exc.errors()[0]
    message = str(first.get("msg", "invalid rule"))
    loc = ".".join(str(part) for part in first.get("loc", ()))
    field = loc or field_of(message)
    return _error(400, f"{field or 'rule'}: {message}" if field else message, field)


def rule_routes(scheduler: DetectionScheduler) -> list[web.RouteDef]:
    """GET/POST /api/v1/rules and DELETE /api/v1/rules/{name}, bound to `scheduler` (add auth in front)."""

    async def list_rules(request: web.Request) -> web.Response:
        rules = await scheduler.rules()
        return web.json_response(
            {
                "status": "success",
                "data": [{**r.model_dump(mode="json"), "source": origin} for r, origin in rules],
            }
        )

    async def add_rule(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError as exc:
            return _error(400, f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object with the rule fields")
        try:
            rule = RuleSettings.model_validate(body)
        except ValidationError as exc:
            return _validation_error(exc)
        try:
            await scheduler.add_rule(rule)
        except RuleConflict as exc:
            return _error(409, str(exc), "name")
        return web.json_response(
            {"status": "success", "data": {**rule.model_dump(mode="json"), "source": "api"}}, status=201
        )

    async def delete_rule(request: web.Request) -> web.Response:
        try:
            await scheduler.delete_rule(request.match_info["name"])
        except RuleConflict as exc:
            return _error(409, str(exc), "name")
        except RuleNotFound as exc:
            return _error(404, str(exc), "name")
        return web.Response(status=204)

    return [
        web.get("/api/v1/rules", list_rules),
        web.post("/api/v1/rules", add_rule),
        web.delete("/api/v1/rules/{name}", delete_rule),
    ]
