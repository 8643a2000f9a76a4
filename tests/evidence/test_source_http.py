"""PrometheusSource speaks the documented /api/v1 shapes: path prefix, tenant header, auth, 200-with-error."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import BasicAuth, PrometheusSettings
from receiver.evidence.source import MetricSourceError

MATRIX = {
    "status": "success",
    "data": {
        "resultType": "matrix",
        "result": [
            {"metric": {"__name__": "m", "job": "x"}, "values": [[100, "1"], [115, "NaN"], [130, "+Inf"]]}
        ],
    },
}


def fake_backend(seen: list[web.Request]) -> web.Application:
    async def query_range(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response(MATRIX)

    async def series(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"status": "success", "data": [{"__name__": "m", "job": "x"}] * 3})

    app = web.Application()
    app.router.add_get("/prometheus/api/v1/query_range", query_range)
    app.router.add_get("/prometheus/api/v1/series", series)
    return app


async def test_mimir_style_prefix_tenant_header_and_bearer_token(aiohttp_server):
    seen: list[web.Request] = []
    server = await aiohttp_server(fake_backend(seen))
    source = PrometheusSource(
        PrometheusSettings(
            url=str(server.make_url("/prometheus")),
            headers={"X-Scope-OrgID": "tenant-1"},
            query_params={"dedup": "true"},
            bearer_token="s3cret",
            retries=0,
        )
    )

    [series] = await source.query_range("m", 100, 130, 15)
    await source.close()

    assert series.labels == {"__name__": "m", "job": "x"}
    assert series.timestamps.tolist() == [100, 115, 130]
    assert series.values[0] == 1 and series.values[1] != series.values[1] and series.values[2] == float("inf")
    request = seen[0]
    assert request.headers["X-Scope-OrgID"] == "tenant-1"
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.query["step"] == "15" and request.query["start"] == "100"
    assert request.query["dedup"] == "true"


async def test_basic_auth_from_a_password_file_and_series_limit(aiohttp_server, tmp_path: Path):
    seen: list[web.Request] = []
    server = await aiohttp_server(fake_backend(seen))
    (tmp_path / "password").write_text("hunter2\n")
    source = PrometheusSource(
        PrometheusSettings(
            url=str(server.make_url("/prometheus")),
            retries=0,
            basic_auth=BasicAuth(username="u", password_file=str(tmp_path / "password")),
        )
    )

    found = await source.series(['{job="x"}', '{instance="y"}'], 0, 100, limit=2)
    await source.close()

    assert len(found) == 2
    assert seen[0].headers["Authorization"] == "Basic dTpodW50ZXIy"
    assert seen[0].query.getall("match[]") == ['{job="x"}', '{instance="y"}']


async def test_a_wrong_path_prefix_says_so(aiohttp_server):
    server = await aiohttp_server(fake_backend([]))
    source = PrometheusSource(PrometheusSettings(url=str(server.make_url("")), retries=0))

    with pytest.raises(MetricSourceError) as caught:
        await source.query_range("m", 100, 130, 15)
    await source.close()

    assert caught.value.kind == "other"
    assert str(caught.value).startswith("other: HTTP 404") and "path prefix" in str(caught.value)
