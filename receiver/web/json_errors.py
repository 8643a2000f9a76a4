"""The one JSON error answer of every route (`{"status": "error", "error": message, "field": ...}`), and
the one way request bodies are read and decoded, so malformed input is a 4xx naming the problem."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import zlib
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError

from receiver.errors import PayloadError
from receiver.payload import decode_utf8_json
from receiver.web.auth import Credentials

Model = TypeVar("Model", bound=BaseModel)

# The Content-Encodings `read_body` decodes, with their zlib window bits. aiohttp's own decoding is off
# (`handler_args` in build_app): it answered br and zstd with a plain-text 400 before any handler ran,
# and passed codings it does not know through undecoded.
DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ACCEPTED_ENCODINGS = ("identity", *DECODERS)
DECODE_IN_THREAD_BYTES = 64 * 1024
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FORM_FIELDS = 1000  # aiohttp's own limit for request.post()


def error_body(message: str, field: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"status": "error", "error": message}
    if field:
        body["field"] = field
    return body


def error_headers(status: int) -> dict[str, str] | None:
    """What an error answer carries besides its body: a 401 names the Bearer realm, a 415 the accepted
    Content-Encodings (the workbench's HTML answers carry them too)."""
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="alert-analyst"'}
    if status == 415:
        return {"Accept-Encoding": ", ".join(DECODERS)}
    return None


def error_response(status: int, message: str, field: str | None = None) -> web.Response:
    """The error as a JSON response, with its `error_headers`."""
    return web.json_response(error_body(message, field), status=status, headers=error_headers(status))


def method_not_allowed(method: str, allowed: Iterable[str]) -> web.Response:
    """The 405 of a path that takes other methods, naming them (also in `Allow`)."""
    methods = ", ".join(sorted(allowed))
    response = error_response(405, f"method {method} not allowed here: use {methods}")
    response.headers[hdrs.ALLOW] = methods
    return response


def unauthorized(credentials: Credentials) -> web.Response:
    """The 401 of a request without the configured credentials, challenging for those configured."""
    response = web.json_response(error_body("missing or wrong credentials"), status=401)
    for challenge in credentials.challenges():
        response.headers.add(hdrs.WWW_AUTHENTICATE, challenge)
    return response


def bad_request(message: str, field: str | None = None) -> web.HTTPBadRequest:
    """The error as an exception to raise from a helper deep in a handler."""
    return web.HTTPBadRequest(text=json.dumps(error_body(message, field)), content_type="application/json")


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The request body, decoded as its Content-Encoding says (identity, gzip or deflate). Raises
    PayloadError: 415 for another coding, 400 for a body that does not decode (gzip bytes sent as deflate),
    413 for one over `limit` (default: the app's client_max_size) as sent or once decoded."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "")
    wbits = _window_bits(encoding)
    limit = request.client_max_size if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise PayloadError(413, f"body of {request.content_length} bytes exceeds the limit of {limit}")
    try:
        body = await _read_at_most(request, limit + 1)
    except RequestPayloadError as exc:
        raise PayloadError(400, f"the body could not be read: {exc}") from exc
    if wbits is not None and len(body) <= limit:
        try:
            if len(body) > DECODE_IN_THREAD_BYTES:
                body = await asyncio.to_thread(_decompressed, body, wbits, limit)
            else:
                body = _decompressed(body, wbits, limit)
        except zlib.error as exc:
            raise PayloadError(400, f"the body does not decode as Content-Encoding {encoding!r}") from exc
    if len(body) > limit:
        raise PayloadError(413, f"body exceeds the limit of {limit} bytes")
    return body


def _window_bits(encoding: str) -> int | None:
    """zlib's window bits for the Content-Encoding `encoding` (None: identity); PayloadError(415) for a
    coding `read_body` does not decode."""
    coding = encoding.strip().lower() or "identity"
    if coding not in ACCEPTED_ENCODINGS:
        accepted = ", ".join(ACCEPTED_ENCODINGS)
        raise PayloadError(415, f"Content-Encoding {encoding!r} is not supported; accepted: {accepted}")
    return DECODERS.get(coding)


def _decompressed(body: bytes, wbits: int, limit: int) -> bytes:
    """`body` decompressed (every member of a gzip body), stopping once past `limit` bytes; zlib.error
    for a stream that is corrupt, ends early, or has bytes after its end that are not another member."""
    parts: list[bytes] = []
    size = 0
    rest = body
    while rest:
        decompressor = zlib.decompressobj(wbits)
        parts.append(decompressor.decompress(rest, limit + 1 - size))
        size += len(parts[-1])
        if size > limit:
            break
        if not decompressor.eof:
            raise zlib.error("the compressed stream ends early")
        rest = decompressor.unused_data
        if rest and wbits != DECODERS["gzip"]:
            raise zlib.error("bytes after the end of the compressed stream")
    return b"".join(parts)


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


async def read_form(request: web.Request, limit: int | None = None) -> dict[str, str]:
    """A workbench form's fields (a repeated field keeps its last value), its body read as `read_body`
    reads one (limit, Content-Encodings), then parsed as UTF-8: x-www-form-urlencoded (also without a
    Content-Type) or multipart/form-data. Raises PayloadError: read_body's 400, 413 and 415; 415 for
    another Content-Type; 400 for bytes that are not UTF-8 and for a file, naming its field; 413 past
    MAX_FORM_FIELDS fields."""
    content_type = request.content_type if hdrs.CONTENT_TYPE in request.headers else FORM_TYPES[0]
    if content_type not in FORM_TYPES:
        accepted = " or ".join(FORM_TYPES)
        raise PayloadError(415, f"Content-Type {content_type!r} is not a form; send {accepted}")
    body = await read_body(request, limit)
    if content_type == "multipart/form-data":
        return _multipart_fields(request.headers[hdrs.CONTENT_TYPE], body)
    try:
        pairs = parse_qsl(
            body.decode("utf-8").rstrip(),  # as aiohttp did: `curl -d @file` ends in a newline
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError as exc:
        raise PayloadError(400, f"the form is not UTF-8 ({exc.reason})") from exc
    except ValueError as exc:
        raise PayloadError(413, f"the form has more than {MAX_FORM_FIELDS} fields") from exc
    return dict(pairs)


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data body (parts without a name are left out)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("utf-8", "surrogateescape")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise PayloadError(400, "the multipart/form-data body does not parse (its boundary?)")
    fields: dict[str, str] = {}
    for number, part in enumerate(message.iter_parts()):
        if number >= MAX_FORM_FIELDS:
            raise PayloadError(413, f"the form has more than {MAX_FORM_FIELDS} fields")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        if part.get_filename() is not None:
            raise PayloadError(400, f"{name} must be text, not a file", name)
        raw = part.get_payload(decode=True)
        try:
            fields[name] = raw.decode("utf-8") if isinstance(raw, bytes) else ""
        except UnicodeDecodeError as exc:
            raise PayloadError(400, f"{name} is not UTF-8 ({exc.reason})", name) from exc
    return fields


def decode_json(body: bytes) -> Any:
    """JSON of a UTF-8 body; malformed JSON, invalid UTF-8, nesting past Python's limit and strings that
    are not valid Unicode (lone surrogates) raise PayloadError(400) naming the problem."""
    data = decode_utf8_json(body)
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
