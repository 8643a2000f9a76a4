"""An alert storm asks Prometheus once for what its alerts share (`prometheus.share_seconds`): one rule's
alerts on eight instances, in one notification, through the running app and a real Prometheus. With
sharing off, every alert asks again; the diagnoses are the same either way."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient, TestServer

from demo.processes import ManagedProcess
from receiver.config import load_settings
from receiver.testing import wait_idle
from receiver.web.app import build_app
from receiver.web.keys import PIPELINE
from tests.delivery.recovery_app import prometheus
from tests.delivery.test_recovery_fired_again import api_requests_served
from tests.delivery.test_resolved_end_to_end import Episode

__all__ = ["prometheus"]  # the fixture: a Prometheus backfilled with Episode's series

INSTANCES = 8


def storm(episode: Episode) -> dict[str, Any]:
    """Episode's alert on INSTANCES instances of the orders service, in one notification."""
    body = copy.deepcopy(episode.webhook("firing"))
    [alert] = body["alerts"]
    body["alerts"] = [
        {**alert, "labels": {**alert["labels"], "instance": f"orders-{i}:8080"}, "fingerprint": f"f{i}"}
        for i in range(1, INSTANCES + 1)
    ]
    return body


async def diagnose_storm(
    tmp_path: Path, prometheus: ManagedProcess, share_seconds: float
) -> tuple[float, list[Any]]:
    """How many API requests Prometheus answered for the storm, and each incident's primary hypothesis."""
    tmp_path.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"path": str(tmp_path / "aa.db")},
                "detection": {"enabled": False},
                "prometheus": {"url": prometheus.url, "retries": 0, "share_seconds": share_seconds},
            }
        )
    )
    async with TestClient(TestServer(build_app(load_settings(config, environ={})))) as client:
        served = api_requests_served(prometheus)
        answer = await client.post("/webhook/alertmanager", json=storm(Episode()))
        assert answer.status == 200, await answer.text()
        incidents = (await answer.json())["incidents"]
        await wait_idle(client.app[PIPELINE], within=120)
        asked = api_requests_served(prometheus) - served
        primaries = []
        for incident_id in incidents:
            detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
            hypothesis = detail["diagnosis"]["primary_hypothesis"]
            primaries.append((hypothesis["category"], hypothesis["suspect"]))
    return asked, primaries


async def test_a_storms_alerts_share_their_queries_and_diagnoses(
    tmp_path: Path, prometheus: ManagedProcess
) -> None:
    alone, alone_primaries = await diagnose_storm(tmp_path / "alone", prometheus, share_seconds=0)
    shared, shared_primaries = await diagnose_storm(tmp_path / "shared", prometheus, share_seconds=15)

    assert len(shared_primaries) == INSTANCES
    assert shared_primaries == alone_primaries
    assert shared <= alone / 3, (shared, alone)
