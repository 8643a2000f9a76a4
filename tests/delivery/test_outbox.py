"""The outbox: isolation between destinations, metrics, resuming after a restart."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from receiver.delivery import GrafanaSettings, PagerDutySettings, RetryPolicy, SlackSettings
from receiver.testing import drain
from tests.delivery.builders import make_diagnosis, make_incident, resolved
from tests.delivery.conftest import FAST_RETRIES
from tests.fakes.slack import WEBHOOK_PATH
from tests.support.polling import eventually


def all_destinations(slack_url: str, grafana_url: str, pagerduty_url: str) -> dict[str, object]:
    return {
        "slack": SlackSettings(token=SecretStr("xoxb-test-token"), channel="C0ALERTS", api_url=slack_url),
        "grafana": GrafanaSettings(url=grafana_url, token=SecretStr("glsa_test")),
        "pagerduty": PagerDutySettings(routing_key=SecretStr("R" * 32), url=pagerduty_url),
    }


def outcomes(registry: CollectorRegistry, destination: str, outcome: str) -> float:
    labels = {"destination": destination, "outcome": outcome}
    return registry.get_sample_value("alert_analyst_deliveries_total", labels) or 0.0


async def test_a_failing_destination_does_not_block_the_others(slack, grafana, pagerduty, make_service):
    fake_grafana, grafana_url = grafana
    fake_grafana.failures = [(503, {"message": "down"})] * 1000
    registry = CollectorRegistry()
    service = await make_service(
        **all_destinations(slack[1], grafana_url, pagerduty[1]),
        registry=registry,
        retry_policy=RetryPolicy(base_seconds=0.5, max_seconds=1, max_attempts=100),
    )
    incident = make_incident()
    await service.on_incident_firing(incident)
    await service.on_diagnosis(incident, make_diagnosis())
    await eventually(lambda: len(slack[0].messages) == 2 and len(pagerduty[0].accepted) == 1)

    def pending(destination: str) -> float | None:
        return registry.get_sample_value("alert_analyst_deliveries_pending", {"destination": destination})

    # The gauge is recounted at most once a second: it settles on the counts below.
    await eventually(lambda: (pending("slack"), pending("pagerduty"), pending("grafana")) == (0, 0, 1))
    statuses = {r["destination"]: r["status"] for r in await service.list_deliveries("inc-1")}
    assert statuses["grafana"] in ("pending", "in_flight")
    assert outcomes(registry, "slack", "sent") == 2
    assert outcomes(registry, "grafana", "retried") >= 1


async def test_every_outcome_of_each_destination_is_exported_at_zero_before_any_delivery(
    slack, grafana, pagerduty, make_service
):
    """A series born at 1 makes `increase()` read 0: the first failed delivery would not alert
    (AlertAnalystDeliveriesFailing)."""
    registry = CollectorRegistry()
    await make_service(**all_destinations(slack[1], grafana[1], pagerduty[1]), registry=registry)
    for destination in ("slack", "grafana", "pagerduty"):
        for outcome in ("sent", "retried", "failed", "suppressed"):
            labels = {"destination": destination, "outcome": outcome}
            assert registry.get_sample_value("alert_analyst_deliveries_total", labels) == 0.0


async def test_retries_stop_after_max_attempts_and_show_as_failed(grafana, make_service):
    fake, url = grafana
    fake.failures = [(500, {"message": "boom"})] * 10
    registry = CollectorRegistry()
    service = await make_service(
        grafana=GrafanaSettings(url=url, token=SecretStr("glsa_test")), registry=registry
    )
    await service.on_diagnosis(make_incident(), make_diagnosis())
    await drain(service, 5)
    [row] = await service.list_deliveries("inc-1")
    assert (row["status"], row["attempts"]) == ("failed", FAST_RETRIES.max_attempts)
    assert row["last_error"].startswith(
        "gave up after 4 attempts: grafana POST /api/annotations answered HTTP 500"
    )
    assert (
        registry.get_sample_value(
            "alert_analyst_deliveries_total", {"destination": "grafana", "outcome": "failed"}
        )
        == 1
    )


async def test_rows_queued_while_stopped_are_sent_after_the_next_start(slack, store, make_service):
    fake, url = slack
    settings = SlackSettings(token=SecretStr("xoxb-test-token"), channel="C0ALERTS", api_url=url)
    service = await make_service(slack=settings)
    await service.stop()
    await service.on_incident_firing(make_incident())
    assert fake.messages == []
    restarted = await make_service(slack=settings)
    await drain(restarted, 5)
    assert len(fake.parents()) == 1


def simulate_crash_after_request(db, delivery_id: int) -> None:
    """The request went out but the process died before recording the answer."""
    db.conn.execute("UPDATE delivery_outbox SET status='in_flight', result=NULL WHERE id=?", [delivery_id])
    db.conn.execute("DELETE FROM grafana_annotations")


async def test_interrupted_grafana_create_is_found_by_its_delivery_id_not_posted_again(
    grafana, store, make_service
):
    fake, url = grafana
    settings = GrafanaSettings(url=url, token=SecretStr("glsa_test"))
    service = await make_service(grafana=settings)
    incident = make_incident()
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 5)
    await service.stop()
    await store.run(simulate_crash_after_request, 1)

    restarted = await make_service(grafana=settings)
    await drain(restarted, 5)
    await restarted.on_incident_resolved(resolved(incident), None)
    await drain(restarted, 5)
    assert len(fake.requests_to("POST", "/api/annotations")) == 1
    assert fake.requests_to("GET", "/api/annotations?")
    assert [r["status"] for r in await restarted.list_deliveries("inc-1")] == ["sent", "sent"]
    assert fake.annotations[1]["timeEnd"] == 1_764_000_600_250


async def test_interrupted_incoming_webhook_post_is_failed_not_repeated(slack, store, make_service):
    fake, url = slack
    settings = SlackSettings(webhook_url=SecretStr(url.replace("/api/", WEBHOOK_PATH)))
    service = await make_service(slack=settings)
    await service.on_incident_firing(make_incident())
    await drain(service, 5)
    await service.stop()
    await store.run(simulate_crash_after_request, 1)

    restarted = await make_service(slack=settings)
    await drain(restarted, 5)
    assert len(fake.webhook_posts) == 1
    [row] = await restarted.list_deliveries("inc-1")
    assert row["status"] == "failed"
    assert "not resent to avoid a duplicate" in row["last_error"]


def test_the_default_policy_keeps_trying_for_about_an_hour_and_caps_retry_after() -> None:
    """8 attempts gave up after about 4 minutes (2 + 4 + ... + 128 s): a PagerDuty or Slack outage, or a
    rate limit, of minutes lost the page for good. A proxy's `Retry-After: 86400` stalled the queue a day."""
    policy = RetryPolicy(jitter=0.0)
    waits = [policy.delay(attempt, None) for attempt in range(1, policy.max_attempts)]
    assert 55 * 60 <= sum(waits) <= 75 * 60
    assert max(waits) == policy.max_seconds
    assert policy.delay(1, 86_400.0) == policy.max_retry_after_seconds == 300.0
    assert policy.delay(1, 30.0) == 30.0 and policy.delay(1, -5.0) == 0.0
    jittered = RetryPolicy()
    assert all(0.7 * w <= jittered.delay(a, None) <= 1.3 * w for a, w in enumerate(waits, start=1))
