"""A resolved alert's built-in diagnosis: it says how the alert recovered, as far as the evidence shows,
and follows up instead of mitigating; preventive measures and monitoring stay."""

from __future__ import annotations

import dataclasses

from analyst.builtin import Playbooks, diagnose_evidence
from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence, SeriesValues

from .conftest import ALERT_AT, incident, series

ENDED_MINUTES = 8


def pool_incident(pool_recovered_min: float | None, errors_recovered_min: float | None = 7) -> Evidence:
    """Order errors (the alert) follow a database pool that saturated 3 minutes earlier."""
    return incident(
        series(
            'order_error_ratio{service="orders"}',
            component="orders",
            onset_min=0,
            recovered_min=errors_recovered_min,
        ),
        series(
            'db_pool_in_use{service="postgres"}',
            component="postgres",
            onset_min=-3,
            z=12,
            baseline=20,
            current=100,
            recovered_min=pool_recovered_min,
        ),
        alertname="OrderErrorsHigh",
    )


def resolved(evidence: Evidence, after_minutes: float = ENDED_MINUTES) -> Evidence:
    alert = dataclasses.replace(evidence.alert, status="resolved", ends_at=ALERT_AT + 60 * after_minutes)
    return dataclasses.replace(evidence, alert=alert)


def both(evidence: Evidence, playbooks: Playbooks) -> tuple[DiagnosisResult, DiagnosisResult]:
    """The diagnosis of `evidence` while firing and once resolved."""
    now = ALERT_AT + 900
    return diagnose_evidence(evidence, playbooks, now=now), diagnose_evidence(
        resolved(evidence), playbooks, now=now
    )


def recommendations(result: DiagnosisResult) -> str:
    return next(s.findings for s in result.detailed_analysis if s.step == "recommendations")


def test_a_recovered_cause_is_reported_with_when_and_how_long(playbooks: Playbooks) -> None:
    firing, after = both(pool_incident(pool_recovered_min=6), playbooks)

    assert after.primary_hypothesis == firing.primary_hypothesis
    assert after.executive_summary.startswith(firing.executive_summary.replace("(firing", "(resolved"))
    assert "OrderErrorsHigh resolved at 2023-11-14 22:21:20 UTC after 8m" in after.executive_summary
    assert (
        'db_pool_in_use{service="postgres"} was back within its usual range 6m after'
        in after.executive_summary
    )
    assert "still off its baseline" not in after.executive_summary


def test_immediate_actions_become_follow_ups_and_the_rest_stays(playbooks: Playbooks) -> None:
    firing, after = both(pool_incident(pool_recovered_min=6), playbooks)

    assert not set(after.immediate_actions) & set(firing.immediate_actions)
    assert not any(action in recommendations(after) for action in firing.immediate_actions)
    first, cause, review = after.immediate_actions
    assert first.startswith("Confirm the recovery holds")
    assert cause.startswith(f"Confirm or refute the leading cause, {firing.primary_hypothesis.title}")
    assert firing.primary_hypothesis.supporting_evidence[0] in cause
    assert "post-incident review" in review
    assert after.preventive_measures == firing.preventive_measures
    assert after.monitoring_recommendations == firing.monitoring_recommendations


def test_a_cause_still_off_its_baseline_is_not_called_recovered(playbooks: Playbooks) -> None:
    _, after = both(pool_incident(pool_recovered_min=None), playbooks)

    assert 'db_pool_in_use{service="postgres"} was still off its baseline' in after.executive_summary
    assert 'db_pool_in_use{service="postgres"} was back' not in after.executive_summary
    assert "the evidence does not show it recovered" in after.executive_summary
    assert "check it before closing" in after.immediate_actions[0]
    assert not after.immediate_actions[0].startswith("Confirm the recovery holds")


def test_the_alerts_own_series_off_its_baseline_is_said_too(playbooks: Playbooks) -> None:
    _, after = both(pool_incident(pool_recovered_min=6, errors_recovered_min=None), playbooks)

    assert 'order_error_ratio{service="orders"} was still off its baseline' in after.executive_summary


def test_a_resolved_alert_without_anomalies_claims_no_recovery(playbooks: Playbooks) -> None:
    quiet = incident(series('order_error_ratio{service="orders"}', component="orders", anomalous=False))
    firing, after = both(quiet, playbooks)

    assert "resolved at" in after.executive_summary and "back within" not in after.executive_summary
    assert not set(after.immediate_actions) & set(firing.immediate_actions)
    assert after.immediate_actions[1].startswith("No cause stood out in the metrics")
    assert after.preventive_measures == firing.preventive_measures


def test_a_firing_alert_keeps_its_playbook_actions(playbooks: Playbooks) -> None:
    firing, _ = both(pool_incident(pool_recovered_min=6), playbooks)

    assert "resolved" not in firing.executive_summary
    assert firing.immediate_actions[0].startswith("Pool db_pool_in_use is saturated")


def test_a_cause_still_off_is_quoted_at_its_reading_when_the_alert_ended(playbooks: Playbooks) -> None:
    """Before: the level it had changed to (100, its peak plateau) was quoted as its reading 'at the end of
    the evidence window', though it was draining (40) when the alert ended; the point after the end is
    not read."""
    evidence = resolved(pool_incident(pool_recovered_min=None))
    start = ALERT_AT - 600.0  # one point a minute; the alert ended at ALERT_AT + 480, point 18
    points = (*[20.0] * 8, *[100.0] * 9, 70.0, 40.0, 20.0)
    pool = next(s for s in evidence.series if s.metric == "db_pool_in_use")
    drained = dataclasses.replace(pool, values=SeriesValues(start, 60.0, points))
    evidence = dataclasses.replace(
        evidence, series=tuple(drained if s is pool else s for s in evidence.series)
    )
    summary = diagnose_evidence(evidence, playbooks, now=ALERT_AT + 900).executive_summary

    assert (
        'db_pool_in_use{service="postgres"} was still off its baseline at the end of the evidence window'
        " (40 against a baseline of 20)" in summary
    )


def test_without_points_the_level_it_changed_to_is_not_called_its_last_reading(playbooks: Playbooks) -> None:
    _, after = both(pool_incident(pool_recovered_min=None), playbooks)

    assert "(it had changed to 100 from a baseline of 20)" in after.executive_summary
