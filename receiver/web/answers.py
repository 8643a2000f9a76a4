"""Every HTTP answer counted by route and code (`alert_analyst_http_responses_total`), errors included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from receiver.web.json_errors import error_response
from receiver.web.keys import METRICS

log = structlog.get_logger("receiver.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def count_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the answer; an exception no handler turned into an answer becomes a logged, counted JSON 500."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        request.app[METRICS].http_responses.labels(route, str(exc.status)).inc()
        raise
    except Exception:
        log.exception("unhandled_error", route=route, method=request.method)
        response = error_response(500, "internal error; see the receiver's log")
    request.app[METRICS].http_responses.labels(route, str(response.status)).inc()
    return response
