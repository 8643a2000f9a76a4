"""Slack after a resolution: the closing summary follows up instead of repeating the firing-time
mitigations, and a resolved incident's diagnosis calls its actions follow-ups."""

from __future__ import annotations

from receiver.testing import drain
from tests.delivery.builders import make_diagnosis, make_incident, resolved
from tests.delivery.test_slack import all_text, web_api

MITIGATIONS = ("Raise the pool size to 50", "Restart order-router")
FOLLOW_UPS = ("Confirm the recovery holds: postgres is back within its usual range",)


async def test_closing_summary_follows_up_instead_of_repeating_mitigations(slack, make_service) -> None:
    fake, url = slack
    service = await make_service(slack=web_api(url))
    incident = make_incident()
    await service.on_incident_firing(incident)
    await service.on_diagnosis(incident, make_diagnosis())
    await service.on_incident_resolved(resolved(incident, after=300), make_diagnosis())
    await drain(service, 5)

    [parent] = fake.parents()
    closing = all_text(fake.replies(parent["ts"])[-1])
    assert "*Resolved* after 5m 00s." in closing
    assert "*Cause:* Connection pool exhausted (confidence 82%)" in closing
    assert not any(action in closing for action in MITIGATIONS)
    assert (
        "*Follow-up:*\n1. Confirm the recovery holds: check that postgres is back at its baseline" in closing
    )
    assert (
        "2. Confirm or refute the leading cause, Connection pool exhausted, with its evidence: pool at 100%"
        in closing
    )
    assert "3. If PnLDrawdownHigh recurs, open a post-incident review" in closing
    assert "*Prevent a recurrence:*\n• Alert on pool usage" in closing


async def test_a_resolved_incidents_diagnosis_lists_follow_up_actions(slack, make_service) -> None:
    fake, url = slack
    service = await make_service(slack=web_api(url))
    firing = make_incident()
    ended = resolved(make_incident(id="inc-2", fingerprint="bbbb", group_key="other"))
    for incident in (firing, ended):
        await service.on_incident_firing(incident)
        actions = FOLLOW_UPS if incident.status == "resolved" else MITIGATIONS
        await service.on_diagnosis(
            incident, make_diagnosis(incident_id=incident.id, immediate_actions=actions)
        )
    await drain(service, 5)

    def diagnosis_text(incident_id: str) -> str:
        [reply] = [m for m in fake.messages if f"/ui/incidents/{incident_id}|Full diagnosis" in all_text(m)]
        return all_text(reply)

    assert "*Immediate actions*\n1. Raise the pool size to 50" in diagnosis_text(firing.id)
    assert "*Follow-up actions*\n1. Confirm the recovery holds" in diagnosis_text(ended.id)


async def test_a_reused_diagnosis_of_a_resolved_incident_keeps_immediate_actions(slack, make_service) -> None:
    fake, url = slack
    service = await make_service(slack=web_api(url))
    ended = resolved(make_incident())
    recalled = make_diagnosis(backend="memory")  # written for an earlier alert, perhaps while it fired
    await service.on_incident_firing(ended)
    await service.on_diagnosis(ended, recalled)
    await drain(service, 5)

    [reply] = [m for m in fake.messages if "Full diagnosis" in all_text(m)]
    assert "*Immediate actions*\n1. Raise the pool size to 50" in all_text(reply)
