"""A component that stopped answering (its target's `up` fell to 0, its own series stopped) or whose container
was killed and restarted is the suspect, not the callers that saw it fail; through a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from analyst.builtin.categories import categorize_series
from analyst.builtin.entities import SeriesKind, rank_entities, series_kind
from analyst.diagnosis import Category
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings
from receiver.models import Incident
from tests.evidence.alerts import firing_incident, source_at

STEP = 15.0
PODS = {
    "frontend": "frontend-7d9c8b6f5d-x2k4p",
    "checkout": "checkout-6b7c9d8f5-m4n8r",
    "payment": "payment-5d9f8b6c5d-q7zt2",
    "cart": "cart-8f5d9c7b6-z2w4k",
}


class Crash:
    """frontend -> checkout -> payment, frontend -> cart, in namespace `shop`. At `cause_at` checkout's
    process dies: its target's `up` falls to 0 and its own series stop (Prometheus marks them stale);
    frontend's errors and latency rise (its calls to checkout fail), payment's traffic falls."""

    def __init__(self) -> None:
        self.end = math.floor(time.time() / STEP) * STEP - 60
        self.ts = np.arange(self.end - 4 * 3600.0, self.end + STEP, STEP)
        self.cause_at = self.end - 30 * 60
        self.alert_at = self.cause_at + 120

    def _labels(self, service: str) -> dict[str, str]:
        return {"namespace": "shop", "service": service, "pod": PODS[service], "job": service}

    def gauge(
        self, metric: str, service: str, level: float, after: float, seed: int, stops: bool = False
    ) -> SyntheticSeries:
        values = noisy(self.ts, level, level / 20, seed, steps=[(self.cause_at, after)])
        keep = self.ts < self.cause_at if stops else np.ones(self.ts.size, dtype=bool)
        return SyntheticSeries(metric, self._labels(service), self.ts[keep], values[keep])

    def up(self, service: str) -> SyntheticSeries:
        """checkout's stays at 0 from the cause on; cart's target misses two scrapes just after it."""
        values = np.where((service == "checkout") & (self.ts >= self.cause_at), 0.0, 1.0)
        if service == "cart":
            values[(self.ts >= self.cause_at + 60) & (self.ts < self.cause_at + 90)] = 0.0
        return SyntheticSeries("up", self._labels(service), self.ts, values)

    def oom_killed(self) -> list[SyntheticSeries]:
        """In namespace `oom`, cart's container is OOM-killed at `cause_at` and restarts; the spike fell
        between two scrapes, so its memory series shows nothing. kube-state-metrics reports both, under its
        own `job` and `service`."""
        exporter = {"job": "kube-state-metrics", "service": "kube-prometheus-stack-kube-state-metrics"}
        out = []
        for i, service in enumerate(("frontend", "cart", "payment")):
            subject = {"namespace": "oom", "pod": PODS[service], "container": service}
            restarts = np.where(self.ts >= self.cause_at, 1.0, 0.0) if service == "cart" else 0.0 * self.ts
            out += [
                SyntheticSeries(
                    "kube_pod_container_status_restarts_total",
                    exporter | subject,
                    self.ts,
                    restarts,
                    "counter",
                ),
                SyntheticSeries(
                    "kube_pod_container_status_last_terminated_reason",
                    exporter | subject | {"reason": "OOMKilled"},
                    self.ts,
                    restarts,
                ),
            ]
            own = {"namespace": "oom", "service": service, "pod": PODS[service], "job": service}
            error_after = 0.2 if service == "frontend" else 0.01
            for metric, level, after, seed in (
                ("http_error_ratio", 0.01, error_after, 100 + 10 * i),
                ("process_resident_memory_bytes", 2e8, 2e8, 101 + 10 * i),
                ("process_cpu_usage_ratio", 0.3, 0.3, 102 + 10 * i),
            ):
                values = noisy(self.ts, level, level / 20, seed, steps=[(self.cause_at, after)])
                out.append(SyntheticSeries(metric, own, self.ts, values))
        return out

    def series(self) -> list[SyntheticSeries]:
        out = [self.up(service) for service in PODS] + self.oom_killed()
        for i, (service, error_after, latency_after) in enumerate(
            (("frontend", 0.3, 0.9), ("checkout", 0.01, 0.1), ("payment", 0.01, 0.05), ("cart", 0.01, 0.02))
        ):
            stops = service == "checkout"
            out += [
                self.gauge("http_error_ratio", service, 0.01, error_after, 10 * i, stops),
                self.gauge(
                    "http_latency_p90_seconds",
                    service,
                    latency_after / 2 if i else 0.2,
                    latency_after,
                    10 * i + 1,
                    stops,
                ),
                self.gauge(
                    "process_cpu_usage_ratio",
                    service,
                    0.3,
                    0.2 if service == "payment" else 0.3,
                    10 * i + 2,
                    stops,
                ),
                self.gauge("process_resident_memory_bytes", service, 2e8, 2e8, 10 * i + 3, stops),
            ]
        return out

    def incident(self) -> Incident:
        labels = {
            "alertname": "FrontendErrors",
            "namespace": "shop",
            "service": "frontend",
            "severity": "critical",
        }
        expr = 'http_error_ratio{namespace="shop",service="frontend"} > 0.1'
        return firing_incident(self.alert_at, labels, expr, "inc-crash")


@pytest.fixture(scope="module")
def crash() -> Crash:
    return Crash()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, crash: Crash) -> Iterator[ManagedProcess]:
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("crash"), crash.series())
    yield proc
    proc.stop()


@pytest.fixture
async def source(prometheus: ManagedProcess) -> AsyncIterator[PrometheusSource]:
    async with source_at(prometheus.url) as src:
        yield src


def test_a_scrape_targets_up_is_an_availability_series_whose_fall_hurts():
    assert series_kind("up") is series_kind("mysql_up") is SeriesKind.AVAILABILITY
    assert series_kind("upstream_latency_seconds") is not SeriesKind.AVAILABILITY
    assert series_kind("backup_duration_seconds") is not SeriesKind.AVAILABILITY


async def test_the_component_whose_target_went_down_is_the_suspect(crash: Crash, source: PrometheusSource):
    settings = ContextSettings(detect_external_labels=False)
    evidence = await collect_alert_context(crash.incident(), source, settings, now=crash.end)

    up = next(s for s in evidence.series if s.metric == "up" and s.labels["service"] == "checkout")
    assert up.direction == "down"
    ranked = rank_entities(evidence)
    assert ranked[0].name == "checkout", [(e.name, round(e.score, 1)) for e in ranked[:4]]
    # cart's target missed two scrapes and answers again: not a component that stopped
    cart = next(e for e in ranked if e.name == "cart")
    assert all(s.z == 0.0 for s in cart.shifts if s.series.metric == "up")
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis
    assert (primary.suspect, primary.category) == ("checkout", "dependency.service"), primary
    # its memory series stopped with it: they do not say its resources were fine
    assert any("checkout stopped answering (up fell to 0)" in line for line in primary.supporting_evidence)
    assert not any("resources stayed within" in line for line in primary.supporting_evidence)


# kube-prometheus' own TargetDown (shared/corpus/alert-rules/kube-prometheus), and the plain form
KUBE_PROMETHEUS_TARGET_DOWN = (
    "100 * (count(up == 0) BY (cluster, job, namespace, service) / count(up) BY (cluster, job, namespace, "
    "service)) > 10"
)


@pytest.mark.parametrize(
    ("expr", "pending"), [('up{job="checkout"} == 0', 60), (KUBE_PROMETHEUS_TARGET_DOWN, 600)]
)
async def test_a_target_down_alert_blames_the_target_not_the_callers_it_fails(
    crash: Crash, source: PrometheusSource, expr: str, pending: float
):
    labels = {"alertname": "TargetDown", "namespace": "shop", "job": "checkout", "severity": "warning"}
    incident = firing_incident(crash.cause_at + pending, labels, expr, "inc-down")
    settings = ContextSettings(detect_external_labels=False)
    evidence = await collect_alert_context(incident, source, settings, now=crash.end)

    # its own `up` is the alert: not discounted as a symptom to explain, since nothing else's going down
    # explains it (frontend's errors rose by z 97, at half weight)
    assert rank_entities(evidence)[0].name == "checkout"
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis
    assert (primary.suspect, primary.category) == ("checkout", "dependency.service"), primary


def test_a_container_restart_is_an_availability_series():
    assert series_kind("kube_pod_container_status_restarts_total") is SeriesKind.AVAILABILITY
    assert series_kind("kube_pod_container_status_last_terminated_reason") is SeriesKind.AVAILABILITY
    waiting = "kube_pod_container_status_waiting_reason"
    assert categorize_series(waiting, {"reason": "ImagePullBackOff"}) is Category.CHANGE_DEPLOYMENT
    assert categorize_series(waiting, {"reason": "OOMKilled"}) is Category.RESOURCE_MEMORY


async def test_a_container_killed_for_memory_between_two_scrapes_is_named_by_its_kill(
    crash: Crash, source: PrometheusSource
):
    labels = {
        "alertname": "FrontendErrors",
        "namespace": "oom",
        "service": "frontend",
        "severity": "critical",
    }
    expr = 'http_error_ratio{namespace="oom",service="frontend"} > 0.1'
    incident = firing_incident(crash.alert_at, labels, expr, "inc-oom")
    settings = ContextSettings(detect_external_labels=False)
    evidence = await collect_alert_context(incident, source, settings, now=crash.end)

    # kube-state-metrics' series are the pod's, not its own service's
    assert rank_entities(evidence)[0].name == "cart"
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis
    assert (primary.suspect, primary.category) == ("cart", "resource.memory"), primary
    assert not any("resources stayed within" in line for line in primary.supporting_evidence)
