"""The one JSON error answer of every route (`{"status": "error", "error": message, "field": ...}`), and
the one way request bodies are read and decoded, so malformed input is a 4xx naming the problem."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError

from receiver.errors import PayloadError

Model = TypeVar("Model", bound=BaseModel)


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


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The request body, decompressed as its Content-Encoding says; a body that does not decode (gzip
    bytes sent as deflate, garbage as br) or is over `limit` raises PayloadError (400 / 413)."""
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise PayloadError(413, f"body of {request.content_length} bytes exceeds the limit of {limit}")
    try:
        body = await (_read_at_most(request, limit + 1) if limit is not None else request.read())
    except (ContentEncodingError, RequestPayloadError) as exc:
        encoding = request.headers.get("Content-Encoding", "identity")
        raise PayloadError(400, f"the body does not decode as Content-Encoding {encoding!r}") from exc
    if limit is not None and len(body) > limit:
        raise PayloadError(413, f"body exceeds the limit of {limit} bytes")
    return body


async def _read_at_most(request: web.Request, size: int) -> bytes:
    """The body up to `size` bytes. One `content.read(size)` returns only what has arrived so far: a body
    that comes in several TCP segments (anything past the socket's buffer, or a slow sender) was cut."""
    chunks: list[bytes] = []
    received = 0
    while received < size:
        chunk = await request.content.read(size - received)
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    """JSON of a UTF-8 body; malformed JSON, invalid UTF-8, nesting past Python's limit and strings that
    are not valid Unicode (lone surrogates) raise PayloadError(400) naming the problem."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PayloadError(400, f"the body is not UTF-8 (byte {exc.start}: {exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise PayloadError(400, f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise PayloadError(400, "JSON nested too deeply") from exc
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(400, "a JSON string is not valid Unicode (a lone surrogate escape)") from exc
    except RecursionError as exc:
        raise PayloadError(400, "JSON nested too deeply") from exc
    return data


def is_unicode(text: str) -> bool:
    """False for text with lone surrogates (what a percent-encoded invalid UTF-8 path decodes to)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def read_model(request: web.Request, model: type[Model]) -> Model | web.Response:
    """The JSON body as `model`, or the 4xx answer: the body's own problem, or the first invalid field
    (`field` is its dotted path)."""
    try:
        return model.model_validate(decode_json(await read_body(request)))
    except PayloadError as exc:
        return error_response(exc.status, str(exc), exc.field)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return error_response(400, f"{field}: {first['msg']}", field)
