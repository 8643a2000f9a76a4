"""Compressed answers: the workbench's pages, the JSON API and the static assets go gzip (or deflate) to a
client that accepts it (aiohttp's `enable_compression` reads Accept-Encoding; `Vary: Accept-Encoding`
tells caches). The list page's HTML shrinks about tenfold, uPlot's script by half."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

COMPRESSED_TYPES = frozenset(
    {"text/html", "text/css", "text/javascript", "application/javascript", "application/json"}
)
COMPRESSED_SUFFIXES = (".js", ".css", ".json")  # static files: their type is known only once sent
MIN_BYTES = 1024  # below a packet, compressing gains nothing


@web.middleware
async def compress_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if worth_compressing(response, request.path):
        response.enable_compression()
        vary = response.headers.get("Vary")
        response.headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
    return response


def worth_compressing(response: web.StreamResponse, path: str) -> bool:
    """Text of a compressible type, large enough, not already encoded."""
    if "Content-Encoding" in response.headers:
        return False
    if isinstance(response, web.FileResponse):
        return path.endswith(COMPRESSED_SUFFIXES)
    if isinstance(response, web.Response):
        body = response.body
        size = len(body) if isinstance(body, bytes | bytearray) else 0
        return response.content_type in COMPRESSED_TYPES and size >= MIN_BYTES
    return False
