"""The real app over a metric source, with fake Grafana and Slack and an outgoing-webhook receiver on
loopback: what the resolution of an incident says in each, for the recovery-at-resolution tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from demo.processes import ManagedProcess
from demo.tsdb import start_backfilled_prometheus
from receiver.web.app import build_app
from receiver.web.resources import pipeline_parts
from tests.delivery.conftest import ServerFactory
from tests.delivery.test_outgoing_webhook import start_receiver
from tests.delivery.test_resolved_end_to_end import Episode
from tests.fakes.grafana import FakeGrafana
from tests.fakes.slack import FakeSlack
from tests.receiver.conftest import make_settings


@dataclass
class Destinations:
    """Where the app delivers: a fake Grafana and Slack, and the outgoing webhook's received bodies."""

    grafana: FakeGrafana
    grafana_url: str
    slack: FakeSlack
    slack_url: str
    webhook: list[tuple[dict[str, str], bytes]]
    webhook_url: str

    def events(self, name: str) -> list[dict[str, Any]]:
        """The outgoing webhook's events named `name`, in the order received."""
        documents = [json.loads(body) for _, body in self.webhook]
        return [d for d in documents if d["event"] == name]

    def region_text(self, incident_id: str) -> str:
        """The text of the Grafana region of `incident_id`."""
        [region] = [a for a in self.grafana.annotations.values() if a["data"]["incident_id"] == incident_id]
        return str(region["text"])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """A real Prometheus backfilled with `Episode`'s series (the pool saturates, errors follow, both
    recover), one per test module."""
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("prom"), Episode().series())
    yield proc
    proc.stop()


@pytest.fixture
async def destinations(
    serve: ServerFactory, grafana: tuple[FakeGrafana, str], slack: tuple[FakeSlack, str]
) -> Destinations:
    received, webhook_url = await start_receiver(serve, [])
    return Destinations(*grafana, *slack, received, webhook_url)


async def start_app(
    aiohttp_client: Any,
    tmp_path: Path,
    prometheus_url: str,
    to: Destinations,
    prometheus: dict[str, Any] | None = None,
    **pipeline: Any,
) -> Any:
    """The app with its real pipeline; `prometheus` and `pipeline` settings as given (the rest default)."""
    settings = make_settings(
        tmp_path,
        prometheus={"url": prometheus_url, "retries": 0, **(prometheus or {})},
        grafana={"url": to.grafana_url, "token": to.grafana.token},
        slack={"token": FakeSlack().token, "channel": "C0ALERTS", "api_url": to.slack_url},
        outgoing_webhook={"url": to.webhook_url},
        pipeline=pipeline,
    )
    return await aiohttp_client(build_app(settings, pipeline_parts))
