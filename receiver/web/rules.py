"""`/api/v1/rules`: list, add, replace and delete detection rules at runtime (config-file ones: read-only)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web
from pydantic import ValidationError

from receiver.errors import InvalidRuleField, PayloadError, RuleConflict, RuleNotFound
from receiver.scheduled.settings import RuleSettings, rule_error
from receiver.web.json_errors import decode_json, error_response, is_unicode, read_body
from receiver.web.keys import SCHEDULER

if TYPE_CHECKING:
    from receiver.scheduled.scheduler import DetectionScheduler

T = TypeVar("T")


def _validationerror_response(exc: ValidationError) -> web.Response:
    field, message = rule_error(exc)
    return error_response(400, f"{field}: {message}" if field else message, field)


def rule_routes(scheduler: DetectionScheduler | None = None) -> list[web.RouteDef]:
    """GET/POST /api/v1/rules and PUT/DELETE /api/v1/rules/{name} (add auth in front).

    The handlers use `scheduler` when given, else the app's `SCHEDULER` (set when the app starts).
    """

    def scheduler_of(request: web.Request) -> DetectionScheduler:
        return scheduler if scheduler is not None else request.app[SCHEDULER]

    async def list_rules(request: web.Request) -> web.Response:
        rules = await scheduler_of(request).rules()
        return web.json_response(
            {
                "status": "success",
                "data": [{**r.model_dump(mode="json"), "source": origin} for r, origin in rules],
            }
        )

    def path_name(request: web.Request) -> str | web.Response:
        name = request.match_info["name"]
        if is_unicode(name):
            return name
        return error_response(404, "no such rule (the name is not valid UTF-8)", "name")

    async def rule_of(request: web.Request) -> RuleSettings | web.Response:
        """The body's rule, or the 4xx answer. Under /rules/{name} the body may omit the name or repeat it."""
        name = path_name(request) if "name" in request.match_info else None
        if isinstance(name, web.Response):
            return name
        try:
            body = decode_json(await read_body(request))
        except PayloadError as exc:
            return error_response(exc.status, str(exc), exc.field)
        if not isinstance(body, dict):
            return error_response(400, "body must be a JSON object with the rule fields")
        if name is not None and body.setdefault("name", name) != name:
            return error_response(400, "name: the body names another rule than the path", "name")
        try:
            return RuleSettings.model_validate(body)
        except ValidationError as exc:
            return _validationerror_response(exc)

    def answer(rule: RuleSettings, status: int, notes: list[str]) -> web.Response:
        data = {**rule.model_dump(mode="json"), "source": "api"}
        return web.json_response({"status": "success", "data": data, "notes": notes}, status=status)

    async def refused(change: Awaitable[T]) -> T | web.Response:
        """What `change` gives once made; else the answer saying why not (400 PromQL the backend rejects,
        409 in use or read-only, 404)."""
        try:
            return await change
        except InvalidRuleField as exc:
            return error_response(400, f"{exc.field}: {exc}", exc.field)
        except RuleConflict as exc:
            return error_response(409, str(exc), "name")
        except RuleNotFound as exc:
            return error_response(404, str(exc), "name")

    async def store(request: web.Request, *, replace: bool) -> web.Response:
        """Add (201) or replace (200) the body's rule, its query tried first (`notes` in the answer)."""
        rule = await rule_of(request)
        if isinstance(rule, web.Response):
            return rule
        notes = await refused(scheduler_of(request).store_rule(rule, replace=replace))
        if isinstance(notes, web.Response):
            return notes
        return answer(rule, 200 if replace else 201, notes)

    async def add_rule(request: web.Request) -> web.Response:
        return await store(request, replace=False)

    async def replace_rule(request: web.Request) -> web.Response:
        return await store(request, replace=True)

    async def delete_rule(request: web.Request) -> web.Response:
        name = path_name(request)
        if isinstance(name, web.Response):
            return name
        refusal = await refused(scheduler_of(request).delete_rule(name))
        return refusal if isinstance(refusal, web.Response) else web.Response(status=204)

    return [
        web.get("/api/v1/rules", list_rules),
        web.post("/api/v1/rules", add_rule),
        web.put("/api/v1/rules/{name}", replace_rule),
        web.delete("/api/v1/rules/{name}", delete_rule),
    ]
