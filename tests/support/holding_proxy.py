"""A loopback proxy in front of a real Prometheus that can stop answering, for tests of a hung backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer


class HoldingProxy:
    """Forwards to Prometheus until `hold` is set; from then on accepts each request and never answers
    (until `release`, at the end of the test)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.hold = False
        self.holding = 0
        self.released = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.hold:
            self.holding += 1
            try:
                await self.released.wait()
            finally:
                self.holding -= 1
            return web.Response(status=503)
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=await request.read(), headers=headers
            ) as answer,
        ):
            body = await answer.read()
            return web.Response(status=answer.status, body=body, content_type=answer.content_type)


@asynccontextmanager
async def holding_proxy(upstream: str) -> AsyncIterator[tuple[HoldingProxy, str]]:
    """A HoldingProxy in front of `upstream` on loopback, and its URL; the held requests end at exit."""
    holding = HoldingProxy(upstream)
    server = TestServer(holding.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield holding, str(server.make_url("")).rstrip("/")
    finally:
        holding.released.set()  # the held requests' threads end now, not at their own timeout
        await server.close()
