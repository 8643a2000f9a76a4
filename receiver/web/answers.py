"""Every HTTP answer counted by route and code (`alert_analyst_http_responses_total`), errors included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import hdrs, web

from receiver.web.json_errors import error_response, method_not_allowed
from receiver.web.keys import METRICS
from receiver.web.templating import STATIC_PREFIX, error_page

log = structlog.get_logger("receiver.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def count_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the answer under its route's template; aiohttp's own errors (no such path, a method the path
    does not take) become the receiver's (`routing_error_answer`), and an exception no handler turned into
    an answer a logged, counted JSON 500."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        answer = routing_error_answer(request, exc)
        if answer is None:
            request.app[METRICS].http_responses.labels(await route_of(request), str(exc.status)).inc()
            raise
        response = answer
    except Exception:
        log.exception("unhandled_error", route=await route_of(request), method=request.method)
        response = error_response(500, "internal error; see the receiver's log")
    request.app[METRICS].http_responses.labels(await route_of(request), str(response.status)).inc()
    return response


async def route_of(request: web.Request) -> str:
    """The template of the route the path is under ("unmatched" when none has it): a method the path
    does not take still counts under the path's route."""
    resource = request.match_info.route.resource
    if resource is not None:
        return resource.canonical
    for candidate in request.app.router.resources():
        _, allowed = await candidate.resolve(request)
        if allowed:
            return candidate.canonical
    return "unmatched"


def routing_error_answer(request: web.Request, exc: web.HTTPException) -> web.Response | None:
    """aiohttp's plain-text 404 or 405 (or a handler's bare HTTPNotFound) as the receiver answers errors:
    a workbench page under /ui/, JSON elsewhere. None for any other exception (a redirect, an error a
    handler worded itself, a static file's 404), which goes out as it is."""
    plain = exc.content_type == "text/plain" and not request.path.startswith(STATIC_PREFIX)
    if exc.status not in (404, 405) or not plain:
        return None
    worded = exc.text if exc.text != f"{exc.status}: {exc.reason}" else None
    path = request.rel_url.raw_path  # as sent (percent-encoded): a path that is not UTF-8 is shown too
    allowed = [m.strip() for m in exc.headers.get(hdrs.ALLOW, "").split(",") if m.strip()]
    if request.path.startswith("/ui"):
        if exc.status == 404:
            return error_page(request, 404, exc.reason, worded or f"There is no page {path}.")
        message = f"{path} does not take {request.method}: use {', '.join(allowed)}."
        page = error_page(request, 405, exc.reason, message)
        page.headers[hdrs.ALLOW] = ", ".join(allowed)
        return page
    if exc.status == 405:
        return method_not_allowed(request.method, allowed)
    return error_response(404, worded or f"no such path: {path}")
