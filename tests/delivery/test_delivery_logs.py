"""Delivery log lines name the incident and the kind of the row they are about, not those of the pipeline
stage that first woke the destination's queue."""

from __future__ import annotations

import structlog
from structlog.contextvars import bound_contextvars
from structlog.testing import capture_logs

from receiver.testing import drain
from tests.delivery.builders import make_incident
from tests.delivery.test_slack import web_api


async def test_each_delivery_line_carries_its_own_rows_incident_and_kind(slack, make_service) -> None:
    fake, url = slack
    service = await make_service(slack=web_api(url))
    first = make_incident()
    second = make_incident(id="inc-2", fingerprint="bbbb", group_key='{}:{alertname="Other"}')
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        with bound_contextvars(incident_id=first.id):  # as the pipeline binds it around an incident's stages
            await service.on_incident_firing(first)  # starts the channel's queue worker
        await drain(service, 5)
        fake.fail_next("chat.postMessage", error="channel_not_found")
        with bound_contextvars(incident_id=second.id):
            await service.on_incident_firing(second)
        await drain(service, 5)

    [sent] = [line for line in logs if line["event"] == "delivery.sent"]
    [failed] = [line for line in logs if line["event"] == "delivery.failed"]
    assert (sent["incident_id"], sent["kind"]) == ("inc-1", "parent")
    assert (failed["incident_id"], failed["kind"]) == ("inc-2", "parent")
    assert "channel_not_found" in failed["error"]
