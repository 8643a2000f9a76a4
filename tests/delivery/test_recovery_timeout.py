"""The recovery check at resolution is bounded by `pipeline.stage_timeout_seconds`: a Prometheus that stops
answering (behind a loopback proxy that holds its requests) makes the check say it timed out, the
resolution is delivered all the same, and the check's analysis slot is free again at the limit, while
the requests still hang."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from demo.processes import ManagedProcess
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE
from tests.delivery.recovery_app import Destinations, destinations, prometheus, start_app
from tests.delivery.test_resolved_end_to_end import Episode, closing_text
from tests.support.polling import eventually

__all__ = ["destinations", "prometheus"]  # the fixtures

LIMIT = 3.0  # pipeline.stage_timeout_seconds: the firing stages take a few hundredths of a second each


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


@pytest.fixture
async def proxy(prometheus: ManagedProcess) -> AsyncIterator[tuple[HoldingProxy, str]]:
    holding = HoldingProxy(prometheus.url)
    server = TestServer(holding.app(), host="127.0.0.1")
    await server.start_server()
    yield holding, str(server.make_url("")).rstrip("/")
    holding.released.set()  # the held requests' threads end now, not at their own timeout
    await server.close()


async def resolve_while_prometheus_hangs(client: Any, holding: HoldingProxy, episode: Episode) -> str:
    answer = await client.post("/webhook/alertmanager", json=episode.webhook("firing"))
    [incident_id] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    holding.hold = True
    await client.post("/webhook/alertmanager", json=episode.webhook("resolved"))
    await wait_idle(client.app[PIPELINE])
    return str(incident_id)


async def test_a_check_past_the_limit_says_it_timed_out_and_the_resolution_is_delivered(
    aiohttp_client: Any, tmp_path: Path, proxy: tuple[HoldingProxy, str], destinations: Destinations
) -> None:
    holding, url = proxy
    client = await start_app(
        aiohttp_client, tmp_path, url, destinations, {"timeout_seconds": 60}, stage_timeout_seconds=LIMIT
    )
    incident_id = await resolve_while_prometheus_hangs(client, holding, Episode())

    assert holding.holding > 0  # the check's queries were sent, and still hang
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    outcomes = {s["stage"]: s["outcome"] for s in detail["stages"]}
    assert outcomes["collect_evidence"] == outcomes["detect"] == "ok"  # while it fired, through the proxy
    [row] = [s for s in detail["stages"] if s["stage"] == "recovery"]
    assert (row["outcome"], row["detail"]) == ("error", f"not checked: timed out after {LIMIT:g}s.")

    await eventually(lambda: len(destinations.events("resolved")) == 1, within=20)
    [event] = destinations.events("resolved")
    assert event["recovery"]["text"] == row["detail"] and event["recovery"]["checked"] is False
    await eventually(lambda: "Resolved" in closing_text(destinations.slack), within=20)
    assert f"*Recovery:* not checked: timed out after {LIMIT:g}s." in closing_text(destinations.slack)
    region = destinations.region_text(incident_id)
    assert "Recovery: not checked: timed out" in region and "Follow-up:" in region


async def test_a_timed_out_check_frees_its_analysis_slot_while_its_queries_still_hang(
    aiohttp_client: Any, tmp_path: Path, proxy: tuple[HoldingProxy, str], destinations: Destinations
) -> None:
    holding, url = proxy
    client = await start_app(
        aiohttp_client,
        tmp_path,
        url,
        destinations,
        {"timeout_seconds": 60},
        stage_timeout_seconds=LIMIT,
        max_concurrent_analyses=1,
    )
    await resolve_while_prometheus_hangs(client, holding, Episode())

    async with asyncio.timeout(30), client.app[PIPELINE].heavy_work():  # the one slot (fails, not hangs)
        assert holding.holding > 0
