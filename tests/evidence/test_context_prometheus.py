"""collect_alert_context against a real Prometheus backfilled with a known-cause incident."""

from __future__ import annotations

from dataclasses import replace

from analyst.evidence import Evidence, SeriesEvidence
from receiver.evidence.context import build_evidence, collect_alert_context, fetch_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.promql import generator_url_for
from receiver.evidence.settings import ContextQuery, ContextSettings
from tests.evidence.scenario import Scenario


def by_metric(evidence: Evidence, metric: str) -> SeriesEvidence:
    return next(s for s in evidence.series if s.metric == metric)


async def test_the_causal_series_changes_before_the_alert_series(
    scenario: Scenario, source: PrometheusSource
):
    evidence = await collect_alert_context(scenario.incident(), source, ContextSettings(), now=scenario.end)

    alert = by_metric(evidence, "demo_order_error_ratio")
    cause = by_metric(evidence, "demo_db_pool_in_use")
    assert alert.role == "alert" and evidence.alert_series_id == alert.series_id
    assert alert.anomalous and cause.anomalous
    assert cause.onset is not None and alert.onset is not None and cause.onset < alert.onset
    assert cause.lag_seconds is not None and 120 <= cause.lag_seconds <= 240
    assert cause.direction == "up" and cause.component == "postgres"
    assert cause.correlation is not None and cause.correlation > 0.5


async def test_unrelated_flat_series_are_not_anomalous(scenario: Scenario, source: PrometheusSource):
    evidence = await collect_alert_context(scenario.incident(), source, ContextSettings(), now=scenario.end)

    for metric in (
        "demo_cpu_usage_ratio",
        "demo_queue_depth",
        "demo_memory_bytes",
        "demo_http_requests_total",
    ):
        series = by_metric(evidence, metric)
        assert series.available and not series.anomalous, series


async def test_counters_are_fetched_as_rates(scenario: Scenario, source: PrometheusSource):
    evidence = await collect_alert_context(scenario.incident(), source, ContextSettings(), now=scenario.end)

    counter = by_metric(evidence, "demo_http_requests_total")
    assert counter.query.startswith("rate(demo_http_requests_total{")
    assert counter.baseline is not None and 40 < counter.baseline < 60


async def test_series_not_sharing_identifying_labels_are_left_out(
    scenario: Scenario, source: PrometheusSource
):
    evidence = await collect_alert_context(scenario.incident(), source, ContextSettings(), now=scenario.end)

    assert all(s.metric != "demo_other_team_latency_seconds" for s in evidence.series)
    assert all(s.available for s in evidence.series)
    assert evidence.window_start <= scenario.incident().starts_at - 7200


async def test_the_rule_is_looked_up_when_generator_url_has_no_expression(
    scenario: Scenario, source: PrometheusSource
):
    incident = scenario.incident(generator_url="https://grafana.example/alerting/list")
    evidence = await collect_alert_context(incident, source, ContextSettings(), now=scenario.end)

    assert evidence.alert.expr == 'demo_order_error_ratio{service="orders"} > 0.1'
    assert by_metric(evidence, "demo_order_error_ratio").role == "alert"
    assert any("taken from rule" in note for note in evidence.notes)


async def test_the_rule_is_looked_up_when_prometheus_cannot_parse_the_generator_urls_expression(
    scenario: Scenario, source: PrometheusSource
):
    for mangled in ("...", 'demo_order_error_ratio{service="ord'):  # a placeholder; a URL cut short
        incident = scenario.incident(generator_url=generator_url_for("https://prom.example", mangled))
        evidence = await collect_alert_context(incident, source, ContextSettings(), now=scenario.end)

        assert evidence.alert.expr == 'demo_order_error_ratio{service="orders"} > 0.1'
        assert by_metric(evidence, "demo_order_error_ratio").role == "alert"
        assert by_metric(evidence, "demo_db_pool_in_use").anomalous
        assert any(
            note.startswith("the generatorURL's PromQL was refused (bad_query") and "taken from rule" in note
            for note in evidence.notes
        )


async def test_a_refused_expression_without_a_rule_of_its_name_is_said_so(
    scenario: Scenario, source: PrometheusSource
):
    incident = scenario.incident(generator_url=generator_url_for("https://prom.example", "..."))
    incident = replace(
        incident, alertname="NoSuchRule", labels={**incident.labels, "alertname": "NoSuchRule"}
    )
    evidence = await collect_alert_context(incident, source, ContextSettings(), now=scenario.end)

    assert any(
        "was refused" in note and "no alerting rule named 'NoSuchRule'" in note for note in evidence.notes
    )
    assert any(note.startswith("alert expression unavailable (bad_query") for note in evidence.notes)
    assert not [s for s in evidence.series if s.role == "alert" and s.available]


