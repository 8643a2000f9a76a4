"""A reload that fixes a refused Slack token recreates every thread whose parent was refused while one of its
alerts fires, not only its group's newest one: each parent before its replies, each alert announced once,
and nothing that was already sent is sent again. A reply that waited on a thread the group has replaced
goes into the current one instead of reopening it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from receiver.delivery import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    SlackSettings,
)
from receiver.delivery.service import DeliveryService
from receiver.testing import drain
from receiver.web.keys import DELIVERY
from tests.delivery.builders import make_diagnosis, make_incident, resolved
from tests.delivery.conftest import PUBLIC_URL, ServiceFactory
from tests.delivery.test_reload_rejected_credentials import notify, reload_and_send
from tests.delivery.test_resolved_end_to_end import Episode
from tests.fakes.grafana import FakeGrafana
from tests.fakes.slack import FakeSlack
from tests.receiver.test_reload_web import document, start

ORDERS = '{}:{alertname="OrderErrorsHigh"}'
PAYMENTS = '{}:{alertname="PaymentErrorsHigh"}'


def slack_only(tmp_path: Path, slack_url: str, token: str) -> dict[str, Any]:
    return {**document(tmp_path), "slack": {"token": token, "channel": "#alerts", "api_url": slack_url}}


def firing(episode: Episode, group: str, instance: str) -> dict[str, Any]:
    """The episode's alert on `instance`, in the alert group `group`."""
    body = episode.webhook("firing")
    body["groupKey"] = group
    [alert] = body["alerts"]
    alert["labels"] = {**alert["labels"], "instance": instance}
    alert["fingerprint"] = instance
    return body


