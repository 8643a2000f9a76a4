"""A node's conntrack limit was lowered (a sysctl DaemonSet) under the connections it already tracked: new
flows through the ingress controller on it were dropped and the Ingress' 5xx ratio fired. The alert sums
`by (exported_namespace, ingress)`: no component label, and the controller's own series carry its pod but
not its node. Before, no node was looked up (the controller's kubelet series were not among those fetched),
the table's use never rose (its limit fell), and the alert had no component to tie the node to: the
upstream's busy threads were blamed. Through a real Prometheus."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from analyst.builtin.entities import as_shares_when_resized, owner_of_what_fired
from analyst.evidence import SeriesEvidence
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import _node_series, collect_alert_context
from receiver.evidence.fetching import Fetched, FetchScope, Window
from receiver.evidence.nodes import nodes_of, placements, unplaced
from receiver.evidence.settings import ContextSettings
from receiver.evidence.source import MetricSourceError, SeriesData
from tests.analyst.grid_evidence import grid_evidence, grid_series, labelled
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
END = math.floor(time.time() / STEP) * STEP - 120
LOWERED = END - 540
EXPR = (
    'sum by (exported_namespace, ingress) (rate(nginx_ingress_controller_requests{status=~"5.."}[2m])) '
    "/ sum by (exported_namespace, ingress) (rate(nginx_ingress_controller_requests[2m])) > 0.05"
)
CONTROLLERS = {
    "ingress-nginx-controller-6f7d8-2kxqp": "ip-10-0-1-13",
    "ingress-nginx-controller-6f7d8-v7mzt": "ip-10-0-1-12",
}
ADDRESS = {"ip-10-0-1-13": "10.0.1.13", "ip-10-0-1-12": "10.0.1.12"}
API_POD = "api-7c9f8d6b5-4hq2x"
NODE_EXPORTER = {"job": "node-exporter", "namespace": "monitoring", "service": "node-exporter"}


def controller(pod: str) -> dict[str, str]:
    return {
        "job": "ingress-nginx-controller-metrics",
        "namespace": "ingress-nginx",
        "pod": pod,
        "controller_class": "k8s.io/ingress-nginx",
        "controller_namespace": "ingress-nginx",
        "controller_pod": pod,
        "exported_namespace": "web",
        "ingress": "api",
        "exported_service": "api",
        "method": "GET",
        "path": "/",
    }


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    rng = np.random.default_rng(7)
    lowered = ts >= LOWERED
    series = []
    for k, (pod, node) in enumerate(CONTROLLERS.items()):
        dropped = 0.3 if node == "ip-10-0-1-13" else 0.0  # the share of new flows the full table drops
        ok = np.cumsum(np.full(ts.size, 40.0 * STEP) * (1 - dropped * lowered))
        failed = np.cumsum((0.02 + rng.random(ts.size) * 0.02 + 40.0 * dropped * lowered) * STEP)
        for status, values in (("200", ok), ("503", failed)):
            series.append(
                SyntheticSeries(  # a counter without `_total`, as ingress-nginx names it
                    "nginx_ingress_controller_requests", {**controller(pod), "status": status}, ts, values
                )
            )
        # the kubelet's series of the controller name its node; nothing the alert's lookups fetch does
        series.append(
            SyntheticSeries(
                "container_memory_working_set_bytes",
                {
                    "job": "kubelet",
                    "namespace": "ingress-nginx",
                    "pod": pod,
                    "node": node,
                    "instance": f"{ADDRESS[node]}:10250",
                },
                ts,
                noisy(ts, 2e8, 2e6, 10 + k),
            )
        )
        instance = {**NODE_EXPORTER, "instance": f"{ADDRESS[node]}:9100"}
        limit = np.where(lowered, 65536.0, 262144.0) if dropped else np.full(ts.size, 262144.0)
        want = noisy(ts, 74000, 900, 20 + k)
        series += [
            SyntheticSeries("node_nf_conntrack_entries", instance, ts, np.minimum(want, limit)),
            SyntheticSeries("node_nf_conntrack_entries_limit", instance, ts, limit),
        ]
    # the upstream's pool of threads fills as its callers retry
    series.append(
        SyntheticSeries(
            "tomcat_threads_busy_threads",
            {"job": "api", "namespace": "web", "service": "api", "pod": API_POD, "name": "http-nio-8080"},
            ts,
            noisy(ts, 3, 0.5, 30, steps=[(LOWERED + 60, 24)]),
        )
    )
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("ingress-node"), series)
    yield proc
    proc.stop()


def ingress_alert():  # type: ignore[no-untyped-def]
    labels = {
        "alertname": "IngressHighHttp5xxRatio",
        "severity": "critical",
        "exported_namespace": "web",
        "ingress": "api",
    }
    return firing_incident(END - 240, labels, EXPR)


async def test_the_node_under_the_ingress_controller_whose_conntrack_limit_was_lowered_is_the_cause(
    prometheus: ManagedProcess,
) -> None:
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(ingress_alert(), source, ContextSettings(), now=END)
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis

    nodes = {s.component for s in evidence.series if s.metric.startswith("node_")}
    assert nodes == set(CONTROLLERS.values()), nodes
    # each named its node beside its own labels, as the kubelet's series of the node's pods are
    assert all(s.labels["node"] == s.component for s in evidence.series if s.metric.startswith("node_"))
    assert not any("node=" in s.series_id for s in evidence.series)
    assert primary.suspect.startswith("node_nf_conntrack_entries{"), primary
    assert "ip-10-0-1-13" in primary.title and primary.category.value == "network", primary
    assert "rose from 28% to 100% of its limit" in primary.supporting_evidence[0], primary


async def test_pods_no_fetched_series_places_are_placed_by_the_series_that_name_their_node(
    prometheus: ManagedProcess,
) -> None:
    seen = [{"__name__": "nginx_ingress_controller_requests", **controller(pod)} for pod in CONTROLLERS]
    pods = set(CONTROLLERS)
    assert unplaced(pods, seen) == pods
    assert nodes_of({}, pods, seen) == {}
    async with source_at(prometheus.url) as source:
        scope = FetchScope(source, ContextSettings(), Window(END - 3600, END, STEP), [])
        found = await placements(pods, scope)
    assert {s["pod"] for s in found} == pods
    assert unplaced(pods, [*seen, *found]) == set()
    assert nodes_of({}, pods, [*seen, *found]) == {node: {ADDRESS[node]} for node in CONTROLLERS.values()}


def test_a_use_whose_limit_changed_is_judged_as_its_share_of_it() -> None:
    def node(metric: str, instance: str, values: list[float]) -> SeriesEvidence:
        return labelled(grid_series(metric, "node-exporter", values), instance=instance)

    lowered = [262144.0] * 100 + [65536.0] * 20
    series = [
        node("node_nf_conntrack_entries", "10.0.1.13:9100", [74000.0] * 100 + [65536.0] * 20),
        node("node_nf_conntrack_entries_limit", "10.0.1.13:9100", lowered),
        node("node_nf_conntrack_entries", "10.0.1.12:9100", [70000.0] * 120),
        node("node_nf_conntrack_entries_limit", "10.0.1.12:9100", [262144.0] * 120),
    ]

    shares, sizes, resized = as_shares_when_resized(series)

    assert sizes == {0: 1.0, 2: 262144.0} and resized == {0: (262144.0, 65536.0)}
    assert shares[0].values is not None
    assert shares[0].values.values[0] == pytest.approx(74000 / 262144) and shares[0].values.values[-1] == 1.0
    assert shares[1:] == series[1:]  # a steady size's use, and the sizes themselves, unchanged


def test_an_alert_that_names_no_component_belongs_to_the_one_its_label_values_pick_out() -> None:
    views = [
        labelled(
            grid_series("nginx_ingress_controller_requests", "ingress-nginx", [1.0] * 120),
            **{**controller(pod), "ingress": ingress, "exported_service": ingress},
        )
        for pod in CONTROLLERS
        for ingress in ("api", "cms")
    ]
    evidence = grid_evidence(views, alertname="IngressHighHttp5xxRatio")
    alert = {"alertname": "IngressHighHttp5xxRatio", "exported_namespace": "web", "ingress": "api"}
    evidence = dataclasses.replace(evidence, alert=dataclasses.replace(evidence.alert, labels=alert))

    assert owner_of_what_fired(evidence, ["api", "cms", "api", "cms"]) == "api"
    assert owner_of_what_fired(evidence, ["api", "cms", "cms", "cms"]) is None  # two own its series


class _SeriesDown:
    """A metric source whose series lookups fail as a Prometheus that is down does."""

    async def series(
        self, matchers: object, start: float, end: float, limit: int | None = None
    ) -> list[object]:
        raise MetricSourceError("unreachable", "connection refused")


async def test_when_the_lookup_of_where_the_pods_run_fails_it_says_so_and_fetches_no_node() -> None:
    fetched = [
        Fetched(
            SeriesData(
                labels={"__name__": "nginx_ingress_controller_requests", **controller(pod)},
                timestamps=np.array([END]),
                values=np.array([1.0]),
            ),
            "related",
            "q",
            "nginx_ingress_controller_requests",
        )
        for pod in CONTROLLERS
    ]
    notes: list[str] = []
    scope = FetchScope(_SeriesDown(), ContextSettings(), Window(END - 3600, END, STEP), notes)  # type: ignore[arg-type]

    assert await _node_series({"ingress": "api", "exported_namespace": "web"}, fetched, scope, []) == []
    assert (
        notes
        and notes[0].startswith("where pods ingress-nginx-controller-6f7d8-2kxqp, ")
        and "unavailable" in notes[0]
    )
