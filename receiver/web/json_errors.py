"""The one JSON error answer of every route: `{"status": "error", "error": message, "field": ...}`."""

from __future__ import annotations

import json

from aiohttp import web


def error_body(message: str, field: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"status": "error", "error": message}
    if field:
        body["field"] = field
    return body


def error_response(status: int, message: str, field: str | None = None) -> web.Response:
    """The error as a response (a 401 also names the Bearer realm)."""
    headers = {"WWW-Authenticate": 'Bearer realm="alert-analyst"'} if status == 401 else None
    return web.json_response(error_body(message, field), status=status, headers=headers)


def bad_request(message: str, field: str | None = None) -> web.HTTPBadRequest:
    """The error as an exception to raise from a helper deep in a handler."""
    return web.HTTPBadRequest(text=json.dumps(error_body(message, field)), content_type="application/json")
