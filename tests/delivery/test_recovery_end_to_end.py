"""An alert that fired, was diagnosed, then resolved: at resolution the evidence is fetched again (its window
ending at endsAt) from a real Prometheus, and the Slack closing summary says whether the suspect was back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyst.evidence import evidence_from_dict
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.delivery.recovery import suspect_series_id
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE
from tests.delivery.recovery_app import prometheus
from tests.delivery.test_resolved_end_to_end import Episode, closing_text, fake_slack, start_app
from tests.evidence.scenario import HISTORY, STEP
from tests.fakes.slack import FakeSlack
from tests.support.polling import eventually

__all__ = ["fake_slack", "prometheus"]  # the fixtures (fake_slack shared with the first-seen-resolved tests)

POOL = "demo_db_pool_in_use"


class StillSaturated(Episode):
    """The order errors recover and the alert resolves, but the pool stays saturated to the end."""

    def series(self) -> tuple[SyntheticSeries, ...]:
        recovered, cpu = super().series()[1:]
        ts = np.arange(self.end - HISTORY, self.end + STEP, STEP)
        labels = {"job": "shop", "namespace": "prod", "service": "postgres", "instance": "db-1:5432"}
        return (
            SyntheticSeries(POOL, labels, ts, noisy(ts, 20, 2, 1, steps=[(self.cause_at, 100)])),
            recovered,
            cpu,
        )


@pytest.fixture(scope="module")
def saturated_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("prom"), StillSaturated().series())
    yield proc
    proc.stop()


async def fire_then_resolve(client: Any, episode: Episode, before_resolving: Any = None) -> str:
    answer = await client.post("/webhook/alertmanager", json=episode.webhook("firing"))
    [incident_id] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    if before_resolving is not None:
        before_resolving()
    await client.post("/webhook/alertmanager", json=episode.webhook("resolved"))
    await wait_idle(client.app[PIPELINE])
    return str(incident_id)


async def closing_of(fake: FakeSlack) -> str:
    await eventually(lambda: bool(fake.parents()) and "Resolved" in closing_text(fake), within=30)
    return closing_text(fake)


async def test_the_closing_summary_says_the_suspect_was_back(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, fake_slack: Any
) -> None:
    fake, url = fake_slack
    client = await start_app(aiohttp_client, tmp_path, prometheus, url)
    incident_id = await fire_then_resolve(client, Episode())

    closing = await closing_of(fake)
    assert f"{POOL}{{" in closing and "was back within its usual range" in closing
    assert f"*Follow-up:*\n1. Confirm the recovery holds: {POOL}{{" in closing
    assert "is back within its usual range; check that it stays there" in closing
    assert "still off its baseline" not in closing

    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    [recovery] = [s for s in detail["stages"] if s["stage"] == "recovery"]
    assert recovery["outcome"] == "ok" and "was back within its usual range" in recovery["detail"]
    assert detail["recovery"] == recovery["detail"]
    assert "resolved at" not in detail["diagnosis"]["executive_summary"]  # the firing one, kept
    page = await (await client.get(f"/ui/incidents/{incident_id}")).text()
    assert "Recovery, checked at resolution:</b> OrderErrorsHigh resolved at" in page


async def test_an_alert_first_seen_resolved_is_checked_on_its_own_evidence(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, fake_slack: Any
) -> None:
    fake, url = fake_slack
    client = await start_app(aiohttp_client, tmp_path, prometheus, url)
    answer = await client.post("/webhook/alertmanager", json=Episode().webhook("resolved"))
    [incident_id] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])

    closing = await closing_of(fake)
    assert "*Recovery:* OrderErrorsHigh resolved at" in closing
    assert f"*Follow-up:*\n1. Confirm the recovery holds: {POOL}{{" in closing
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert not [s for s in detail["stages"] if s["stage"] == "recovery"]  # nothing fetched again


async def test_a_component_suspect_stands_for_the_series_that_named_its_cause(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, fake_slack: Any
) -> None:
    _, url = fake_slack
    client = await start_app(aiohttp_client, tmp_path, prometheus, url)
    answer = await client.post("/webhook/alertmanager", json=Episode().webhook("firing"))
    [incident_id] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])

    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    evidence = evidence_from_dict(detail["evidence"])
    [pool] = [s.series_id for s in evidence.series if s.metric == POOL]
    assert suspect_series_id("postgres", evidence) == pool
    assert suspect_series_id(pool, evidence) == pool
    assert suspect_series_id("the database, probably", evidence) is None


async def test_the_closing_summary_says_a_suspect_still_off_must_be_checked(
    aiohttp_client: Any, tmp_path: Path, saturated_prometheus: ManagedProcess, fake_slack: Any
) -> None:
    fake, url = fake_slack
    client = await start_app(aiohttp_client, tmp_path, saturated_prometheus, url)
    await fire_then_resolve(client, StillSaturated())

    closing = await closing_of(fake)
    assert f"{POOL}{{" in closing and "was still off its baseline" in closing
    assert "check it before closing the incident" in closing
    assert not re.search(POOL + r"\{[^}]*\} was back", closing)


async def test_prometheus_down_at_resolution_says_the_recovery_was_not_checked(
    aiohttp_client: Any, tmp_path: Path, fake_slack: Any
) -> None:
    fake, url = fake_slack
    episode = Episode()
    prometheus = start_backfilled_prometheus(tmp_path / "prom", episode.series())
    try:
        client = await start_app(aiohttp_client, tmp_path, prometheus, url)
        incident_id = await fire_then_resolve(client, episode, before_resolving=prometheus.stop)
    finally:
        prometheus.stop()

    closing = await closing_of(fake)
    [line] = [line for line in closing.splitlines() if line.startswith("*Recovery:*")]
    assert line.startswith("*Recovery:* not checked: no series could be read at resolution")
    assert "Connection refused; check prometheus.url" in line
    assert "*Follow-up:*\n1. Confirm the recovery holds: check that" in closing
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    [recovery] = [s for s in detail["stages"] if s["stage"] == "recovery"]
    assert recovery["outcome"] == "unavailable"
