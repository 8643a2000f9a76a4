"""A counter its exporter declares (`# TYPE x counter`) without the `_total` suffix (postgres_exporter's
`pg_stat_database_xact_commit`, mysqld_exporter's `mysql_global_status_queries`, many JMX exporters) is
put under rate() as Prometheus' metadata says, not judged by its running total. Through a real Prometheus
scraping a loopback exporter: metadata exists only for what Prometheus scrapes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from demo.processes import ManagedProcess, start_prometheus
from receiver.evidence.fetching import FetchScope, Window, counter_metrics
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings, PrometheusSettings

EXPOSITION = """# HELP app_errors Errors since start (a legacy counter: no _total).
# TYPE app_errors counter
app_errors{{service="pay"}} {errors}
# HELP app_open_sessions Sessions open now.
# TYPE app_open_sessions gauge
app_open_sessions{{service="pay"}} 12
"""


@pytest.fixture
async def exporter(aiohttp_server) -> AsyncIterator[TestServer]:
    started = time.monotonic()

    async def metrics(request: web.Request) -> web.Response:
        errors = int((time.monotonic() - started) * 10)
        return web.Response(text=EXPOSITION.format(errors=errors), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    yield await aiohttp_server(app)


@pytest.fixture
def scraping(tmp_path: Path, exporter: TestServer) -> Iterator[ManagedProcess]:
    config = (
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: app\n    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"
    )
    proc = start_prometheus(tmp_path / "prometheus", config)
    yield proc
    proc.stop()


async def declared_types(url: str) -> dict[str, str]:
    source = PrometheusSource(PrometheusSettings(url=url, retries=0))
    try:
        return await source.metric_types()
    finally:
        await source.close()


async def test_a_counter_declared_without_total_is_put_under_rate(scraping: ManagedProcess) -> None:
    deadline = time.monotonic() + 15
    while "app_errors" not in (types := await declared_types(scraping.url)):  # until the first scrape
        assert time.monotonic() < deadline, "Prometheus never scraped the exporter"
        await asyncio.sleep(0.2)
    source = PrometheusSource(PrometheusSettings(url=scraping.url, retries=0))
    now = time.time()
    scope = FetchScope(source, ContextSettings(), Window(now - 600, now, 15.0), [])
    groups = {"app_errors": [{"service": "pay"}], "app_open_sessions": [{"service": "pay"}]}

    rated = await counter_metrics(groups, set(groups), scope)
    await source.close()

    assert types["app_errors"] == "counter" and types["app_open_sessions"] == "gauge"
    assert rated == {"app_errors"}  # by name alone neither is a counter
