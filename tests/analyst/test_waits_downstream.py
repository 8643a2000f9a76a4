"""A component named only by its wait on what it calls: the slow dependency is downstream of it, said so,
and not claimed with more confidence than a symptom gets."""

from __future__ import annotations

import dataclasses

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.calibration import SELF_CAUSE_CEILING
from analyst.builtin.entities import SeriesKind, rank_entities
from analyst.diagnosis import LIKELY_CONFIDENCE, Category
from analyst.evidence import Evidence
from tests.analyst.grid_evidence import CHANGED_AT, grid_evidence, grid_noise, grid_series

SERVICES = ("frontend", "checkout", "email", "cart", "payment")


def _incident(waiting: str, own_cause: str | None = None) -> Evidence:
    """Every service's server latency, client latency and CPU, quiet; `waiting`'s client latency jumps
    tenfold two minutes before the alert (its calls to something outside the evidence got slower); with
    `own_cause`, that service's CPU also climbs to its limit at the same time."""
    series = []
    for seed, service in enumerate(SERVICES):
        client = grid_noise(0.005, 0.0005, seed)
        if service == waiting:
            client[CHANGED_AT:] = 0.05
        cpu = grid_noise(30.0, 2.0, 100 + seed)
        if service == own_cause:
            cpu[CHANGED_AT:] = 99.0
        series += [
            grid_series("pod_server_latency_p90_seconds", service, grid_noise(0.01, 0.001, 200 + seed)),
            grid_series("pod_client_latency_p90_seconds", service, client),
            grid_series("pod_cpu_usage_percent", service, cpu),
        ]
    graph = {"frontend": ("checkout", "cart"), "checkout": ("email", "payment")}
    return grid_evidence(series, topology=graph)


def test_a_component_named_by_its_outbound_latency_is_a_dependency_downstream_of_it() -> None:
    evidence = _incident("email")
    first = rank_entities(evidence)[0]
    assert first.name == "email"  # the ranking is the same: it is where the wait was seen
    assert first.strongest is not None and first.strongest.kind is SeriesKind.OUTBOUND_LATENCY

    result = diagnose_evidence(evidence, load_playbooks(None))
    primary = result.primary_hypothesis
    assert primary.category is Category.DEPENDENCY_SERVICE
    assert primary.title == "Failing or slow dependency: downstream of email"
    assert primary.suspect == "email"
    assert primary.confidence <= SELF_CAUSE_CEILING
    assert "most likely" not in result.executive_summary  # not more likely than not
    assert any("wait on what it calls" in line for line in primary.supporting_evidence)
    assert any("stayed within its usual noise" in line for line in primary.supporting_evidence)
    assert any("not what it is" in line for line in primary.contradicting_evidence)


def test_the_alerting_components_own_wait_is_downstream_too_not_a_change_of_its_own() -> None:
    evidence = _incident("frontend")
    primary = diagnose_evidence(evidence, load_playbooks(None)).primary_hypothesis
    assert primary.suspect == "frontend"
    assert primary.category is Category.DEPENDENCY_SERVICE  # was change.deployment: a guess at its code
    assert primary.confidence <= SELF_CAUSE_CEILING


def test_a_component_whose_resource_is_at_its_limit_keeps_its_confidence() -> None:
    evidence = _incident("email", own_cause="payment")
    result = diagnose_evidence(evidence, load_playbooks(None))
    primary = result.primary_hypothesis
    assert primary.category is Category.RESOURCE_CPU
    assert "payment" in primary.suspect
    assert primary.confidence > LIKELY_CONFIDENCE
    waiting = next(h for h in result.alternative_hypotheses if h.suspect == "email")
    assert waiting.title.endswith("downstream of email")
    assert waiting.confidence <= SELF_CAUSE_CEILING


def test_a_client_series_that_names_what_it_called_says_so() -> None:
    """OpenTelemetry's HTTP client duration carries `server_address`: the line names the host it called."""
    series = []
    for seed, service in enumerate(SERVICES):
        client = grid_noise(0.005, 0.0005, seed)
        if service == "checkout":
            client[CHANGED_AT:] = 0.08
        timed = grid_series("http_client_request_duration_seconds:mean", service, client)
        labels = {**timed.labels, "server_address": "fraud-check.partner.example"}
        series += [
            dataclasses.replace(timed, labels=labels),
            grid_series("pod_cpu_usage_percent", service, grid_noise(30.0, 2.0, 100 + seed)),
        ]
    primary = diagnose_evidence(grid_evidence(series), load_playbooks(None)).primary_hypothesis
    assert primary.title == "Failing or slow dependency: downstream of checkout"
    assert any("its calls to fraud-check.partner.example" in line for line in primary.supporting_evidence), (
        primary.supporting_evidence
    )
