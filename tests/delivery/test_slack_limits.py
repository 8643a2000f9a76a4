"""Slack: every message of a thread stays within Block Kit's limits, whatever the size of the alert or the
diagnosis; the fake Slack refuses a message over them as Slack does (`invalid_blocks`,
`msg_blocks_too_long`)."""

from __future__ import annotations

import json
from typing import Any

from analyst.diagnosis import Category, Hypothesis
from receiver.delivery.recovery import RecoveryCheck
from receiver.delivery.slack_blocks import CUT_MARKER
from receiver.testing import drain
from tests.delivery.builders import make_diagnosis, make_incident, resolved
from tests.delivery.test_slack import all_text, web_api
from tests.fakes.slack import MAX_BLOCKS_JSON, block_kit_error

HUGE_DESCRIPTION = "Order router latency above 2s & rising; " * 5000  # 200,000 characters


def within_block_kit(message: dict[str, Any]) -> bool:
    blocks = message["blocks"]
    return block_kit_error(message["text"], blocks) is None and len(json.dumps(blocks)) <= MAX_BLOCKS_JSON


def long_labels(book: str) -> dict[str, str]:
    """120 labels of 520 characters each (`<`, `>` and `&` become entities)."""
    labels = {f"label_{n:03d}": f"value <{n}> & " * 40 for n in range(120)}
    return {**labels, "alertname": "PnLDrawdownHigh", "severity": "critical", "book": book}


async def test_a_200000_character_description_still_opens_and_closes_the_thread(slack, make_service) -> None:
    fake, url = slack
    service = await make_service(slack=web_api(url))
    incident = make_incident(annotations={"description": HUGE_DESCRIPTION})
    await service.on_incident_firing(incident)
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 5)

    [parent] = fake.parents()
    assert within_block_kit(parent)
    body = all_text(parent)
    assert "Order router latency above 2s &amp; rising;" in body and CUT_MARKER in body
    [diagnosis] = fake.replies(parent["ts"])
    assert "*Primary cause:* Connection pool exhausted" in all_text(diagnosis)

    await service.on_incident_resolved(resolved(incident), make_diagnosis())
    await drain(service, 5)
    [update] = fake.updates
    assert within_block_kit(update) and CUT_MARKER in all_text(update)
    assert {row["status"] for row in await service.list_deliveries("inc-1")} == {"sent"}


async def test_replies_about_long_alerts_and_long_diagnoses_stay_within_block_kit_limits(
    slack, make_service
) -> None:
    fake, url = slack
    service = await make_service(slack=web_api(url))
    first = make_incident()
    second = make_incident(
        id="inc-2",
        fingerprint="bbbb",
        alertname="A" * 1500,
        annotations={"summary": "🔥" * 20_000},  # 12 JSON characters each
        labels=long_labels("gbpusd"),
    )
    diagnosis = make_diagnosis(
        primary_hypothesis=Hypothesis("T" * 5000, Category.UNKNOWN, "db", 0.5, ("e",) * 300, ()),
        preventive_measures=("Alert on pool usage " * 400,) * 3,
    )
    recovery = RecoveryCheck("back " * 4000, tuple(f"Check <{n}> " * 200 for n in range(30)))
    await service.on_incident_firing(first)
    await service.on_incident_firing(second)
    await service.on_incident_resolved(resolved(second), diagnosis, recovery)
    await service.on_incident_resolved(resolved(first), diagnosis, recovery)
    await drain(service, 5)

    rows = await service.list_deliveries("inc-1") + await service.list_deliveries("inc-2")
    assert sorted(row["kind"] for row in rows) == ["alert", "parent", "resolved", "summary", "update"]
    assert {row["status"] for row in rows} == {"sent"}
    [parent] = fake.parents()
    alert, member_resolved, closing = fake.replies(parent["ts"])
    for message in (alert, member_resolved, closing):
        assert within_block_kit(message)
    assert CUT_MARKER in all_text(alert) and "more labels in alert-analyst" in all_text(alert)
    assert "more labels in alert-analyst" in all_text(member_resolved)
    summary = all_text(closing)
    assert "*Recovery:* back back" in summary and summary.count(CUT_MARKER) >= 2
    assert "8. Check &lt;7&gt;" in summary and "… and 22 more in alert-analyst" in summary
