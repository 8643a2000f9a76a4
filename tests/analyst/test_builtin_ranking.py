"""Ranking rules: onset order, call-graph depth, views of a service, weak callee blips."""

from __future__ import annotations

from analyst.builtin import rank_candidate_causes
from analyst.diagnosis import Category

from .conftest import incident, series


def latency(component: str, **kwargs: object) -> object:
    return series(f'latency{{svc="{component}"}}', metric="latency", component=component, **kwargs)  # type: ignore[arg-type]


def test_alert_series_is_not_a_candidate_when_others_are_anomalous() -> None:
    evidence = incident(latency("web", onset_min=0), latency("db", onset_min=-1))  # type: ignore[arg-type]
    assert [c.suspect for c in rank_candidate_causes(evidence)] == ["db"]


def test_earlier_onset_ranks_higher_without_topology() -> None:
    evidence = incident(
        series("errors_ratio", component="api", onset_min=0),
        series("container_memory_working_set_bytes", component="api", onset_min=-2, z=6),
        series("container_cpu_usage_seconds_total", component="api", onset_min=-9, z=6),
    )
    ranked = rank_candidate_causes(evidence)
    assert [c.category for c in ranked] == [Category.RESOURCE_CPU, Category.RESOURCE_MEMORY]
    assert ranked[0].lead_seconds == 540


def test_caller_of_an_anomalous_callee_is_explained_by_it() -> None:
    evidence = incident(
        latency("front", onset_min=0),  # type: ignore[arg-type]
        latency("mid", onset_min=0, z=30),  # type: ignore[arg-type]
        latency("leaf", onset_min=0, z=12),  # type: ignore[arg-type]
        topology={"front": ["mid"], "mid": ["leaf"]},
    )
    ranked = rank_candidate_causes(evidence)
    assert [c.suspect for c in ranked] == ["leaf", "mid"]
    assert ranked[1].explained_by == ("leaf",)


def test_a_marginal_callee_blip_does_not_explain_an_extreme_caller() -> None:
    evidence = incident(
        latency("front", onset_min=0),  # type: ignore[arg-type]
        latency("mid", onset_min=0, z=30),  # type: ignore[arg-type]
        latency("leaf", onset_min=0, z=6),  # type: ignore[arg-type]
        topology={"front": ["mid"], "mid": ["leaf"]},
    )
    assert rank_candidate_causes(evidence)[0].suspect == "mid"


def test_leaf_that_moves_with_an_instrumented_sibling_is_taken_as_its_view() -> None:
    evidence = incident(
        latency("front", onset_min=0),  # type: ignore[arg-type]
        latency("search-lb", onset_min=-5, z=40),  # type: ignore[arg-type]
        latency("search", onset_min=-5, z=20),  # type: ignore[arg-type]
        latency("index", anomalous=False),  # type: ignore[arg-type]
        topology={"front": ["search-lb", "search"], "search": ["index"]},
    )
    ranked = rank_candidate_causes(evidence)
    assert [c.suspect for c in ranked] == ["search", "search-lb"]
    assert "another view" in ranked[1].topology_note


def test_component_not_called_by_the_alerting_one_ranks_last() -> None:
    evidence = incident(
        latency("front", onset_min=0),  # type: ignore[arg-type]
        latency("batch", onset_min=-3, z=15),  # type: ignore[arg-type]
        latency("cart", onset_min=-1, z=8),  # type: ignore[arg-type]
        topology={"front": ["cart"], "batch": ["cart"]},
    )
    assert [c.suspect for c in rank_candidate_causes(evidence)][-1] == "batch"


def test_database_component_latency_is_dependency_database() -> None:
    evidence = incident(
        latency("api", onset_min=0),  # type: ignore[arg-type]
        latency("orders-postgres", onset_min=-2),  # type: ignore[arg-type]
        topology={"api": ["orders-postgres"]},
    )
    assert rank_candidate_causes(evidence)[0].category is Category.DEPENDENCY_DATABASE
