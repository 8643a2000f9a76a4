"""The recovery check at resolution is bounded by `pipeline.stage_timeout_seconds`: a Prometheus that stops
answering (behind a loopback proxy that holds its requests) makes the check say it timed out, the
resolution is delivered all the same, and the check's analysis slot is free again at the limit, while
the requests still hang."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from demo.processes import ManagedProcess
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE
from tests.delivery.recovery_app import Destinations, destinations, prometheus, start_app
from tests.delivery.test_resolved_end_to_end import Episode, closing_text
from tests.support.holding_proxy import HoldingProxy, holding_proxy
from tests.support.polling import eventually

__all__ = ["destinations", "prometheus"]  # the fixtures

LIMIT = 3.0  # pipeline.stage_timeout_seconds: the firing stages take a few hundredths of a second each


@pytest.fixture
async def proxy(prometheus: ManagedProcess) -> AsyncIterator[tuple[HoldingProxy, str]]:
    async with holding_proxy(prometheus.url) as held:
        yield held


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
