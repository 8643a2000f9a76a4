"""A repeated analysis (the same alert fired again within pipeline.reuse_analysis_seconds): told again
only where the earlier one's no longer shows, through the fake Slack and PagerDuty servers."""

from __future__ import annotations

from pydantic import SecretStr

from receiver.delivery import PagerDutySettings, SlackSettings
from receiver.testing import drain
from tests.delivery.builders import STARTS_AT, make_diagnosis, make_incident, resolved

TITLE = "Connection pool exhausted"


def destinations(slack_url: str, pagerduty_url: str) -> dict[str, object]:
    return {
        "slack": SlackSettings(token=SecretStr("xoxb-test-token"), channel="C0ALERTS", api_url=slack_url),
        "pagerduty": PagerDutySettings(routing_key=SecretStr("R" * 32), url=pagerduty_url),
    }


def diagnosis_replies(fake_slack, parent) -> list[dict]:
    return [m for m in fake_slack.replies(parent["ts"]) if TITLE in m["text"]]


async def test_a_repeat_after_the_group_resolved_pages_again_and_fills_its_new_thread(
    slack, pagerduty, make_service
):
    """It was suppressed everywhere: a critical alert fired with nothing open in PagerDuty, and its new
    Slack thread said "diagnosis follows" and stayed empty."""
    fake_slack, slack_url = slack
    fake_pd, pd_url = pagerduty
    service = await make_service(**destinations(slack_url, pd_url))
    first = make_incident()
    await service.on_incident_firing(first)
    await service.on_diagnosis(first, make_diagnosis())
    await service.on_incident_resolved(resolved(first, after=60), make_diagnosis())
    await drain(service, 5)
    assert fake_pd.open_alerts == {}

    again = make_incident(id="inc-2", starts_at=STARTS_AT + 180, first_seen=STARTS_AT + 181)
    await service.on_incident_firing(again)
    await service.on_diagnosis(again, make_diagnosis(incident_id="inc-2"), repeat_of="inc-1")
    await drain(service, 5)

    assert [e["event_action"] for e in fake_pd.accepted] == ["trigger", "resolve", "trigger"]
    assert len(fake_pd.open_alerts) == 1
    old_thread, new_thread = fake_slack.parents()
    assert len(diagnosis_replies(fake_slack, old_thread)) == 1
    assert len(diagnosis_replies(fake_slack, new_thread)) == 1
    assert all(r["status"] != "suppressed" for r in await service.list_deliveries("inc-2"))

    await service.on_incident_resolved(resolved(again, after=60), make_diagnosis(incident_id="inc-2"))
    await drain(service, 5)
    assert [e["event_action"] for e in fake_pd.accepted][-1] == "resolve" and fake_pd.open_alerts == {}


async def test_a_repeat_in_the_thread_that_shows_the_earlier_analysis_is_not_told_twice(
    slack, pagerduty, make_service
):
    fake_slack, slack_url = slack
    fake_pd, pd_url = pagerduty
    service = await make_service(**destinations(slack_url, pd_url))
    labels = {**make_incident().labels, "book": "gbpusd"}
    other = make_incident(id="inc-0", fingerprint="0000000000000000", labels=labels)  # keeps the group open
    first = make_incident(starts_at=STARTS_AT + 30, first_seen=STARTS_AT + 31)
    for incident in (other, first):
        await service.on_incident_firing(incident)
        await service.on_diagnosis(incident, make_diagnosis(incident_id=incident.id))
    await service.on_incident_resolved(resolved(first, after=60), make_diagnosis())
    await drain(service, 5)

    again = make_incident(id="inc-2", starts_at=STARTS_AT + 180, first_seen=STARTS_AT + 181)
    await service.on_incident_firing(again)
    await service.on_diagnosis(again, make_diagnosis(incident_id="inc-2"), repeat_of="inc-1")
    await drain(service, 5)

    [thread] = fake_slack.parents()
    assert len(diagnosis_replies(fake_slack, thread)) == 2  # inc-0's and inc-1's, not inc-2's
    assert "Another alert in this group" in str(fake_slack.replies(thread["ts"])[-1]["blocks"])
    assert [e["event_action"] for e in fake_pd.accepted] == ["trigger", "trigger"]  # the group's alert
    rows = {r["destination"]: r for r in await service.list_deliveries("inc-2") if r["kind"] == "diagnosis"}
    assert rows["slack"]["status"] == "suppressed" and "inc-1" in rows["slack"]["last_error"]
    suppressed = [r for r in await service.list_deliveries("inc-2") if r["destination"] == "pagerduty"]
    assert [r["status"] for r in suppressed] == ["suppressed"]
