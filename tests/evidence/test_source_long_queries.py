"""Long queries go in a form body (a proxy may refuse a long URL), `method: POST` does send one, and an
error that quotes a long query keeps the backend's reason."""

from __future__ import annotations

import pytest
from aiohttp import web

from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import MetricSourceError

LONG = 'up{pod=~"' + "|".join(f"checkout-7d9f8b6c5d-{i:05d}" for i in range(400)) + '"}'


def backend(seen: list[tuple[str, str, dict[str, list[str]]]], max_query_len: int) -> web.Application:
    """Records (method, query string, form); refuses URLs over 8 KB (nginx) and queries over
    `max_query_len` (VictoriaMetrics' -search.maxQueryLen), quoting the query first, as VictoriaMetrics
    does."""

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        seen.append((request.method, request.query_string, {k: form.getall(k) for k in form}))
        if len(request.raw_path) > 8192:
            return web.Response(status=414, text="<html>414 Request-URI Too Large</html>")
        query = str(form.get("query") or request.query.get("query", ""))
        if len(query) > max_query_len:
            error = f'error when executing query="{query}": too long query; got {len(query)} bytes'
            body = {"status": "error", "errorType": "422", "error": error}
            return web.json_response(body, status=422)
        if request.path.endswith("/series"):
            return web.json_response({"status": "success", "data": []})
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": []}})

    app = web.Application()
    app.router.add_route("*", "/api/v1/{endpoint}", handle)
    return app


@pytest.fixture
async def served(aiohttp_server):
    async def start(
        max_query_len: int = 16_384, **settings: object
    ) -> tuple[PrometheusSource, list[tuple[str, str, dict[str, list[str]]]]]:
        seen: list[tuple[str, str, dict[str, list[str]]]] = []
        server = await aiohttp_server(backend(seen, max_query_len))
        url = str(server.make_url("")).rstrip("/")
        sources.append(PrometheusSource(PrometheusSettings(url=url, retries=0, **settings)))
        return sources[-1], seen

    sources: list[PrometheusSource] = []
    yield start
    for source in sources:
        await source.close()


async def test_a_long_query_and_long_matchers_go_in_a_form_body(served) -> None:
    source, seen = await served()

    assert await source.query_range(LONG, 100, 130, 15) == []
    assert await source.series([LONG], 100, 130) == []
    assert await source.query_range("up", 100, 130, 15) == []

    (range_method, range_url, range_form), (series_method, series_url, series_form), short = seen
    assert (range_method, range_url, range_form["query"]) == ("POST", "", [LONG])
    assert (series_method, series_url, series_form["match[]"]) == ("POST", "", [LONG])
    assert short[0] == "GET" and "query=up" in short[1]


async def test_method_post_sends_the_query_in_the_body(served) -> None:
    source, seen = await served(method="POST")

    await source.query_range("up", 100, 130, 15)

    [(method, url, form)] = seen
    assert (method, url) == ("POST", "")
    assert form == {"query": ["up"], "start": ["100"], "end": ["130"], "step": ["15"], "timeout": ["10"]}


async def test_an_error_quoting_a_long_query_keeps_the_reason(served) -> None:
    source, _ = await served(max_query_len=2048)
    query = 'up{id=~"' + "|".join(f"/kubepods.slice/pod-{i:05d}.scope" for i in range(80)) + '"}'

    with pytest.raises(MetricSourceError) as caught:
        await source.query_range(query, 100, 130, 15)

    assert f"too long query; got {len(query)} bytes" in str(caught.value)
    assert caught.value.kind == "too_large"
    assert len(str(caught.value)) < 700
