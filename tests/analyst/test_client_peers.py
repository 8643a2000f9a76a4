"""A client's own series name the Service it calls (Spring's `client_name="payments.shop.svc"`,
OpenTelemetry's `server_address`, Envoy's cluster): an edge of the call graph, without a mesh. payments'
errors rise and fire its alert; checkout, which calls it, fails the same checkouts with more spreads. Its
errors are payments', not a cause of their own."""

from __future__ import annotations

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.entities import rank_entities
from analyst.builtin.topology import CallGraph, peer_component
from analyst.evidence import Evidence
from tests.analyst.grid_evidence import ALERT_AT, grid_evidence, grid_noise, grid_series, grid_step, labelled


def _payments_failing(called: str) -> Evidence:
    series = [
        labelled(grid_series("payments_error_ratio", "payments", grid_step(0.001, 0.0005, 1, 0.05), "alert")),
        labelled(
            grid_series("http_request_duration_seconds_count", "payments", grid_step(0.02, 0.01, 3, 0.6)),
            code="502",
        ),
        labelled(
            grid_series("http_server_requests_seconds_count", "checkout", grid_step(0.02, 0.005, 5, 0.6)),
            outcome="SERVER_ERROR",
        ),
        labelled(
            grid_series("http_client_requests_seconds_count", "checkout", grid_noise(30.0, 1.0, 7)),
            client_name=called,
        ),
        grid_series("process_cpu_usage", "checkout", grid_noise(0.2, 0.01, 9)),
    ]
    series = [labelled(s, namespace="shop") for s in series]
    return grid_evidence(series, alert_service="payments", alertname="PaymentsErrorRatioHigh")


def test_a_callers_errors_are_explained_by_the_service_its_client_series_name() -> None:
    evidence = _payments_failing("payments.shop.svc")
    ranked = {e.name: e for e in rank_entities(evidence)}
    assert ranked["checkout"].explained_by == ("payments",)

    result = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT)
    assert result.primary_hypothesis.title.endswith(": payments"), result.primary_hypothesis


def test_an_outside_host_named_by_a_client_is_no_edge() -> None:
    evidence = _payments_failing("api.psp.example")
    assert not CallGraph.from_evidence(evidence.topology, evidence.series)
    ranked = {e.name: e for e in rank_entities(evidence)}
    assert ranked["checkout"].explained_by == ()


def test_a_peer_host_resolves_to_a_component_by_its_kubernetes_service_name() -> None:
    known, namespaces = {"payments": "payments", "catalog": "catalog", "api.psp.example": "psp-api"}, {"shop"}
    for value in (
        "payments.shop.svc",
        "payments.shop.svc.cluster.local:443",
        "http://payments.shop:8080/v1",
        "outbound|8080||payments.shop.svc.cluster.local",
        "payments:8080",
    ):
        assert peer_component(value, known, namespaces) == "payments", value
    assert peer_component("https://api.psp.example/v1/charges", known, namespaces) == "psp-api"  # probed
    for value in ("payments.staging", "api.addressy.example", "search.shop.svc", ""):
        assert peer_component(value, known, namespaces) is None, value
    assert peer_component("payments.staging.svc", known, namespaces) == "payments"  # `.svc`: a Service


def test_a_client_calling_a_probed_host_is_a_caller_of_the_probes_endpoint() -> None:
    """payments calls its card processor at api.psp.example (OpenTelemetry's `server_address`); a blackbox
    probe of that host, named psp-api, fails: payments' errors are the endpoint's."""
    down = grid_step(1.0, 0.0, 11, 0.0)
    series = [
        labelled(grid_series("payments_error_ratio", "payments", grid_step(0.001, 0.0005, 1, 0.05), "alert")),
        labelled(
            grid_series("http_client_request_duration_seconds_count", "payments", grid_noise(30.0, 1.0, 7)),
            server_address="api.psp.example",
        ),
        labelled(grid_series("probe_success", "psp-api", down), instance="https://api.psp.example/health"),
    ]
    evidence = grid_evidence(series, alert_service="payments", alertname="PaymentsErrorRatioHigh")
    graph = CallGraph.from_evidence(evidence.topology, evidence.series)
    assert graph.callees("payments") == ("psp-api",)
