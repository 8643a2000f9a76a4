"""PagerDuty Events API v2: trigger at or above min_severity, resolve with the same dedup_key, 202/400/429."""

from __future__ import annotations

import hashlib

from pydantic import SecretStr

from analyst.diagnosis import Category, Hypothesis
from receiver.delivery import PagerDutySettings
from receiver.testing import drain
from tests.delivery.builders import GROUP_KEY, make_diagnosis, make_incident, resolved
from tests.delivery.conftest import PUBLIC_URL

ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"


def settings(url: str, **extra: object) -> PagerDutySettings:
    return PagerDutySettings.model_validate({"routing_key": SecretStr(ROUTING_KEY), "url": url, **extra})


async def test_trigger_then_resolve_with_the_same_group_dedup_key(pagerduty, make_service):
    fake, url = pagerduty
    service = await make_service(pagerduty=settings(url))
    incident = make_incident()
    await service.on_diagnosis(incident, make_diagnosis())
    await service.on_incident_resolved(resolved(incident), make_diagnosis())
    await drain(service, 5)

    trigger, resolve = fake.accepted
    dedup_key = "alert-analyst-" + hashlib.sha256(GROUP_KEY.encode()).hexdigest()[:40]
    assert trigger == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": "[critical] PnLDrawdownHigh: Connection pool exhausted (confidence 82%)",
            "source": "127.0.0.1:19100",
            "severity": "critical",
            "timestamp": "2025-11-24T16:00:00.250+00:00",
            "component": "trading-exporter",
            "class": "dependency.database",
            "custom_details": {
                "incident_id": "inc-1",
                "alertname": "PnLDrawdownHigh",
                "labels": dict(incident.labels),
                "executive_summary": "Orders stalled because the DB pool ran out.",
                "primary_hypothesis": {
                    "title": "Connection pool exhausted",
                    "category": "dependency.database",
                    "suspect": "postgres",
                    "confidence": 0.82,
                    "supporting_evidence": ["pool at 100%"],
                },
                "alternative_hypotheses": ["Volatility spike (market.volatility, 31%)"],
                "immediate_actions": ["Raise the pool size to 50", "Restart order-router"],
                "confidence": 0.82,
                "diagnosis_url": f"{PUBLIC_URL}/ui/incidents/inc-1",
            },
        },
        "links": [
            {"href": f"{PUBLIC_URL}/ui/incidents/inc-1", "text": "alert-analyst diagnosis"},
            {"href": f"{PUBLIC_URL}/api/v1/incidents/inc-1", "text": "Diagnosis (JSON)"},
        ],
        "client": "alert-analyst",
        "client_url": f"{PUBLIC_URL}/ui/incidents/inc-1",
    }
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": dedup_key}
    assert fake.open_alerts == {}


async def test_below_min_severity_sends_nothing(pagerduty, make_service):
    fake, url = pagerduty
    service = await make_service(pagerduty=settings(url, min_severity="error"))
    incident = make_incident(severity="warning")
    await service.on_diagnosis(incident, make_diagnosis())
    await service.on_incident_resolved(resolved(incident), None)
    await drain(service, 5)
    assert fake.events == []


async def test_resolve_waits_until_the_whole_group_resolved(pagerduty, make_service):
    fake, url = pagerduty
    service = await make_service(pagerduty=settings(url))
    first, second = make_incident(), make_incident(id="inc-2", fingerprint="bbbb")
    await service.on_diagnosis(first, make_diagnosis())
    await service.on_diagnosis(second, make_diagnosis())
    await service.on_incident_resolved(resolved(first), None)
    await drain(service, 5)
    assert [e["event_action"] for e in fake.accepted] == ["trigger", "trigger"]
    await service.on_incident_resolved(resolved(second), None)
    await drain(service, 5)
    assert [e["event_action"] for e in fake.accepted] == ["trigger", "trigger", "resolve"]
    assert len({e["dedup_key"] for e in fake.accepted}) == 1


async def test_summary_is_cut_to_1024_characters(pagerduty, make_service):
    fake, url = pagerduty
    service = await make_service(pagerduty=settings(url))
    long_title = Hypothesis("x" * 5000, Category.UNKNOWN, "?", 0.4)
    await service.on_diagnosis(make_incident(), make_diagnosis(primary_hypothesis=long_title))
    await drain(service, 5)
    [event] = fake.accepted
    assert len(event["payload"]["summary"]) == 1024


async def test_400_is_permanent_and_not_retried(pagerduty, make_service):
    fake, url = pagerduty
    fake.fail_next(400)
    service = await make_service(pagerduty=settings(url))
    await service.on_diagnosis(make_incident(), make_diagnosis())
    await drain(service, 5)
    [row] = await service.list_deliveries("inc-1")
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "HTTP 400" in row["last_error"]
    assert len(fake.events) == 1


async def test_429_and_5xx_are_retried_until_202(pagerduty, make_service):
    fake, url = pagerduty
    fake.fail_next(429, {"Retry-After": "0"})
    fake.fail_next(503)
    service = await make_service(pagerduty=settings(url))
    await service.on_diagnosis(make_incident(), make_diagnosis())
    await drain(service, 5)
    [row] = await service.list_deliveries("inc-1")
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert len(fake.accepted) == 1
