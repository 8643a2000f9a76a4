"""Precedent moves the built-in ranking only when the evidence supports it."""

from __future__ import annotations

import dataclasses

from analyst.builtin import Playbooks, diagnose_evidence
from analyst.diagnosis import Category
from analyst.evidence import Precedent
from tests.feedback.test_memory import traffic_surge


def judged(verdict: str, suspect: str, category: str, **extra: object) -> Precedent:
    fields = {"incident_id": "inc-past", "similarity": 0.9, "verdict": verdict, "category": category}
    return Precedent(**{**fields, "suspect": suspect, **extra})  # type: ignore[arg-type]


def test_without_precedent_the_surge_ranks_first(playbooks: Playbooks) -> None:
    result = diagnose_evidence(traffic_surge(), playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.TRAFFIC_SURGE
    assert result.notes == ()


def test_a_cause_confirmed_on_a_similar_incident_is_raised_when_it_moved_now(playbooks: Playbooks) -> None:
    precedent = judged(
        "wrong", "http_requests_total", "traffic.surge", actual_cause="container_cpu_usage_seconds_total"
    )
    evidence = dataclasses.replace(traffic_surge(), precedents=(precedent,))
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.RESOURCE_CPU
    assert result.primary_hypothesis.suspect == "container_cpu_usage_seconds_total"
    assert any("confirmed cause of similar incident inc-past" in note for note in result.notes)


def test_a_confirmed_cause_absent_from_the_evidence_changes_nothing(playbooks: Playbooks) -> None:
    precedent = judged("correct", "process_start_time_seconds", "change.deployment")
    evidence = dataclasses.replace(traffic_surge(), precedents=(precedent,))
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.TRAFFIC_SURGE
    assert result.notes == ()


def test_a_cause_judged_wrong_is_lowered(playbooks: Playbooks) -> None:
    plain = diagnose_evidence(traffic_surge(), playbooks, now=0.0).primary_hypothesis
    precedent = judged("wrong", plain.suspect, plain.category.value)
    evidence = dataclasses.replace(traffic_surge(), precedents=(precedent,))
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is not Category.TRAFFIC_SURGE
    assert any("judged wrong on similar incident" in note for note in result.notes)


def test_a_loose_resemblance_moves_little(playbooks: Playbooks) -> None:
    precedent = dataclasses.replace(
        judged("correct", "container_cpu_usage_seconds_total", "resource.cpu"), similarity=0.05
    )
    evidence = dataclasses.replace(traffic_surge(), precedents=(precedent,))
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.TRAFFIC_SURGE
