"""The incidents the built-in analyst must get right (trading firm origin story)."""

from __future__ import annotations

from analyst.builtin import Playbooks, diagnose_evidence
from analyst.diagnosis import ANALYSIS_STEPS, Category

from .conftest import incident, series


def test_volatility_spike_dragging_pnl_down_is_market_volatility(playbooks: Playbooks) -> None:
    evidence = incident(
        series('strategy_pnl{book="btc"}', component="strategy", onset_min=-1, direction="down", z=-7),
        series('market_realized_volatility{symbol="BTCUSDT"}', component="marketdata", onset_min=-6, z=9),
        series("order_fill_latency_seconds", component="gateway", anomalous=False),
        series('market_volume{symbol="BTCUSDT"}', component="marketdata", onset_min=-3, z=4, corr=0.5),
        alertname="PnLDrawdown",
    )
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.MARKET_VOLATILITY
    assert result.primary_hypothesis.suspect == 'market_realized_volatility{symbol="BTCUSDT"}'


def test_db_pool_exhaustion_driving_order_errors_is_database(playbooks: Playbooks) -> None:
    evidence = incident(
        series("order_errors_ratio", component="orders", onset_min=0, z=8),
        series('db_pool_connections_in_use{pool="orders"}', component="orders", onset_min=-4, z=6, corr=0.9),
        series("http_request_duration_seconds", component="orders", onset_min=-1, z=5),
        series("process_cpu_seconds_total", component="orders", anomalous=False),
    )
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.DEPENDENCY_DATABASE
    assert "pool" in result.primary_hypothesis.suspect
    assert any("pool" in action.lower() for action in result.immediate_actions)


def test_cpu_saturation_causing_latency_is_resource_cpu(playbooks: Playbooks) -> None:
    evidence = incident(
        series("http_request_duration_seconds", component="api", onset_min=0, z=7),
        series("container_cpu_usage_seconds_total", component="api", onset_min=-5, z=6, corr=0.85),
        series("http_requests_total", component="api", anomalous=False),
        alertname="HighLatency",
    )
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.RESOURCE_CPU


def test_deploy_preceding_error_spike_is_change_deployment(playbooks: Playbooks) -> None:
    evidence = incident(
        series("http_errors_ratio", component="checkout", onset_min=0, z=9),
        series("process_start_time_seconds", component="checkout", onset_min=-3, z=50, corr=0.3),
        series("http_request_duration_seconds", component="checkout", onset_min=0, z=4),
    )
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.CHANGE_DEPLOYMENT
    assert result.primary_hypothesis.suspect == "process_start_time_seconds"


def test_traffic_surge_first_is_traffic_surge(playbooks: Playbooks) -> None:
    evidence = incident(
        series("http_request_duration_seconds", component="web", onset_min=0, z=6),
        series("http_requests_total", component="web", onset_min=-8, z=7, corr=0.9),
        series("container_cpu_usage_seconds_total", component="web", onset_min=-4, z=5, corr=0.8),
        alertname="HighLatency",
    )
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.TRAFFIC_SURGE
    assert Category.RESOURCE_CPU in {h.category for h in result.alternative_hypotheses}


def test_deep_callee_latency_explains_frontend_latency(playbooks: Playbooks) -> None:
    topology = {"frontend": ["cart", "search"], "search": ["index"], "cart": ["redis"]}
    evidence = incident(
        series(
            'latency_seconds{service="frontend"}', metric="latency_seconds", component="frontend", onset_min=0
        ),
        series(
            'latency_seconds{service="search"}',
            metric="latency_seconds",
            component="search",
            z=12,
            onset_min=-1,
        ),
        series(
            'latency_seconds{service="index"}', metric="latency_seconds", component="index", z=5, onset_min=-1
        ),
        series(
            'latency_seconds{service="cart"}', metric="latency_seconds", component="cart", anomalous=False
        ),
        topology=topology,
        alertname="FrontendLatency",
    )
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.DEPENDENCY_SERVICE
    assert result.primary_hypothesis.suspect == "index"
    assert result.alternative_hypotheses[0].suspect == "search"


