"""`pipeline.recovery_check` turns the recovery check at resolution on (the default) or off: off, nothing
is fetched again and the closing messages carry no recovery line, as without a metric source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demo.processes import ManagedProcess
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE
from tests.delivery.recovery_app import Destinations, destinations, prometheus, start_app
from tests.delivery.test_recovery_fired_again import api_requests_served, firing_again
from tests.delivery.test_resolved_end_to_end import Episode, closing_text
from tests.support.polling import eventually

__all__ = ["destinations", "prometheus"]  # the fixtures


async def fire_then_resolve(client: Any, prometheus: ManagedProcess, episode: Episode) -> tuple[str, float]:
    """The incident's id, and how many queries Prometheus answered for its resolution."""
    answer = await client.post("/webhook/alertmanager", json=episode.webhook("firing"))
    [incident_id] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    served = api_requests_served(prometheus)
    await client.post("/webhook/alertmanager", json=episode.webhook("resolved"))
    await wait_idle(client.app[PIPELINE])
    return str(incident_id), api_requests_served(prometheus) - served


async def closed(to: Destinations, incident_id: str) -> dict[str, Any]:
    """The resolved webhook event, once the Slack summary and the Grafana region are closed too."""
    await eventually(lambda: len(to.events("resolved")) == 1, within=20)
    await eventually(lambda: bool(to.slack.parents()) and "Resolved" in closing_text(to.slack), within=20)
    await eventually(lambda: "Follow-up:" in to.region_text(incident_id), within=20)
    [event] = to.events("resolved")
    return event


async def test_on_the_resolution_is_checked_and_every_closing_message_says_how_it_recovered(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, destinations: Destinations
) -> None:
    client = await start_app(aiohttp_client, tmp_path, prometheus.url, destinations, recovery_check=True)
    incident_id, queries = await fire_then_resolve(client, prometheus, Episode())
    event = await closed(destinations, incident_id)

    assert queries > 0
    assert event["recovery"]["checked"] is True and event["recovery"]["suspect_back"] is True
    assert "*Recovery:* OrderErrorsHigh resolved at" in closing_text(destinations.slack)
    assert "was back within its usual range" in destinations.region_text(incident_id)
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["recovery"] == event["recovery"]["text"]


async def test_off_nothing_is_fetched_and_no_closing_message_has_a_recovery_line(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, destinations: Destinations
) -> None:
    client = await start_app(aiohttp_client, tmp_path, prometheus.url, destinations, recovery_check=False)
    incident_id, queries = await fire_then_resolve(client, prometheus, Episode())
    event = await closed(destinations, incident_id)

    assert queries == 0
    assert event["recovery"] is None
    assert event["diagnosis"]["immediate_actions"][0].startswith("Confirm the recovery holds: check that")
    summary = closing_text(destinations.slack)
    assert "*Recovery:*" not in summary and "*Follow-up:*\n1. Confirm the recovery holds" in summary
    region = destinations.region_text(incident_id)
    assert "Recovery:" not in region and "<br>Follow-up:<br>1. Confirm the recovery holds" in region
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["recovery"] is None
    assert not [s for s in detail["stages"] if s["stage"] == "recovery"]


async def test_off_an_incident_closed_because_its_alert_fired_again_has_no_recovery_line_either(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, destinations: Destinations
) -> None:
    client = await start_app(aiohttp_client, tmp_path, prometheus.url, destinations, recovery_check=False)
    episode = Episode()
    answer = await client.post("/webhook/alertmanager", json=episode.webhook("firing"))
    [older] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    await client.post("/webhook/alertmanager", json=firing_again(episode, episode.ended_at))
    await wait_idle(client.app[PIPELINE])

    await eventually(lambda: len(destinations.events("resolved")) == 1, within=20)
    [event] = destinations.events("resolved")
    assert event["incident"]["id"] == older and event["recovery"] is None
    await eventually(lambda: "Follow-up:" in destinations.region_text(older), within=20)
    assert "Recovery:" not in destinations.region_text(older)
