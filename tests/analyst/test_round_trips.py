"""A round trip is the network path's own time: a connector's websocket round trip to a venue rising from
2 to 47 ms behind the gateway's execution latency is network degradation, with that series as the suspect.
Before, it was "Failing or slow dependency: exchange-connector" with the component as the suspect."""

from __future__ import annotations

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.categories import MetricFamily, metric_family
from analyst.diagnosis import Category
from tests.analyst.grid_evidence import (
    ALERT_AT,
    grid_evidence,
    grid_noise,
    grid_series,
    grid_step,
)


def test_a_round_trip_is_a_network_measure() -> None:
    assert metric_family("exchange_ws_rtt_seconds") is MetricFamily.NETWORK
    assert metric_family("grpc_round_trip_time_seconds") is MetricFamily.NETWORK
    assert metric_family("http_request_duration_seconds") is MetricFamily.LATENCY


def test_a_venues_round_trip_behind_the_gateways_latency_is_network_degradation() -> None:
    series = [
        grid_series(
            "order_execution_latency_seconds", "order-gateway", grid_step(0.02, 0.001, 1, 0.2), "alert"
        ),
        grid_series("exchange_ws_rtt_seconds", "exchange-connector", grid_step(0.002, 0.0001, 3, 0.047)),
        grid_series("process_resident_memory_bytes", "exchange-connector", grid_noise(2e8, 1e6, 5)),
    ]
    evidence = grid_evidence(series, alert_service="order-gateway", alertname="OrderExecutionLatencyHigh")
    primary = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT).primary_hypothesis
    assert primary.category is Category.NETWORK, primary
    assert primary.suspect == 'exchange_ws_rtt_seconds{service="exchange-connector"}', primary
