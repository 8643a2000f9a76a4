"""Runs a DeliveryService in its own process against a SQLite file and a Slack API URL (crash tests).

    python -m tests.delivery.run_service <db> <slack_api_url> fire|resolve

`fire` queues a new alert group and its diagnosis, then runs until killed; `resolve` restarts on the
same database, resolves the incident, waits for the outbox to drain and exits 0.
"""

from __future__ import annotations

import asyncio
import sys

from pydantic import SecretStr

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
from receiver.testing import drain
from tests.delivery.builders import make_diagnosis, make_incident, resolved


async def main(db_path: str, slack_url: str, phase: str) -> None:
    store = Store(db_path)
    service = DeliveryService(
        store,
        grafana=GrafanaSettings(),
        slack=SlackSettings(token=SecretStr("xoxb-test-token"), channel="C0ALERTS", api_url=slack_url),
        pagerduty=PagerDutySettings(),
        outgoing_webhook=OutgoingWebhookSettings(),
        noise=NoiseSettings(),
        public_url="http://alert-analyst.test:8080",
        retry_policy=RetryPolicy(base_seconds=0.05, max_seconds=0.2, idle_poll_seconds=0.2),
    )
    await service.start()
    incident = make_incident()
    if phase == "fire":
        await service.on_incident_firing(incident)
        await service.on_diagnosis(incident, make_diagnosis())
        print("queued", flush=True)
        await asyncio.Event().wait()
    await service.on_incident_resolved(resolved(incident), make_diagnosis())
    await drain(service, 20)
    await service.stop()
    store.close()
    print("drained", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
