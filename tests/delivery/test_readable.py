"""What people read names series by the labels that tell them apart from the alert; machines get all."""

from __future__ import annotations

import json

from analyst.diagnosis import Category, Hypothesis
from receiver.delivery.planner import DeliveryPlanner, Snapshot
from receiver.delivery.readable import readable_diagnosis, without_alert_labels
from receiver.delivery.settings import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    SlackSettings,
)

from .builders import STARTS_AT, make_diagnosis, make_incident

ALERT = {"alertname": "OrderErrors", "instance": "10.0.0.7:9100", "job": "orders", "desk": 'fx "spot"'}
POOL = 'db_pool_in_use{desk="fx \\"spot\\"",instance="10.0.0.7:9100",job="orders"}'
CPU = 'container_cpu{instance="10.0.0.7:9100",pod="api-7"}'


def _primary(confidence: float) -> Hypothesis:
    title = f"Pool exhaustion: {POOL}"
    return Hypothesis(title, Category.DEPENDENCY_DATABASE, POOL, confidence, (f"{POOL} rose",), ())


def test_selectors_keep_only_the_labels_that_differ_from_the_alert() -> None:
    text = f'{POOL} rose from 12 to 50; {CPU} too; rate(x{{job="orders"}}[5m]); a {{brace}} stays'
    assert without_alert_labels(text, ALERT) == (
        'db_pool_in_use rose from 12 to 50; container_cpu{pod="api-7"} too; rate(x[5m]); a {brace} stays'
    )
    assert without_alert_labels(POOL, {"job": "other"}) == POOL


def test_quoted_utf8_label_names_are_shortened_too() -> None:
    alert = {"alertname": "CartSlow", "service.name": "cart", "job": "shop"}
    text = 'cpu{job="shop","k8s.pod.name"="cart-1","service.name"="cart"} rose'
    assert without_alert_labels(text, alert) == 'cpu{"k8s.pod.name"="cart-1"} rose'
    # a quoted name that equals an identifier is the same label
    assert without_alert_labels('cpu{"job"="shop"} rose', alert) == "cpu rose"


def test_every_text_of_the_diagnosis_is_shortened_and_the_rest_kept() -> None:
    primary = Hypothesis(
        f"Pool exhaustion: {POOL}", Category.DEPENDENCY_DATABASE, POOL, 0.7, (f"{POOL} rose",), ()
    )
    diagnosis = make_diagnosis(primary_hypothesis=primary, immediate_actions=(f"Check {CPU}",))
    shown = readable_diagnosis(diagnosis, ALERT)
    assert shown.primary_hypothesis.suspect == "db_pool_in_use"
    assert shown.primary_hypothesis.supporting_evidence == ("db_pool_in_use rose",)
    assert shown.immediate_actions == ('Check container_cpu{pod="api-7"}',)
    assert shown.confidence_score == diagnosis.confidence_score and shown.incident_id == diagnosis.incident_id
    assert shown.primary_hypothesis.category is Category.DEPENDENCY_DATABASE


def test_slack_and_pagerduty_read_short_names_grafana_and_the_webhook_the_full_ones() -> None:
    planner = DeliveryPlanner(
        SlackSettings(token="xoxb-test", channel="#alerts"),
        GrafanaSettings(url="http://grafana:3000", token="t"),
        PagerDutySettings(routing_key="r" * 32, min_severity="warning"),
        OutgoingWebhookSettings(url="http://hooks:8080/in"),
        NoiseSettings(),
        "http://127.0.0.1:9099",
    )
    incident = make_incident(labels=ALERT, severity="critical")
    primary = Hypothesis(
        f"Pool exhaustion: {POOL}", Category.DEPENDENCY_DATABASE, POOL, 0.9, (f"{POOL} rose",), ()
    )
    plan = planner.diagnosis(Snapshot(), incident, make_diagnosis(primary_hypothesis=primary), STARTS_AT + 30)

    payloads = {r.row.destination: json.dumps(r.row.payload) for r in plan.rows if r.row.kind != "parent"}
    assert {"slack", "grafana", "pagerduty", "webhook"} <= set(payloads), payloads.keys()
    full = 'job=\\"orders\\"}'  # the selector's last label, as JSON writes it
    for destination in ("slack", "pagerduty"):
        assert "Pool exhaustion: db_pool_in_use" in payloads[destination], destination
        assert full not in payloads[destination], destination
    assert full in payloads["webhook"] and "job=&quot;orders&quot;}" in payloads["grafana"]  # HTML there


def test_hostile_text_is_left_alone_in_linear_time() -> None:
    # each of these took exponential or quadratic time with a first, naive pattern (30 s and more)
    hostile = [
        "m{" + ('a="1"' + " " * 6) * 2000,  # pairs without commas, no closing brace
        'm{a="' + "x" * 100_000,  # an unterminated value
        "x" * 100_000 + "{",
        "ab{" * 30_000,
    ]
    for text in hostile:
        assert without_alert_labels(text, ALERT) == text
