"""A resolved Alertmanager webhook through the real app, a real Prometheus and a fake Slack: the DB pool
saturated, order errors followed, and both came back before the alert resolved."""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.promql import generator_url_for
from receiver.testing import wait_idle
from receiver.web.app import build_app
from receiver.web.keys import PIPELINE
from receiver.web.resources import pipeline_parts
from tests.evidence.scenario import ALERT_EXPR, HISTORY, STEP
from tests.fakes.slack import FakeSlack
from tests.receiver.conftest import make_settings
from tests.support.polling import eventually

# The firing-time playbook's mitigations for a saturated pool (analyst/playbooks/default.yaml).
MITIGATIONS = ("Raise the pool size only if", "Kill long-running or blocking queries")


class Episode:
    """The pool saturates, order errors follow 3 minutes later, both recover; the alert ends after."""

    def __init__(self) -> None:
        self.end = math.floor(time.time() / STEP) * STEP - 60
        self.cause_at = self.end - 40 * 60
        self.alert_at = self.cause_at + 240
        self.recovered_at = self.end - 15 * 60
        self.ended_at = self.end - 5 * 60

    def series(self) -> tuple[SyntheticSeries, ...]:
        ts = np.arange(self.end - HISTORY, self.end + STEP, STEP)
        shop = {"job": "shop", "namespace": "prod"}
        pool = noisy(ts, 20, 2, 1, steps=[(self.cause_at, 100), (self.recovered_at, 20)])
        errors = noisy(ts, 0.01, 0.002, 2, steps=[(self.alert_at - 60, 0.25), (self.recovered_at, 0.01)])
        return (
            SyntheticSeries(
                "demo_db_pool_in_use", {**shop, "service": "postgres", "instance": "db-1:5432"}, ts, pool
            ),
            SyntheticSeries(
                "demo_order_error_ratio",
                {**shop, "service": "orders", "instance": "orders-1:8080"},
                ts,
                np.clip(errors, 0, 1),
            ),
            SyntheticSeries(
                "demo_cpu_usage_ratio",
                {**shop, "service": "frontend", "instance": "web-1:8080"},
                ts,
                noisy(ts, 0.4, 0.02, 3),
            ),
        )

    def webhook(self, status: str) -> dict[str, Any]:
        ends = _iso(self.ended_at) if status == "resolved" else "0001-01-01T00:00:00Z"
        labels = {"alertname": "OrderErrorsHigh", "job": "shop", "service": "orders", "severity": "critical"}
        return {
            "version": "4",
            "status": status,
            "receiver": "alert-analyst",
            "groupKey": '{}:{alertname="OrderErrorsHigh"}',
            "groupLabels": {"alertname": "OrderErrorsHigh"},
            "commonLabels": labels,
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.invalid:9093",
            "alerts": [
                {
                    "status": status,
                    "labels": {**labels, "instance": "orders-1:8080"},
                    "annotations": {"summary": "order errors above 10%"},
                    "startsAt": _iso(self.alert_at),
                    "endsAt": ends,
                    "generatorURL": generator_url_for("http://prometheus.invalid:9090", ALERT_EXPR),
                    "fingerprint": "f00d",
                }
            ],
        }


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


@pytest.fixture(scope="module")
def episode() -> Episode:
    return Episode()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, episode: Episode) -> Iterator[ManagedProcess]:
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("prom"), episode.series())
    yield proc
    proc.stop()


@pytest.fixture
async def fake_slack() -> AsyncIterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/api/"))
    await server.close()


async def start_app(aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, slack_url: str) -> Any:
    settings = make_settings(
        tmp_path,
        prometheus={"url": prometheus.url, "retries": 0},
        slack={"token": FakeSlack().token, "channel": "C0ALERTS", "api_url": slack_url},
    )
    return await aiohttp_client(build_app(settings, pipeline_parts))


def closing_text(fake: FakeSlack) -> str:
    [parent] = fake.parents()
    summary = fake.replies(parent["ts"])[-1]
    return "\n".join((b.get("text") or {}).get("text", "") for b in summary["blocks"])


async def test_an_alert_first_seen_resolved_is_diagnosed_as_recovered(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, episode: Episode, fake_slack: Any
) -> None:
    _, url = fake_slack
    client = await start_app(aiohttp_client, tmp_path, prometheus, url)
    answer = await client.post("/webhook/alertmanager", json=episode.webhook("resolved"))
    [incident_id] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])

    diagnosis = (await (await client.get(f"/api/v1/incidents/{incident_id}")).json())["diagnosis"]
    assert "demo_db_pool_in_use" in diagnosis["primary_hypothesis"]["suspect"]
    summary = diagnosis["executive_summary"]
    assert "OrderErrorsHigh resolved at" in summary and "after 31m" in summary
    assert "demo_db_pool_in_use{" in summary.split("resolved at")[1]
    assert "was back within its usual range" in summary and "still off its baseline" not in summary
    actions = diagnosis["immediate_actions"]
    assert actions[0].startswith("Confirm the recovery holds")
    assert not any(m in " ".join(actions) for m in MITIGATIONS)
    assert any("pool" in measure.lower() for measure in diagnosis["preventive_measures"])


async def test_the_closing_summary_of_a_fired_then_resolved_alert_follows_up(
    aiohttp_client: Any, tmp_path: Path, prometheus: ManagedProcess, episode: Episode, fake_slack: Any
) -> None:
    fake, url = fake_slack
    client = await start_app(aiohttp_client, tmp_path, prometheus, url)
    await client.post("/webhook/alertmanager", json=episode.webhook("firing"))
    await wait_idle(client.app[PIPELINE])
    await client.post("/webhook/alertmanager", json=episode.webhook("resolved"))
    await wait_idle(client.app[PIPELINE])
    await eventually(lambda: len(fake.updates) == 1, within=20)
    await eventually(lambda: "Resolved" in closing_text(fake), within=20)

    closing = closing_text(fake)
    assert "*Follow-up:*\n1. Confirm the recovery holds" in closing
    assert "Confirm or refute the leading cause" in closing
    assert not any(m in closing for m in MITIGATIONS)
