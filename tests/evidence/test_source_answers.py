"""What PrometheusSource says when prometheus.url names nothing, or a service that is not the PromQL API:
one MetricSourceError whose message names the cause and the setting, counted by kind."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from demo.processes import free_port
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import MetricSourceError, gather_then_raise

SourceCall = Callable[[PrometheusSource], Awaitable[object]]


def range_query(source: PrometheusSource) -> Awaitable[object]:
    return source.query_range("up", 100, 130, 15)


async def raised(
    url: str, call: SourceCall = range_query, registry: CollectorRegistry | None = None
) -> MetricSourceError:
    """The MetricSourceError a PrometheusSource at `url` raises for `call` (a range query by default)."""
    prometheus = PrometheusSource(PrometheusSettings(url=url, retries=0), registry=registry)
    try:
        with pytest.raises(MetricSourceError) as caught:
            await call(prometheus)
    finally:
        await prometheus.close()
    return caught.value


async def test_a_closed_port_is_unreachable_with_the_os_reason_and_the_setting_to_check() -> None:
    error = await raised(f"http://127.0.0.1:{free_port()}")

    assert error.kind == "unreachable"
    assert re.fullmatch(
        r"unreachable: cannot connect: \[Errno \d+\] Connection refused; check prometheus\.url",
        str(error),
    ), str(error)


def answering(body: Any) -> web.Application:
    """A JSON API that is not Prometheus': every path answers 200 with `body` as application/json."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


OTHER_JSON_APIS = ["hello", {"data": "x"}, [1, 2], {"data": {"result": "x"}}, {"status": "ok"}, None]


@pytest.mark.parametrize("body", OTHER_JSON_APIS, ids=repr)
async def test_json_of_another_shape_is_an_unexpected_response_naming_the_url(aiohttp_server, body) -> None:
    server = await aiohttp_server(answering(body))
    url = str(server.make_url("/api")).rstrip("/")
    registry = CollectorRegistry()

    error = await raised(url, registry=registry)

    assert str(error) == (
        f"other: unexpected response from {url}/api/v1/query_range: not a Prometheus API answer "
        "(is prometheus.url the PromQL API?)"
    )
    assert registry.get_sample_value("alert_analyst_metric_source_errors_total", {"kind": "other"}) == 1


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda source: source.series(["up"], 100, 130), "/api/v1/series"),
        (lambda source: source.rules(), "/api/v1/rules"),
    ],
    ids=["series", "rules"],
)
@pytest.mark.parametrize("body", ["hello", {"data": "x"}, {"data": {"groups": "x"}}], ids=repr)
async def test_series_and_rules_of_another_shape_are_unexpected_responses(
    aiohttp_server, call, path: str, body: Any
) -> None:
    server = await aiohttp_server(answering(body))
    url = str(server.make_url("")).rstrip("/")

    error = await raised(url, call)

    assert error.kind == "other"
    assert str(error).startswith(f"other: unexpected response from {url}{path}: not a Prometheus API")


async def test_a_page_that_is_not_json_is_an_unexpected_response(aiohttp_server) -> None:
    async def login_page(request: web.Request) -> web.Response:
        return web.Response(text="<html>sign in</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/api/v1/query_range", login_page)
    server = await aiohttp_server(app)
    url = str(server.make_url("")).rstrip("/")

    error = await raised(url)

    assert str(error) == (
        f"other: unexpected response from {url}/api/v1/query_range: not JSON "
        "(is prometheus.url the PromQL API?)"
    )


async def test_a_failed_call_is_raised_only_when_its_siblings_are_done() -> None:
    finished: list[str] = []

    async def fails() -> str:
        raise MetricSourceError("unreachable", "down")

    async def slow() -> str:
        await asyncio.sleep(0.05)
        finished.append("slow")
        return "slow"

    with pytest.raises(MetricSourceError, match="down"):
        await gather_then_raise([fails(), slow()])

    assert finished == ["slow"]
