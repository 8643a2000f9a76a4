"""An alert whose severity label is none of the known values counts as warning, so it never pages at the
default `min_severity: critical`: the receiver says so once per value in its log, and counts such alerts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from structlog.testing import capture_logs

from receiver.delivery import PagerDutySettings
from tests.delivery.builders import make_incident

UNKNOWN = "alert_analyst_unknown_severity_alerts_total"


async def test_an_unknown_severity_is_warned_about_once_per_value_and_every_alert_is_counted(
    pagerduty, make_service
) -> None:
    _, url = pagerduty
    registry = CollectorRegistry()
    settings = PagerDutySettings(routing_key=SecretStr("R0UTINGKEY"), url=url)
    service = await make_service(pagerduty=settings, registry=registry)
    assert registry.get_sample_value(UNKNOWN) == 0
    with capture_logs() as logs:
        for n, severity in enumerate(("Urgent", "URGENT", "blocker", "sev1", "critical")):
            await service.on_incident_firing(
                make_incident(id=f"inc-{n}", fingerprint=f"f{n}", severity=severity)
            )

    warned = [line for line in logs if line["event"] == "delivery.unknown_severity"]
    assert [(line["severity"], line["counted_as"], line["pages"]) for line in warned] == [
        ("Urgent", "warning", False),
        ("blocker", "warning", False),
    ]
    assert warned[0]["log_level"] == "warning" and warned[0]["pagerduty_min_severity"] == "critical"
    assert registry.get_sample_value(UNKNOWN) == 3
