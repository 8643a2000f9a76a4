"""Fixtures: fake Slack, Grafana and PagerDuty on 127.0.0.1, a temp SQLite store, a service factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from receiver.delivery import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    RetryPolicy,
    SlackSettings,
)
from receiver.delivery.service import DeliveryService
from receiver.storage.database import Store
from tests.fakes.grafana import FakeGrafana
from tests.fakes.pagerduty import PATH as PAGERDUTY_PATH
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack

PUBLIC_URL = "http://alert-analyst.test:8080"
FAST_RETRIES = RetryPolicy(
    base_seconds=0.05, max_seconds=0.2, max_attempts=4, jitter=0.2, idle_poll_seconds=0.2
)


ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


async def _serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def servers() -> AsyncIterator[list[TestServer]]:
    started: list[TestServer] = []
    yield started
    for server in started:
        await server.close()


@pytest.fixture
async def serve(servers: list[TestServer]) -> ServerFactory:
    async def start(app: web.Application) -> TestServer:
        server = await _serve(app)
        servers.append(server)
        return server

    return start


@pytest.fixture
async def slack(serve: ServerFactory) -> tuple[FakeSlack, str]:
    fake = FakeSlack()
    server = await serve(fake.app())
    return fake, str(server.make_url("/api/"))


@pytest.fixture
async def grafana(serve: ServerFactory) -> tuple[FakeGrafana, str]:
    fake = FakeGrafana()
    server = await serve(fake.app())
    return fake, str(server.make_url(""))


@pytest.fixture
async def pagerduty(serve: ServerFactory) -> tuple[FakePagerDuty, str]:
    fake = FakePagerDuty()
    server = await serve(fake.app())
    return fake, str(server.make_url(PAGERDUTY_PATH))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "alert-analyst.db")


ServiceFactory = Callable[..., Awaitable[DeliveryService]]


@pytest.fixture
async def make_service(store: Store) -> AsyncIterator[ServiceFactory]:
    started: list[DeliveryService] = []

    async def build(**sections: Any) -> DeliveryService:
        service = DeliveryService(
            store,
            grafana=sections.get("grafana", GrafanaSettings()),
            slack=sections.get("slack", SlackSettings()),
            pagerduty=sections.get("pagerduty", PagerDutySettings()),
            outgoing_webhook=sections.get("outgoing_webhook", OutgoingWebhookSettings()),
            noise=sections.get("noise", NoiseSettings()),
            public_url=PUBLIC_URL,
            registry=sections.get("registry", CollectorRegistry()),
            retry_policy=sections.get("retry_policy", FAST_RETRIES),
        )
        await service.start()
        started.append(service)
        return service

    yield build
    for service in started:
        await service.stop(timeout=2)
    store.close()