def test_no_anomalous_series_gives_low_confidence_unknown_that_says_what_was_checked(
    playbooks: Playbooks,
) -> None:
    evidence = incident(
        series("http_errors_ratio", component="api", anomalous=False),
        series("container_cpu_usage_seconds_total", component="api", anomalous=False),
    )
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.UNKNOWN
    assert result.confidence_score <= 0.1
    assert "2 series" in result.executive_summary
    assert "container_cpu_usage_seconds_total" in result.executive_summary
    assert result.alternative_hypotheses == ()
    assert "Examined 2 series" in result.detailed_analysis[0].findings


def test_result_has_six_steps_alternatives_and_concrete_evidence(playbooks: Playbooks) -> None:
    evidence = incident(
        series("order_errors_ratio", component="orders", onset_min=0, z=8),
        series("db_pool_connections_in_use", component="orders", onset_min=-4, z=6.5, corr=0.9),
        series("container_cpu_usage_seconds_total", component="orders", onset_min=-2, z=4, corr=0.6),
        series("go_memstats_heap_inuse_bytes", component="orders", onset_min=-1, z=3.5, corr=0.4),
    )
    result = diagnose_evidence(evidence, playbooks, now=123.0)
    assert tuple(step.step for step in result.detailed_analysis) == ANALYSIS_STEPS
    assert len(result.alternative_hypotheses) >= 2
    support = " ".join(result.primary_hypothesis.supporting_evidence)
    assert "z=6.5" in support and "4m before the alert" in support
    assert result.timestamp == 123.0
    assert result.backend == "builtin" and result.llm_model_used is None
    assert result.immediate_actions and result.preventive_measures and result.monitoring_recommendations
    confidences = [
        result.primary_hypothesis.confidence,
        *(h.confidence for h in result.alternative_hypotheses),
    ]
    assert confidences == sorted(confidences, reverse=True)
    assert result.confidence_score == result.primary_hypothesis.confidence


def test_only_the_alert_series_anomalous_names_its_own_category(playbooks: Playbooks) -> None:
    evidence = incident(
        series("node_cpu_utilisation", component="node-1", onset_min=0, z=6),
        series("http_requests_total", component="node-1", anomalous=False),
        alertname="HighCPU",
    )
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.RESOURCE_CPU
    assert result.confidence_score < 0.7


def test_diagnosis_is_deterministic(playbooks: Playbooks) -> None:
    evidence = incident(
        series("http_errors_ratio", component="a", onset_min=0),
        series("http_requests_total", component="a", onset_min=-2),
        series("container_memory_working_set_bytes", component="a", onset_min=-2),
    )
    first = diagnose_evidence(evidence, playbooks, now=1.0)
    second = diagnose_evidence(evidence, playbooks, now=1.0)
    assert (first.primary_hypothesis, first.alternative_hypotheses) == (
        second.primary_hypothesis,
        second.alternative_hypotheses,
    )


def test_non_finite_detector_numbers_are_treated_as_unknown(playbooks: Playbooks) -> None:
    from dataclasses import replace

    nan = float("nan")
    odd = replace(
        series("container_cpu_usage_seconds_total", component="api", onset_min=-3),
        z_score=nan,
        correlation=float("inf"),
        lag_seconds=nan,
        score=nan,
    )
    evidence = incident(series("errors_ratio", component="api", onset_min=0), odd)
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.RESOURCE_CPU
    assert 0.0 < result.confidence_score < 1.0


def test_evidence_without_series_or_alert_series_is_diagnosed_as_unknown(playbooks: Playbooks) -> None:
    from dataclasses import replace

    evidence = replace(incident(series("errors_ratio", anomalous=False)), series=(), alert_series_id=None)
    result = diagnose_evidence(evidence, playbooks, now=0.0)
    assert result.primary_hypothesis.category is Category.UNKNOWN
    assert "0 series" in result.executive_summary
