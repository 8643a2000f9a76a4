"""The text report shows the alert, the conclusion, the reasoning and the actions."""

from __future__ import annotations

import dataclasses

from analyst.builtin import Playbooks, diagnose_evidence
from analyst.evidence import Evidence
from analyst.report import render_text_report

from .conftest import incident, series


def pool_incident() -> Evidence:
    return incident(
        series("order_errors_ratio", component="orders", onset_min=0, z=8),
        series("db_pool_connections_in_use", component="orders", onset_min=-4, z=6.5, corr=0.9),
        series("container_cpu_usage_seconds_total", component="orders", onset_min=-2, z=4, corr=0.6),
        alertname="OrderErrors",
    )


def test_report_has_header_summary_cause_alternatives_steps_and_actions(playbooks: Playbooks) -> None:
    evidence = pool_incident()
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    text = render_text_report(result, evidence)
    assert text.startswith("ALERT OrderErrors [firing, warning]")
    for heading in ("SUMMARY", "MOST LIKELY CAUSE", "ALTERNATIVES", "ANALYSIS", "IMMEDIATE ACTIONS"):
        assert f"\n{heading}\n" in text
    for step in ("1. Data examination", "3. Hypothesis formation", "6. Recommendations"):
        assert step in text
    assert "suspect: db_pool_connections_in_use" in text
    assert f"confidence: {result.confidence_score:.0%}" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_report_without_evidence_still_renders(playbooks: Playbooks) -> None:
    result = diagnose_evidence(pool_incident(), playbooks, now=0.0)
    text = render_text_report(result)
    assert text.startswith("incident: inc-1")
    assert "MOST LIKELY CAUSE" in text


def test_report_ends_with_what_collecting_the_evidence_noted(playbooks: Playbooks) -> None:
    evidence = dataclasses.replace(
        pool_incident(),
        notes=("call graph 'istio' unavailable (unreachable: connection refused)",),
    )
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    text = render_text_report(result, evidence)

    assert "\nEVIDENCE NOTES\n" in text
    assert "call graph 'istio' unavailable (unreachable: connection refused)" in text


def test_a_resolved_alerts_report_heads_its_actions_as_follow_ups(playbooks: Playbooks) -> None:
    """Before: a resolved alert's report listed its follow-ups under IMMEDIATE ACTIONS."""
    firing = pool_incident()
    evidence = dataclasses.replace(
        firing,
        alert=dataclasses.replace(firing.alert, status="resolved", ends_at=firing.alert.starts_at + 600),
    )
    text = render_text_report(diagnose_evidence(evidence, playbooks, now=0.0), evidence)

    assert text.startswith("ALERT OrderErrors [resolved, warning]")
    assert "\nFOLLOW-UP ACTIONS\n" in text and "IMMEDIATE ACTIONS" not in text
    assert "Confirm or refute the leading cause" in text
