"""A resolution's Grafana region and webhook event: follow-ups instead of the firing-time mitigations, and
the recovery checked at resolution when there was one."""

from __future__ import annotations

import json

from pydantic import SecretStr

from receiver.delivery import GrafanaSettings, OutgoingWebhookSettings
from receiver.delivery.recovery import RecoveryCheck
from receiver.testing import drain
from tests.delivery.builders import make_diagnosis, make_incident, resolved
from tests.delivery.test_outgoing_webhook import start_receiver

MITIGATIONS = ("Raise the pool size to 50", "Restart order-router")
BACK = RecoveryCheck(
    "PnLDrawdownHigh resolved after 10m; postgres was back within its usual range 4m after the alert.",
    ("Confirm the recovery holds: postgres is back within its usual range.", "Review it if it recurs."),
    suspect_back=True,
)


async def test_the_closed_region_lists_follow_ups_instead_of_mitigations(grafana, make_service) -> None:
    fake, url = grafana
    service = await make_service(grafana=GrafanaSettings(url=url, token=SecretStr("glsa_test")))
    incident = make_incident()
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 5)
    assert "Raise the pool size to 50" in fake.annotations[1]["text"]

    await service.on_incident_resolved(resolved(incident, after=600), make_diagnosis())
    await drain(service, 5)
    text = fake.annotations[1]["text"]
    assert fake.annotations[1]["timeEnd"] == 1_764_000_600_250
    assert "<br>Follow-up:<br>1. Confirm the recovery holds: check that postgres is back" in text
    assert not any(m in text for m in MITIGATIONS) and "Top actions" not in text


async def test_the_closed_region_says_how_the_alert_recovered(grafana, make_service) -> None:
    fake, url = grafana
    service = await make_service(grafana=GrafanaSettings(url=url, token=SecretStr("glsa_test")))
    incident = make_incident()
    await service.on_diagnosis(incident, make_diagnosis())
    await service.on_incident_resolved(resolved(incident), make_diagnosis(), BACK)
    await drain(service, 5)

    text = fake.annotations[1]["text"]
    assert "<br>Recovery: PnLDrawdownHigh resolved after 10m; postgres was back within" in text
    assert "<br>Follow-up:<br>1. Confirm the recovery holds: postgres is back within its usual range." in text


async def test_the_resolved_event_carries_follow_ups_and_the_recovery(serve, make_service) -> None:
    received, url = await start_receiver(serve, [])
    service = await make_service(outgoing_webhook=OutgoingWebhookSettings(url=url))
    incident = make_incident()
    await service.on_diagnosis(incident, make_diagnosis())
    await service.on_incident_resolved(resolved(incident), make_diagnosis(), BACK)
    await drain(service, 5)

    firing, closing = (json.loads(body) for _, body in received)
    assert firing["diagnosis"]["immediate_actions"] == list(MITIGATIONS)
    assert closing["event"] == "resolved"
    assert closing["diagnosis"]["immediate_actions"] == list(BACK.follow_ups)
    assert closing["recovery"] == {
        "text": BACK.text,
        "follow_ups": list(BACK.follow_ups),
        "suspect_back": True,
        "checked": True,
    }


async def test_a_resolved_event_without_a_check_still_follows_up(serve, make_service) -> None:
    received, url = await start_receiver(serve, [])
    service = await make_service(outgoing_webhook=OutgoingWebhookSettings(url=url))
    await service.on_incident_resolved(resolved(make_incident()), make_diagnosis())
    await drain(service, 5)

    [(_, body)] = received
    closing = json.loads(body)
    assert closing["recovery"] is None
    assert closing["diagnosis"]["immediate_actions"][0].startswith("Confirm the recovery holds")
    assert not set(MITIGATIONS) & set(closing["diagnosis"]["immediate_actions"])


def test_the_page_shows_the_recovery_without_the_alerts_own_labels_and_the_api_in_full() -> None:
    """As Slack's closing summary does: the alert's labels are shown once at the top of the page. Before,
    the page repeated them in every selector of the recovery sentence."""
    from receiver.web.incident_page import recovery_checked

    detail = 'demo_db_pool_in_use{book="eurusd",desk="fx-spot",pool="orders"} was still off its baseline'
    stages = [{"stage": "deliver", "detail": "queued"}, {"stage": "recovery", "detail": detail}]

    shown = recovery_checked(stages, {"alertname": "OrderErrorRateHigh", "book": "eurusd", "desk": "fx-spot"})
    assert shown == 'demo_db_pool_in_use{pool="orders"} was still off its baseline'
    assert recovery_checked(stages) == detail
