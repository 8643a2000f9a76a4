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


def _earlier_episode(recovered_min: float | None, alert_query: str = "order_error_ratio") -> object:
    """A market spike 10 minutes before an order-error alert (ended `recovered_min` before the alert, or
    still on), and a DB pool that filled a minute before the errors began."""
    from dataclasses import replace

    return incident(
        replace(series("order_error_ratio", onset_min=-1), query=alert_query),
        series("volatility", onset_min=-10, z=40, corr=0.3, recovered_min=recovered_min),
        series("db_pool_in_use", onset_min=-2, z=8, corr=0.6),
        alertname="OrderErrorRateHigh",
    )


def test_a_change_that_was_over_before_the_alert_series_moved_is_an_earlier_episode() -> None:
    still_on = rank_candidate_causes(_earlier_episode(None))  # type: ignore[arg-type]
    assert still_on[0].suspect == "volatility" and still_on[0].ended_before is None
    over = rank_candidate_causes(_earlier_episode(-5))  # type: ignore[arg-type]
    assert [c.suspect for c in over] == ["db_pool_in_use", "volatility"]
    assert over[1].ended_before == 240.0
    assert over[1].score == 0.5 * still_on[0].score


def test_a_change_that_ended_as_the_alert_series_moved_still_counts() -> None:
    # back to normal 30 s before the errors began: within SIMULTANEOUS_SECONDS, so not over before them
    ranked = rank_candidate_causes(_earlier_episode(-1.5))  # type: ignore[arg-type]
    assert ranked[0].suspect == "volatility" and ranked[0].ended_before is None


def test_a_rate_window_in_the_alert_expression_widens_what_counts_as_simultaneous() -> None:
    # the errors are rate(...[5m]): they may cross their band up to 5 minutes after the cause began
    slow = rank_candidate_causes(_earlier_episode(-5, "sum(rate(order_errors_total[5m]))"))  # type: ignore[arg-type]
    assert slow[0].suspect == "volatility" and slow[0].ended_before is None
    quick = rank_candidate_causes(_earlier_episode(-5, "sum(rate(order_errors_total[1m]))"))  # type: ignore[arg-type]
    assert quick[0].suspect == "db_pool_in_use"


def test_longest_range_of_an_expression() -> None:
    from analyst.builtin.ranking import longest_range_seconds

    assert longest_range_seconds("up") == 0
    assert longest_range_seconds("rate(a[5m]) / rate(b[1h30m])") == 5400
    assert longest_range_seconds("max_over_time(rate(a[2m])[1d:5m])") == 86_400
    assert longest_range_seconds('x{path="/a[1]"} offset 5m') == 0
    assert longest_range_seconds("rate(a[500ms])") == 0.5


def test_the_diagnosis_says_an_earlier_episode_was_over(playbooks: object) -> None:
    from analyst.builtin import diagnose_evidence

    result = diagnose_evidence(_earlier_episode(-5), playbooks)  # type: ignore[arg-type]
    assert "db_pool_in_use" in result.primary_hypothesis.suspect
    volatility = next(h for h in result.alternative_hypotheses if h.suspect == "volatility")
    said = volatility.contradicting_evidence
    assert any("back to normal 4m before the alert's series" in line for line in said)
    order = next(s.findings for s in result.detailed_analysis if s.step == "pattern_recognition")
    assert "volatility (10m before the alert, back to normal 5m before the alert)" in order


def test_when_only_the_alert_series_moved_it_is_not_said_to_correlate_with_itself(playbooks: object) -> None:
    from analyst.builtin import diagnose_evidence

    evidence = incident(series("volatility", onset_min=0, corr=1.0), alertname="MarketVolatilityAnomaly")
    result = diagnose_evidence(evidence, playbooks)  # type: ignore[arg-type]
    assert result.primary_hypothesis.suspect == "volatility" and result.confidence_score <= 0.5
    assert not any("correlation" in line for line in result.primary_hypothesis.supporting_evidence)


def test_coming_first_counts_only_for_a_change_that_moves_with_the_alert_series() -> None:
    def ranked(corr: float) -> list[str]:
        evidence = incident(
            series("order_error_ratio", onset_min=-1),
            series("volatility", onset_min=-10, z=12, corr=corr),  # first, but does it move with the errors?
            series("db_pool_in_use", onset_min=-2, z=10, corr=0.5),
            alertname="OrderErrorRateHigh",
        )
        return [c.suspect for c in rank_candidate_causes(evidence)]

    assert ranked(0.5)[0] == "volatility"
    assert ranked(0.05)[0] == "db_pool_in_use"


def test_unrelated_early_changes_do_not_push_a_related_one_down_the_onset_order() -> None:
    evidence = incident(
        series("order_error_ratio", onset_min=-1),
        series("volatility", onset_min=-12, z=12, corr=0.03),
        series("volume", onset_min=-11, z=12, corr=0.03),
        series("db_pool_in_use", onset_min=-2, z=10, corr=0.5),
        alertname="OrderErrorRateHigh",
    )
    ranked = {c.suspect: c for c in rank_candidate_causes(evidence)}
    assert ranked["db_pool_in_use"].onset_score == 1.0  # the first of the changes that move with the errors
    assert ranked["volatility"].onset_score <= 0.5 and ranked["volume"].onset_score <= 0.5
