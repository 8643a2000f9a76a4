"""Noise control: suppressed notifications are recorded with their reason, never silently dropped."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from analyst.diagnosis import Category, Hypothesis
from receiver.delivery import NoiseSettings, OutgoingWebhookSettings, SlackSettings
from receiver.testing import drain
from tests.delivery.builders import make_diagnosis, make_incident


def slack_settings(url: str) -> SlackSettings:
    return SlackSettings(token=SecretStr("xoxb-test-token"), channel="C0ALERTS", api_url=url)


async def test_below_severity_threshold_is_recorded_as_suppressed(slack, make_service):
    fake, url = slack
    registry = CollectorRegistry()
    service = await make_service(
        slack=slack_settings(url), noise=NoiseSettings(severity_threshold="error"), registry=registry
    )
    incident = make_incident(severity="warning")
    await service.on_incident_firing(incident)
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 5)
    assert fake.messages == []
    rows = await service.list_deliveries("inc-1")
    assert [(r["kind"], r["status"]) for r in rows] == [("firing", "suppressed"), ("diagnosis", "suppressed")]
    assert "below noise.severity_threshold (error)" in rows[0]["last_error"]
    value = registry.get_sample_value(
        "alert_analyst_deliveries_total", {"destination": "slack", "outcome": "suppressed"}
    )
    assert value == 2


async def test_hourly_budget_per_alertname(slack, make_service):
    fake, url = slack
    service = await make_service(slack=slack_settings(url), noise=NoiseSettings(max_alerts_per_hour=2))
    for n in range(3):
        await service.on_incident_firing(make_incident(id=f"inc-{n}", fingerprint=f"f{n}", group_key=f"g{n}"))
    await service.on_incident_firing(make_incident(id="other", alertname="Other", group_key="g-other"))
    await drain(service, 5)
    assert len(fake.parents()) == 3
    [row] = await service.list_deliveries("inc-2")
    assert row["status"] == "suppressed" and "noise.max_alerts_per_hour=2" in row["last_error"]


async def test_cooldown_suppresses_a_similar_diagnosis_but_not_a_different_cause(slack, make_service):
    _, url = slack
    service = await make_service(slack=slack_settings(url), noise=NoiseSettings(cooldown_minutes=30))
    first = make_incident()
    again = make_incident(id="inc-2", starts_at=first.starts_at + 600, group_key="g2")
    other_cause = make_incident(id="inc-3", starts_at=first.starts_at + 900, group_key="g3")
    await service.on_diagnosis(first, make_diagnosis())
    await service.on_diagnosis(again, make_diagnosis(incident_id="inc-2"))
    volatility = Hypothesis("Volatility spike", Category.MARKET_VOLATILITY, "eurusd", 0.7)
    await service.on_diagnosis(
        other_cause, make_diagnosis(incident_id="inc-3", primary_hypothesis=volatility)
    )
    await drain(service, 5)
    suppressed = [r for r in await service.list_deliveries("inc-2") if r["kind"] == "diagnosis"]
    assert [r["status"] for r in suppressed] == ["suppressed"]
    assert "same alertname, labels and category" in suppressed[0]["last_error"]
    assert {r["status"] for r in await service.list_deliveries("inc-3") if r["kind"] == "diagnosis"} == {
        "sent"
    }


async def test_suppression_covers_every_destination(serve, make_service):
    service = await make_service(
        outgoing_webhook=OutgoingWebhookSettings(url="http://127.0.0.1:9/never"),
        noise=NoiseSettings(severity_threshold="critical"),
    )
    await service.on_diagnosis(make_incident(severity="info"), make_diagnosis())
    await drain(service, 1)
    [row] = await service.list_deliveries("inc-1")
    assert (row["destination"], row["status"]) == ("webhook", "suppressed")
