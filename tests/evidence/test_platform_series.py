"""A service's errors caused by what every workload relies on: the cluster DNS answering SERVFAIL, and a
partner's endpoint whose certificate expired (a blackbox probe fails). Neither CoreDNS' series
(`namespace="kube-system"`) nor the probe's (`namespace="monitoring"`, the endpoint in `instance`) share a
label with the service's alert, so neither was in its evidence and the service's own errors were named
the cause. Through a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from analyst.builtin.categories import MetricFamily, metric_family, server_error
from analyst.builtin.entities import SeriesKind, series_kind
from analyst.builtin.exporters import probed_endpoint
from analyst.evidence import SeriesEvidence
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.platform import failed_probes_query, probe_selector, scope_of
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
END = math.floor(time.time() / STEP) * STEP - 120
DNS_FAILS = END - 3 * 3600 - 600  # for ten minutes, three hours before END
PROBE_FAILS = END - 600
COREDNS = {"namespace": "kube-system", "job": "coredns", "service": "kube-prometheus-stack-coredns"}
BLACKBOX = {
    "namespace": "monitoring",
    "job": "prometheus-blackbox-exporter",
    "service": "prometheus-blackbox-exporter",
    "pod": "prometheus-blackbox-exporter-7c9d8f6b5-x4k2m",
}
PSP = {**BLACKBOX, "instance": "https://api.psp.example/v1/health", "target": "psp-api"}
SHOP = {**BLACKBOX, "instance": "https://shop.example.com/", "target": "shop-web"}
LEGACY = {**BLACKBOX, "instance": "https://legacy.example.com/", "target": "legacy"}  # down all along


def counter(rate: np.ndarray) -> np.ndarray:
    return np.cumsum(np.clip(rate, 0, None) * STEP)


def app(ts: np.ndarray, service: str, seed: int, failing: np.ndarray) -> list[SyntheticSeries]:
    """A service's requests (ok and failed, Micrometer's shape) and its CPU."""
    pod = {"namespace": "shop", "service": service, "pod": f"{service}-7d9f8b6c5d-x2lqp"}
    rps = noisy(ts, 50, 2, seed)
    return [
        SyntheticSeries(
            "http_server_requests_seconds_count",
            {**pod, "outcome": "SUCCESS"},
            ts,
            counter(rps * (1 - failing)),
            kind="counter",
        ),
        SyntheticSeries(
            "http_server_requests_seconds_count",
            {**pod, "outcome": "SERVER_ERROR"},
            ts,
            counter(rps * failing + 0.01),
            kind="counter",
        ),
        SyntheticSeries("process_cpu_usage", pod, ts, noisy(ts, 0.2, 0.01, seed + 1)),
    ]


def between(ts: np.ndarray, start: float, end: float, level: float) -> np.ndarray:
    return np.where((ts >= start) & (ts < end), level, 0.0)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 5 * 3600, END + STEP, STEP)
    servfail = between(ts, DNS_FAILS, DNS_FAILS + 900, 0.4)
    expired = ts >= PROBE_FAILS
    series = [
        *app(ts, "checkout", 1, servfail * 0.5),
        *app(ts, "payments", 3, np.where(expired, 0.3, 0.0)),
    ]
    for i, pod in enumerate(("coredns-5d78c9869d-4xq8j", "coredns-5d78c9869d-wv2ln")):
        own = {**COREDNS, "pod": pod, "instance": f"10.44.{i + 1}.3:9153", "server": "dns://:53", "zone": "."}
        queries = noisy(ts, 200, 5, 10 + i)
        series += [
            SyntheticSeries(
                "coredns_dns_responses_total",
                {**own, "rcode": "NOERROR"},
                ts,
                counter(queries * (1 - servfail)),
            ),
            SyntheticSeries(
                "coredns_dns_responses_total",
                {**own, "rcode": "SERVFAIL"},
                ts,
                counter(queries * servfail + 0.001),
            ),
            SyntheticSeries(
                "coredns_cache_entries", {**own, "type": "success"}, ts, noisy(ts, 900, 10, 20 + i)
            ),
        ]
    # another cluster's DNS, failing when ours does: not the alert's
    series.append(
        SyntheticSeries(
            "coredns_dns_responses_total",
            {**COREDNS, "cluster": "staging", "pod": "coredns-6c7d8f9b5-q2w3e", "rcode": "SERVFAIL"},
            ts,
            counter(servfail * 500 + 0.001),
        )
    )
    for probe, failing in ((PSP, expired), (SHOP, np.zeros(ts.size, bool)), (LEGACY, np.ones(ts.size, bool))):
        series += [
            SyntheticSeries("probe_success", probe, ts, np.where(failing, 0.0, 1.0)),
            SyntheticSeries("probe_http_status_code", probe, ts, np.where(failing, 0.0, 200.0)),
            SyntheticSeries("probe_duration_seconds", probe, ts, noisy(ts, 0.12, 0.01, 30)),
        ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("platform-series"), series)
    yield proc
    proc.stop()


def error_ratio_alert(service: str, at: float):  # type: ignore[no-untyped-def]
    labels = {"alertname": "ErrorRatioHigh", "severity": "critical", "namespace": "shop", "service": service}
    requests = f'http_server_requests_seconds_count{{namespace="shop", service="{service}"'
    expr = (
        f'sum by (namespace, service) (rate({requests}, outcome="SERVER_ERROR"}}[5m]))'
        f" / sum by (namespace, service) (rate({requests}}}[5m])) > 0.05"
    )
    return firing_incident(at, {**labels, "cluster": "prod"}, expr)


async def test_a_services_errors_while_the_cluster_dns_fails_are_put_down_to_the_dns(
    prometheus: ManagedProcess,
) -> None:
    now = DNS_FAILS + 420
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(
            error_ratio_alert("checkout", now - 120), source, ContextSettings(), now=now
        )
    diagnosis = await BuiltinAnalyst().diagnose(evidence)
    primary = diagnosis.primary_hypothesis

    dns = [s for s in evidence.series if s.metric.startswith("coredns_")]
    assert {s.labels.get("pod") for s in dns} == {"coredns-5d78c9869d-4xq8j", "coredns-5d78c9869d-wv2ln"}
    assert not [s for s in dns if "cluster" in s.labels]  # another cluster's DNS is not this alert's
    assert not [s for s in evidence.series if s.metric.startswith("coredns_cache")]  # not a DNS answer
    probed = {s.labels.get("target") for s in evidence.series if s.metric.startswith("probe_")}
    assert probed == {"legacy"}  # psp-api had not failed yet, shop-web never did
    assert "coredns" in primary.title, primary
    assert (
        primary.suspect.startswith("coredns_dns_responses_total{") and 'rcode="SERVFAIL"' in primary.suspect
    )
    assert primary.category.value == "network", primary
    assert primary.title == "Name resolution failures: coredns", primary  # the DNS' own playbook
    assert any("forward" in step for step in diagnosis.immediate_actions)


async def test_a_services_errors_while_a_probe_of_its_partner_fails_are_put_down_to_the_partner(
    prometheus: ManagedProcess,
) -> None:
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(
            error_ratio_alert("payments", END - 300), source, ContextSettings(), now=END
        )
    diagnosis = await BuiltinAnalyst().diagnose(evidence)
    primary = diagnosis.primary_hypothesis

    probed = {s.labels.get("target") for s in evidence.series if s.metric.startswith("probe_")}
    assert probed == {"psp-api", "legacy"}  # the probes that failed in the window; shop-web never did
    assert any(s.metric.startswith("coredns_") for s in evidence.series)  # the DNS, calm: not blamed
    assert "psp-api" in primary.title, primary
    assert any(line.startswith("probe_success{") for line in primary.supporting_evidence), primary
    assert primary.title == "Endpoint failing its probe: psp-api", primary
    assert any("probe_ssl_earliest_cert_expiry" in step for step in diagnosis.immediate_actions)
    # down all along, the legacy probe's endpoint changed nothing
    assert not any("legacy" in h.title for h in diagnosis.alternative_hypotheses[:2]), diagnosis


async def test_no_platform_series_when_the_lookup_is_off(prometheus: ManagedProcess) -> None:
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(
            error_ratio_alert("payments", END - 300), source, ContextSettings(max_platform_series=0), now=END
        )
    assert not [s for s in evidence.series if s.metric.startswith(("probe_", "coredns_"))]


def probe(labels: dict[str, str], metric: str = "probe_success") -> SeriesEvidence:
    return SeriesEvidence(
        series_id="x", metric=metric, labels=labels, role="related", component=labels.get("service")
    )


def test_a_probes_series_describe_its_endpoint_not_the_exporter() -> None:
    assert probed_endpoint(probe(PSP)) == "psp-api"
    assert probed_endpoint(probe({**BLACKBOX, "instance": "https://api.psp.example:8443/v1/health"})) == (
        "api.psp.example"
    )
    assert probed_endpoint(probe({"job": "blackbox", "instance": "db.shop.svc:5432"})) == "db.shop.svc"
    assert probed_endpoint(probe(PSP, metric="process_cpu_seconds_total")) is None


def test_a_dns_servers_failures_to_answer_are_errors_and_a_probes_success_is_availability() -> None:
    assert metric_family("coredns_dns_responses_total") is MetricFamily.DNS
    assert metric_family("probe_success") is MetricFamily.PROBE
    assert server_error({"rcode": "SERVFAIL"}) and server_error({"rcode": "REFUSED"})
    assert not server_error({"rcode": "NXDOMAIN"}) and not server_error({"rcode": "NOERROR"})
    assert series_kind("coredns_dns_responses_total", {"rcode": "SERVFAIL"}) is SeriesKind.ERRORS
    assert series_kind("probe_success", {}) is SeriesKind.ERRORS


def test_the_platform_queries_keep_to_the_alerts_cluster_and_one_probes_series() -> None:
    where = scope_of({"cluster": "prod", "service": "payments"}, ["cluster", "replica"])
    assert where == {"cluster": "prod"}
    assert failed_probes_query(where) == '{__name__=~"probe_success",cluster=~"prod|"} < 1'
    assert probe_selector({"__name__": "probe_success", "job": "bb", "instance": "https://a/"}) == (
        '{__name__=~"probe_.+",instance="https://a/",job="bb"}'
    )
