"""The delivery planner is pure: a snapshot of the incident's group in, the rows to store out."""

from __future__ import annotations

from receiver.delivery.planner import DeliveryPlanner, Member, Pending, Snapshot, Thread
from receiver.delivery.settings import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    SlackSettings,
)

from .builders import STARTS_AT, make_incident, resolved


def planner(**noise: object) -> DeliveryPlanner:
    return DeliveryPlanner(
        SlackSettings(token="xoxb-test", channel="#alerts"),
        GrafanaSettings(),
        PagerDutySettings(),
        OutgoingWebhookSettings(),
        NoiseSettings.model_validate(noise),
        "http://127.0.0.1:9099",
    )


def test_a_first_alert_opens_a_thread_whose_parent_is_the_planned_row() -> None:
    plan = planner().firing(Snapshot(), make_incident(), STARTS_AT + 1)

    assert [(r.row.kind, r.row.status) for r in plan.rows] == [("parent", "pending")]
    assert plan.new_thread is not None and plan.new_thread.parent_delivery_id == Pending(0)
    assert plan.decision == ("inc-1", "PnLDrawdownHigh", None)
    assert plan.join is not None and plan.join[0] == "inc-1"


def test_a_second_alert_in_an_open_thread_is_a_reply_to_the_stored_parent() -> None:
    thread = Thread("g", "inc-0", "#alerts", 41, "PnLDrawdownHigh", "critical", "drawdown", STARTS_AT - 60)
    plan = planner().firing(Snapshot(decided=True, thread=thread), make_incident(), STARTS_AT + 1)

    assert [(r.row.kind, r.row.depends_on) for r in plan.rows] == [("alert", 41)]
    assert plan.new_thread is None and plan.decision is None


def test_an_hourly_budget_spent_suppresses_without_a_row_to_send() -> None:
    plan = planner(max_alerts_per_hour=2).firing(
        Snapshot(notified_last_hour=2), make_incident(), STARTS_AT + 1
    )

    assert [r.row.status for r in plan.rows] == ["suppressed"]
    assert plan.suppressed == ["slack"] and plan.queues == set()


def test_resolving_the_last_member_closes_the_thread() -> None:
    thread = Thread("g", "inc-1", "#alerts", 7, "PnLDrawdownHigh", "critical", "drawdown", STARTS_AT)
    snapshot = Snapshot(
        decided=True,
        member_status="firing",
        members=(Member("inc-1", "firing", STARTS_AT, None),),
        thread=thread,
        announced=True,
    )
    plan = planner().resolved(snapshot, resolved(make_incident()), None, STARTS_AT + 700)

    assert [r.row.kind for r in plan.rows] == ["update", "summary"]
    assert all(r.row.depends_on == 7 for r in plan.rows)
    assert plan.close_thread is not None and plan.resolve == ("inc-1", STARTS_AT + 600)