def thread_of(fake: FakeSlack, incident_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The one parent message naming the incident, and its replies."""
    [parent] = [m for m in fake.parents() if incident_id in json.dumps(m["blocks"])]
    return parent, fake.replies(parent["ts"])


async def reconfigure(
    service: DeliveryService, grafana: GrafanaSettings | None = None, slack: SlackSettings | None = None
) -> None:
    """A reload that gives the service `grafana` and `slack` (the other destinations off), then sends
    what it queued."""
    await service.reconfigure(
        grafana=grafana or GrafanaSettings(),
        slack=slack or SlackSettings(),
        pagerduty=PagerDutySettings(),
        outgoing_webhook=OutgoingWebhookSettings(),
        noise=NoiseSettings(),
        public_url=PUBLIC_URL,
    )
    await drain(service, 5)


async def test_every_refused_thread_is_recreated_before_its_replies(
    tmp_path: Path, slack: tuple[FakeSlack, str]
) -> None:
    fake, url = slack
    fake.token = "right"
    config, client = start(tmp_path, slack_only(tmp_path, url, "wrong"))
    episode = Episode()
    async with client:
        first = await notify(client, firing(episode, ORDERS, "orders-1:8080"))
        second = await notify(client, firing(episode, ORDERS, "orders-2:8080"))  # the group's thread failed
        other = await notify(client, firing(episode, PAYMENTS, "payments-1:8080"))

        await reload_and_send(client, config, slack_only(tmp_path, url, "right"))

        for incident_id in (first, second, other):
            rows = await client.app[DELIVERY].list_deliveries(incident_id)
            assert [row["status"] for row in rows if row["kind"] == "diagnosis"] == ["sent"]
    assert len(fake.parents()) == 3  # one thread per alert, as none of them reached a thread before
    for incident_id in (first, second, other):
        parent, [reply] = thread_of(fake, incident_id)
        assert incident_id in json.dumps(reply["blocks"])
        assert fake.messages.index(parent) < fake.messages.index(reply)


async def test_a_thread_that_was_sent_is_not_sent_again_with_its_refused_replies(
    tmp_path: Path, slack: tuple[FakeSlack, str]
) -> None:
    fake, url = slack
    fake.token = "first"
    config, client = start(tmp_path, slack_only(tmp_path, url, "first"))
    episode = Episode()
    async with client:
        first = await notify(client, firing(episode, ORDERS, "orders-1:8080"))
        fake.token = "second"  # revoked: the group's next alert is refused in the thread
        second = await notify(client, firing(episode, ORDERS, "orders-2:8080"))

        await reload_and_send(client, config, slack_only(tmp_path, url, "second"))

        rows = await client.app[DELIVERY].list_deliveries(second)
        assert [row["status"] for row in rows if row["kind"] == "diagnosis"] == ["sent"]
    parent, replies = thread_of(fake, first)
    assert fake.parents() == [parent]
    assert [second in json.dumps(reply["blocks"]) for reply in replies] == [False, True, True]


async def test_an_alert_announced_by_two_refused_parents_gets_one_thread(
    slack: tuple[FakeSlack, str], make_service: ServiceFactory
) -> None:
    """Its parent was refused before its diagnosis was planned, which opened a second thread for it."""
    fake, url = slack
    fake.token = "right"
    service = await make_service(
        slack=SlackSettings(token=SecretStr("wrong"), channel="#alerts", api_url=url)
    )
    incident = make_incident()
    await service.on_incident_firing(incident)
    await drain(service, 5)
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 5)

    await reconfigure(service, slack=SlackSettings(token=SecretStr("right"), channel="#alerts", api_url=url))

    [parent] = fake.parents()
    assert [reply["text"].split(" ")[0] for reply in fake.replies(parent["ts"])] == ["Diagnosis"]


async def test_an_incident_annotated_by_two_refused_regions_gets_one(
    grafana: tuple[FakeGrafana, str], make_service: ServiceFactory
) -> None:
    """Diagnosed again while Grafana refused the token: its first region was refused, so the second
    diagnosis planned a new one. The reload draws the newest only."""
    fake, url = grafana
    fake.token = "right"
    service = await make_service(grafana=GrafanaSettings(url=url, token=SecretStr("wrong")))
    incident = make_incident()
    for summary in ("the first diagnosis", "the second diagnosis"):
        await service.on_diagnosis(incident, make_diagnosis(immediate_actions=(summary,)))
        await drain(service, 5)

    await reconfigure(service, grafana=GrafanaSettings(url=url, token=SecretStr("right")))

    [region] = fake.annotations.values()
    assert "the second diagnosis" in region["text"]


async def test_a_reply_that_waited_on_a_superseded_thread_goes_to_the_current_one(
    slack: tuple[FakeSlack, str], make_service: ServiceFactory
) -> None:
    """Two alerts of a group in one notification: the second's reply and diagnosis wait on the first's
    parent, which is refused. The first alert resolves and a third opens the group's current thread. The
    reload posts that thread with the second alert's messages in it, and not the first's thread."""
    fake, url = slack
    fake.token = "right"
    service = await make_service(
        slack=SlackSettings(token=SecretStr("wrong"), channel="#alerts", api_url=url)
    )
    first, second, third = (make_incident(id=f"inc-{n}", fingerprint=f"fp-{n}") for n in (1, 2, 3))
    await service.stop()  # the second alert is planned while the first's parent is still to be sent
    await service.on_incident_firing(first)
    await service.on_incident_firing(second)
    await service.on_diagnosis(second, make_diagnosis(incident_id=second.id))
    await service.start()
    await drain(service, 5)
    await service.on_incident_resolved(resolved(first), None)
    await service.on_incident_firing(third)  # the group's current thread, refused too
    await drain(service, 5)

    await reconfigure(service, slack=SlackSettings(token=SecretStr("right"), channel="#alerts", api_url=url))

    [parent] = fake.parents()  # the first alert's thread is not posted again
    assert third.id in json.dumps(parent["blocks"])
    replies = fake.replies(parent["ts"])
    assert fake.messages == [parent, *replies]
    assert [second.id in json.dumps(reply["blocks"]) for reply in replies] == [True, True]
    rows = await service.list_deliveries(second.id)
    assert [(row["kind"], row["status"]) for row in rows] == [("alert", "sent"), ("diagnosis", "sent")]
