"""A backend that drops connections or is slow to answer one call: what the source says, and what the rest
of the evidence waits for."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from receiver.evidence.source import MetricSourceError
from tests.evidence.alerts import firing_incident

LINGER_ZERO = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # struct linger {on, 0 s}: close() sends a reset


@pytest.fixture(params=["reset", "closed"])
async def dropping(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A server that reads each request and drops the connection without an answer: a reset (RST), or a
    plain close (http.client's RemoteDisconnected)."""

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.05)
        if request.param == "reset":
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ZERO)
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/prefix"
    server.close()


async def test_a_dropped_connection_says_the_server_reset_it_without_the_url(dropping: str) -> None:
    """Before: "cannot connect: HTTPConnectionPool(...): Max retries exceeded with url:
    /prefix/api/v1/query_range?query=..." (the query's whole text)."""
    source = PrometheusSource(PrometheusSettings(url=dropping, retries=0))
    try:
        with pytest.raises(MetricSourceError) as caught:
            await source.query_range('sum(rate(http_requests_total{code="500"}[5m]))', 100, 130, 15)
    finally:
        await source.close()

    assert str(caught.value) == (
        "unreachable: connection reset by the server (it, or a proxy in front of it, closed the connection "
        "without an answer); check its logs and prometheus.url"
    )


async def test_a_call_whose_caller_stopped_waiting_fails_quietly(dropping: str) -> None:
    """A call cancelled while its thread still waits (a sibling failed first) ends in that thread's
    failure: nobody takes it, and asyncio logged it with a traceback ("Future exception was never
    retrieved") on `diagnose`'s stderr."""
    logged: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: logged.append(context))
    source = PrometheusSource(PrometheusSettings(url=dropping, retries=0))
    try:
        call = asyncio.ensure_future(source.query_range("up", 100, 130, 15))
        await asyncio.sleep(0.01)
        call.cancel()
        await asyncio.sleep(0.3)  # the thread's request fails meanwhile
        assert call.cancelled()
        del call  # its frames held the call's future: dropped, an exception never taken is logged
        gc.collect()
    finally:
        await source.close()

    assert not [c for c in logged if "never retrieved" in c.get("message", "")]


def _backend(arrivals: dict[str, float]) -> web.Application:
    """A PromQL API with no data whose /api/v1/status/config takes a second; `arrivals` gets when each
    call (the status call, the alert's expression) arrived."""

    async def status(request: web.Request) -> web.Response:
        arrivals["status"] = time.monotonic()
        await asyncio.sleep(1.0)
        return web.json_response({"status": "success", "data": {"yaml": "global: {}\n"}})

    async def empty(request: web.Request) -> web.Response:
        query = request.query.get("query") or (await request.post()).get("query", "")
        if "checkout_errors_ratio" in str(query):
            arrivals.setdefault("expression", time.monotonic())
        data: Any = (
            [] if request.path.endswith(("/series", "/rules")) else {"resultType": "matrix", "result": []}
        )
        return web.json_response({"status": "success", "data": data})

    app = web.Application()
    app.router.add_get("/api/v1/status/config", status)
    app.router.add_route("*", "/{tail:.*}", empty)
    return app


async def test_the_external_labels_are_asked_beside_the_alert_expression(aiohttp_server) -> None:
    """Before, the alert's expression waited for /api/v1/status/config: a backend that hangs cost two
    timeouts, one for each."""
    arrivals: dict[str, float] = {}
    server = await aiohttp_server(_backend(arrivals))
    source = PrometheusSource(PrometheusSettings(url=str(server.make_url("")).rstrip("/"), retries=0))
    labels = {"alertname": "CheckoutErrors", "namespace": "shop", "service": "checkout"}
    incident = firing_incident(10_000.0, labels, "checkout_errors_ratio > 0.1")
    try:
        await collect_alert_context(incident, source, ContextSettings(), now=10_600.0)
    finally:
        await source.close()

    assert arrivals["expression"] - arrivals["status"] < 0.5