async def test_context_queries_are_filled_with_the_alert_labels(scenario: Scenario, source: PrometheusSource):
    settings = ContextSettings(
        max_related_series=0,
        context_queries=[
            ContextQuery(
                name="db pool",
                query='max by (job) (demo_db_pool_in_use{job="{{ $labels.job }}"})',
                match={"alertname": "OrderErrors.*"},
            ),
            ContextQuery(name="never", query="up", match={"alertname": "Other"}),
            ContextQuery(name="missing label", query='up{pod="{{ $labels.pod }}"}'),
        ],
    )
    evidence = await collect_alert_context(scenario.incident(), source, settings, now=scenario.end)

    context = [s for s in evidence.series if s.role == "context"]
    assert [s.metric for s in context] == ["db pool"]
    assert context[0].query == 'max by (job) (demo_db_pool_in_use{job="shop"})'
    assert context[0].anomalous and context[0].lag_seconds is not None and context[0].lag_seconds > 0
    assert any("missing label" in note and "'pod'" in note for note in evidence.notes)


async def test_a_context_query_adds_no_series_already_fetched(scenario: Scenario, source: PrometheusSource):
    plain = await collect_alert_context(scenario.incident(), source, ContextSettings(), now=scenario.end)
    settings = ContextSettings(
        context_queries=[
            ContextQuery(name="pool", query="demo_db_pool_in_use"),  # also a related series
            ContextQuery(name="pool again", query="demo_db_pool_in_use"),
            ContextQuery(name="errors", query="demo_order_error_ratio"),  # the alert's own series
            ContextQuery(name="pool total", query="sum(demo_db_pool_in_use)"),  # a new series
        ]
    )
    evidence = await collect_alert_context(scenario.incident(), source, settings, now=scenario.end)

    ids = [s.series_id for s in evidence.series]
    assert len(ids) == len(set(ids)) == len(plain.series) + 1
    assert [s.metric for s in evidence.series if s.role == "context"] == ["pool total"]
    assert by_metric(evidence, "demo_db_pool_in_use").role == "related"
    assert evidence.series[0].role == "alert" and evidence.alert_series_id == evidence.series[0].series_id


async def test_fetching_and_building_can_run_as_separate_stages(scenario: Scenario, source: PrometheusSource):
    fetched = await fetch_alert_context(scenario.incident(), source, ContextSettings(), now=scenario.end)
    evidence = build_evidence(scenario.incident(), fetched, ContextSettings())

    assert fetched.series_count == len(evidence.series) == 6
    assert (
        evidence.series[0].metric == "demo_order_error_ratio"
        and evidence.series[1].metric == "demo_db_pool_in_use"
    )


async def test_other_result_series_of_the_expression_are_bounded(
    scenario: Scenario, source: PrometheusSource
):
    incident = scenario.incident(generator_url=generator_url_for("http://x", '{job="shop"} > 0'))
    settings = ContextSettings(max_peer_series=2, max_related_series=0)

    evidence = await collect_alert_context(incident, source, settings, now=scenario.end)

    assert [s.role for s in evidence.series].count("alert") == 1
    assert evidence.series[0].metric == "demo_order_error_ratio"
    assert len(evidence.series) == 3
    assert any("kept 2 of 5 other series" in note for note in evidence.notes)


def test_a_detector_incident_series_is_anomalous_as_its_detector_found_it(scenario: Scenario) -> None:
    from receiver.evidence.context import detector_finding

    quiet = SeriesEvidence(series_id="demo_volatility", metric="demo_volatility", labels={}, role="alert")
    finding = {
        "detector_direction": "up",
        "detector_anomaly_type": "MARKET_VOLATILITY",
        "detector_z": "7.5",
        "detector_confidence": "0.71",
    }
    detector = scenario.incident(source="detector", annotations={"summary": "s", **finding})
    seen = detector_finding(quiet, detector)
    assert seen.anomalous and seen.onset == detector.starts_at and seen.direction == "up"
    assert (seen.anomaly_type, seen.z_score, seen.score) == ("MARKET_VOLATILITY", 7.5, 0.71)
    already = replace(quiet, anomalous=True, onset=detector.starts_at - 60)
    assert detector_finding(already, detector) == already  # the characterisation's own finding stands
