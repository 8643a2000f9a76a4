"""The redaction corpus through every destination: what reaches fake Slack, PagerDuty, Grafana and the
outgoing webhook is the recorded request, and no secret kind may appear in it."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from analyst.diagnosis import Category, Hypothesis
from analyst.llm.redact import REDACTED
from receiver.delivery import GrafanaSettings, OutgoingWebhookSettings, PagerDutySettings, SlackSettings
from receiver.testing import drain
from tests.delivery.builders import make_diagnosis, make_incident
from tests.support.redaction_corpus import benign_samples, leak_counts, secret_samples

SECRETS = secret_samples()


async def _webhook_receiver(serve) -> tuple[list[bytes], str]:
    bodies: list[bytes] = []

    async def receive(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = await serve(app)
    return bodies, str(server.make_url("/hook"))


async def _all_destinations(slack, pagerduty, grafana, serve, make_service) -> tuple[Any, list[bytes]]:
    (_, slack_url), (_, pagerduty_url), (_, grafana_url) = slack, pagerduty, grafana
    bodies, hook_url = await _webhook_receiver(serve)
    service = await make_service(
        slack=SlackSettings(token=SecretStr("xoxb-test-token"), channel="C0ALERTS", api_url=slack_url),
        pagerduty=PagerDutySettings(routing_key=SecretStr("R0UT1NGKEY"), url=pagerduty_url),
        grafana=GrafanaSettings(url=grafana_url, token=SecretStr("glsa_test")),
        outgoing_webhook=OutgoingWebhookSettings(url=hook_url),
    )
    return service, bodies


def _incident_carrying(text: str, index: int):
    labels = {"alertname": f"Leak{index}", "severity": "critical", "carrier": text, "job": "shop"}
    return make_incident(
        id=f"inc-{index}",
        fingerprint=f"fp{index}",
        alertname=f"Leak{index}",
        labels=labels,
        annotations={"summary": text, "description": text},
        group_key=f'{{}}:{{carrier="{text}"}}',
    )


def _diagnosis_carrying(text: str, index: int):
    primary = Hypothesis(f"Cause {text}", Category.DEPENDENCY_DATABASE, text, 0.8, (text,), ())
    return make_diagnosis(
        incident_id=f"inc-{index}",
        primary_hypothesis=primary,
        executive_summary=text,
        immediate_actions=(text,),
    )


def _sent(slack, pagerduty, grafana, webhook_bodies: list[bytes]) -> dict[str, str]:
    """What each destination received, as text."""
    return {
        "slack": json.dumps(slack[0].requests, ensure_ascii=False),
        "pagerduty": json.dumps(pagerduty[0].events, ensure_ascii=False),
        "grafana": json.dumps(grafana[0].requests, ensure_ascii=False, default=str),
        "webhook": b"\n".join(webhook_bodies).decode(),
    }


async def test_no_secret_kind_leaks_to_any_destination(slack, pagerduty, grafana, serve, make_service):
    service, webhook_bodies = await _all_destinations(slack, pagerduty, grafana, serve, make_service)
    for index, sample in enumerate(SECRETS):
        incident = _incident_carrying(sample.text, index)
        await service.on_incident_firing(incident)
        await service.on_diagnosis(incident, _diagnosis_carrying(sample.text, index))
    await drain(service, 60)

    fake_slack = slack[0]
    assert len(fake_slack.parents()) == len(SECRETS)
    assert len(pagerduty[0].accepted) == len(SECRETS)
    assert len(webhook_bodies) == len(SECRETS)
    assert len(grafana[0].requests_to("POST", "/api/annotations")) == len(SECRETS)
    for body in webhook_bodies:  # each sample really went out, as [REDACTED]
        document = json.loads(body)
        assert document["incident"]["labels"]["carrier"].count(REDACTED) >= 1
        assert REDACTED in document["diagnosis"]["executive_summary"]

    for destination, sent in _sent(slack, pagerduty, grafana, webhook_bodies).items():
        counts = leak_counts(SECRETS, sent)
        print(f"\n{destination} leaks per kind: {counts}")
        assert counts == dict.fromkeys(counts, 0), destination


async def test_benign_label_values_reach_slack_pagerduty_and_the_webhook_intact(
    slack, pagerduty, grafana, serve, make_service
):
    service, webhook_bodies = await _all_destinations(slack, pagerduty, grafana, serve, make_service)
    labelled = [s for s in benign_samples() if s.context]
    labels = {"alertname": "Lookalikes", "severity": "critical"} | {s.context: s.text for s in labelled}
    incident = make_incident(alertname="Lookalikes", labels=labels)
    await service.on_incident_firing(incident)
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 10)

    [document] = [json.loads(body) for body in webhook_bodies]
    [event] = pagerduty[0].accepted
    assert document["incident"]["labels"] == labels
    assert event["payload"]["custom_details"]["labels"] == labels
    [parent] = slack[0].parents()
    labels_line = parent["blocks"][1]["text"]["text"]
    for name, value in labels.items() - {("alertname", "Lookalikes"), ("severity", "critical")}:
        assert f"`{name}={value}`" in labels_line
