"""An alert that fires again with a newer startsAt closes its older incident (superseded): that resolution
is delivered, but the alert is firing, so its recovery is not checked and the closing messages say why,
naming the newer incident."""

from __future__ import annotations

import datetime
import re
import urllib.request
from pathlib import Path
from typing import Any

from demo.processes import ManagedProcess
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE
from tests.delivery.recovery_app import Destinations, destinations, prometheus, start_app
from tests.delivery.test_resolved_end_to_end import Episode
from tests.support.polling import eventually

__all__ = ["destinations", "prometheus"]  # the fixtures


def api_requests_served(prometheus: ManagedProcess) -> float:
    """How many requests Prometheus has answered on its /api/v1/ handlers (its own counter)."""
    with urllib.request.urlopen(f"{prometheus.url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    counts = re.findall(
        r'^prometheus_http_requests_total\{[^}]*handler="/api/v1/[^"]*"[^}]*\} (\S+)$', text, re.M
    )
    return sum(float(c) for c in counts)


def firing_again(episode: Episode, starts: float) -> dict[str, Any]:
    """The same alert (same fingerprint) firing with a newer startsAt: Alertmanager never sent the
    older occurrence's resolution."""
    webhook = episode.webhook("firing")
    webhook["alerts"][0]["startsAt"] = datetime.datetime.fromtimestamp(starts, datetime.UTC).isoformat()
    return webhook


async def fire_then_fire_again(client: Any, episode: Episode) -> tuple[str, str]:
    answer = await client.post("/webhook/alertmanager", json=episode.webhook("firing"))
    [older] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    answer = await client.post("/webhook/alertmanager", json=firing_again(episode, episode.ended_at))
    [newer] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    return str(older), str(newer)


async def test_an_incident_closed_because_its_alert_fired_again_is_not_said_to_have_recovered(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, destinations: Destinations
) -> None:
    client = await start_app(aiohttp_client, tmp_path, prometheus.url, destinations)
    older, newer = await fire_then_fire_again(client, Episode())

    await eventually(lambda: len(destinations.events("resolved")) == 1, within=20)
    [event] = destinations.events("resolved")
    assert event["incident"]["id"] == older
    recovery = event["recovery"]
    assert recovery["text"] == f"not checked: OrderErrorsHigh fired again, as incident {newer}."
    assert (recovery["checked"], recovery["suspect_back"]) == (False, None)
    assert recovery["follow_ups"][0] == (
        f"Follow OrderErrorsHigh in incident {newer}: it fired again, and that incident's resolution"
        " will say whether it recovered."
    )
    assert not any("Confirm the recovery holds" in f for f in recovery["follow_ups"])
    assert event["diagnosis"]["immediate_actions"] == recovery["follow_ups"]

    await eventually(lambda: "Recovery:" in destinations.region_text(older), within=20)
    region = destinations.region_text(older)
    assert f"<br>Recovery: not checked: OrderErrorsHigh fired again, as incident {newer}." in region
    assert "back within its usual range" not in region and "still off its baseline" not in region

    detail = await (await client.get(f"/api/v1/incidents/{older}")).json()
    [row] = [s for s in detail["stages"] if s["stage"] == "recovery"]
    assert row["outcome"] == "skipped" and row["detail"] == recovery["text"]


async def test_nothing_is_fetched_again_for_an_incident_closed_because_its_alert_fired_again(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, destinations: Destinations
) -> None:
    client = await start_app(aiohttp_client, tmp_path, prometheus.url, destinations)
    episode = Episode()
    answer = await client.post("/webhook/alertmanager", json=episode.webhook("firing"))
    [older] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    served = api_requests_served(prometheus)

    await client.post("/webhook/alertmanager", json=firing_again(episode, episode.ended_at))
    await wait_idle(client.app[PIPELINE])
    await eventually(lambda: len(destinations.events("resolved")) == 1, within=20)

    # the newer incident reuses the analysis made minutes ago (pipeline.reuse_analysis_seconds): no query
    assert api_requests_served(prometheus) == served
    detail = await (await client.get(f"/api/v1/incidents/{older}")).json()
    assert detail["incident"]["superseded_by"] and detail["recovery"].startswith("not checked")
