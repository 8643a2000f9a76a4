"""The call graph from mesh and trace metrics: settings, edges, and a real Prometheus end to end."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from analyst.builtin import BuiltinAnalyst
from analyst.builtin.topology import merge_graphs
from analyst.evidence import AlertInfo, Evidence
from analyst.settings import AnalystSettings
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.call_graph import edges_from, ends_queries
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import CallGraphQuery, ContextQuery, ContextSettings
from receiver.evidence.source import SeriesData
from receiver.models import Incident
from tests.evidence.alerts import firing_incident

STEP = 15.0
ALERT_EXPR = 'service_latency_p90_seconds{namespace="shop",service="frontend"} > 0.5'
MESH = {"frontend": ("cart", "checkout"), "checkout": ("payment",)}


def series(labels: dict[str, str], values: list[float]) -> SeriesData:
    return SeriesData(labels, np.arange(len(values), dtype=float), np.array(values))


# --- settings ---------------------------------------------------------------------------------------------


def test_a_preset_fills_the_query_and_both_labels():
    query = CallGraphQuery(preset="istio")

    assert query.query is not None and "istio_requests_total" in query.query
    assert (query.caller_label, query.callee_label) == ("source_workload", "destination_workload")
    assert query.name == "istio"


def test_a_preset_keeps_what_is_set_explicitly():
    query = CallGraphQuery(preset="tempo", query="group by (client, server) (my_graph_total)")

    assert query.query == "group by (client, server) (my_graph_total)"
    assert (query.caller_label, query.callee_label) == ("client", "server")


@pytest.mark.parametrize(
    "fields",
    [{}, {"query": "group by (a, b) (x)"}, {"query": "group by (a, b) (x)", "caller_label": "a"}],
)
def test_a_query_without_a_preset_needs_both_labels(fields: dict[str, str]):
    with pytest.raises(ValidationError, match="caller_label and callee_label"):
        CallGraphQuery(**fields)


@pytest.mark.parametrize("query", [CallGraphQuery, ContextQuery])
def test_a_match_that_is_not_a_regular_expression_is_refused_when_loaded(query: type):
    fields = {"preset": "istio"} if query is CallGraphQuery else {"name": "n", "query": "up"}

    with pytest.raises(ValidationError, match=r"match: 'shop\(' is not a regular expression"):
        query(**fields, match={"namespace": "shop("})


def test_an_excluded_metric_that_is_not_a_regular_expression_is_refused():
    with pytest.raises(ValidationError, match=r"exclude_metrics: '\*_total' is not a regular expression"):
        ContextSettings(exclude_metrics=["*_total"])


def test_an_unknown_preset_is_refused():
    with pytest.raises(ValidationError, match="istio"):
        CallGraphQuery(preset="consul")


# --- edges ------------------------------------------------------------------------------------------------


def test_edges_come_from_the_caller_and_callee_labels():
    results = [
        series({"src": "frontend", "dst": "checkout"}, [1.0, 1.0]),
        series({"src": "frontend", "dst": "cart"}, [math.nan, 1.0]),
        series({"src": "checkout", "dst": "payment"}, [1.0, math.nan]),
    ]

    assert edges_from(results, "src", "dst") == MESH


def test_unknown_peers_self_calls_and_series_without_samples_add_no_edge():
    results = [
        series({"src": "unknown", "dst": "checkout"}, [1.0]),
        series({"src": "frontend", "dst": ""}, [1.0]),
        series({"dst": "checkout"}, [1.0]),
        series({"src": "cart", "dst": "cart"}, [1.0]),
        series({"src": "cart", "dst": "redis"}, [math.nan]),
    ]

    assert edges_from(results, "src", "dst") == {}


def test_graphs_merge_into_their_union():
    union = merge_graphs(
        [{"frontend": ("checkout",)}, {"frontend": ("cart", "checkout"), "checkout": ("payment",)}]
    )

    assert union == MESH


def test_the_analyst_adds_the_configured_graph_to_the_discovered_one(tmp_path: Path):
    graph_file = tmp_path / "graph.yml"
    graph_file.write_text("checkout: [orders-postgres]\nsearch: elasticsearch\n")
    analyst = BuiltinAnalyst(AnalystSettings(dependency_graph_file=str(graph_file)))
    evidence = Evidence(
        incident_id="i",
        alert=AlertInfo(alertname="FrontendSlow", status="firing", labels={}, annotations={}, starts_at=0.0),
        series=(),
        window_start=0.0,
        window_end=1.0,
        topology=MESH,
    )

    topology = analyst.with_configured_topology(evidence).topology

    assert topology == {**MESH, "checkout": ("orders-postgres", "payment"), "search": ("elasticsearch",)}


# --- a real Prometheus ------------------------------------------------------------------------------------


class Mesh:
    """Frontend's latency alert; checkout is slowest, but only because payment, which it calls, is slow."""

    def __init__(self) -> None:
        self.end = math.floor(time.time() / STEP) * STEP - 60
        self.ts = np.arange(self.end - 6 * 3600.0, self.end + STEP, STEP)
        self.cause_at = self.end - 30 * 60
        self.alert_at = self.cause_at + 120

    def latency(self, service: str, level: float, peak: float, seed: int) -> SyntheticSeries:
        values = noisy(self.ts, level, level / 20, seed, steps=[(self.cause_at, peak)])
        return SyntheticSeries(
            "service_latency_p90_seconds", {"namespace": "shop", "service": service}, self.ts, values
        )

    def calls(self, metric: str, labels: dict[str, str]) -> SyntheticSeries:
        counts = np.cumsum(np.full(self.ts.size, 10.0))
        return SyntheticSeries(metric, labels, self.ts, counts, kind="counter")

    def series(self) -> list[SyntheticSeries]:
        istio = [
            self.calls(
                "istio_requests_total",
                {"source_workload": caller, "destination_workload": callee, "response_code": code},
            )
            for caller, callees in MESH.items()
            for callee in callees
            for code in ("200", "503")
        ]
        istio.append(
            self.calls(
                "istio_requests_total",
                {"source_workload": "unknown", "destination_workload": "frontend", "response_code": "200"},
            )
        )
        # the same workloads in `shop-staging`, with a call of their own; payment calls a vault in `infra`
        for caller, callee, ends in (
            ("checkout", "fraud-check", ("shop-staging", "shop-staging")),
            ("payment", "vault", ("shop", "infra")),
        ):
            labels = {"source_workload": caller, "destination_workload": callee, "response_code": "200"}
            namespaces = dict(
                zip(("source_workload_namespace", "destination_workload_namespace"), ends, strict=True)
            )
            istio.append(self.calls("istio_requests_total", labels | namespaces))
        tempo = [self.calls("traces_service_graph_request_total", {"client": "cart", "server": "redis"})]
        return [
            self.latency("frontend", 0.2, 0.9, 1),
            self.latency("checkout", 0.1, 0.8, 2),
            self.latency("payment", 0.05, 0.3, 3),
            self.latency("cart", 0.05, 0.05, 4),
            *istio,
            *tempo,
        ]

    def incident(self) -> Incident:
        labels = {
            "alertname": "FrontendSlow",
            "namespace": "shop",
            "service": "frontend",
            "severity": "critical",
        }
        return firing_incident(self.alert_at, labels, ALERT_EXPR, "inc-mesh")


@pytest.fixture(scope="module")
def mesh() -> Mesh:
    return Mesh()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, mesh: Mesh) -> Iterator[ManagedProcess]:
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("mesh"), mesh.series())
    yield proc
    proc.stop()


def with_graph(*queries: CallGraphQuery) -> ContextSettings:
    return ContextSettings(call_graph=list(queries), detect_external_labels=False)


async def test_the_istio_preset_puts_the_mesh_into_the_evidence(mesh: Mesh, source: PrometheusSource):
    evidence = await collect_alert_context(
        mesh.incident(), source, with_graph(CallGraphQuery(preset="istio")), now=mesh.end
    )

    # staging's own call is another deployment's; the call out of the namespace is this one's
    assert dict(evidence.topology) == {**MESH, "payment": ("vault",)}
    assert "call graph from istio: 4 edges" in evidence.notes


def test_a_presets_edges_keep_one_end_in_the_alerts_namespace():
    istio, linkerd = CallGraphQuery(preset="istio"), CallGraphQuery(preset="linkerd")

    assert ends_queries(str(istio.query), istio.namespace_labels, "shop") == [
        "group by (source_workload, destination_workload) "
        '(istio_requests_total{destination_workload_namespace=~"shop|"})',
        "group by (source_workload, destination_workload) "
        '(istio_requests_total{source_workload_namespace=~"shop|"})',
    ]
    assert ends_queries(str(linkerd.query), linkerd.namespace_labels, None) == [
        'group by (deployment, dst_deployment) (request_total{direction="outbound"})'
    ]
    tempo = CallGraphQuery(preset="tempo")
    assert ends_queries(str(tempo.query), tempo.namespace_labels, "shop") == [str(tempo.query)]


async def test_several_sources_merge_into_one_graph(mesh: Mesh, source: PrometheusSource):
    settings = with_graph(
        CallGraphQuery(preset="istio"), CallGraphQuery(preset="tempo"), CallGraphQuery(preset="linkerd")
    )

    evidence = await collect_alert_context(mesh.incident(), source, settings, now=mesh.end)

    assert dict(evidence.topology) == {**MESH, "cart": ("redis",), "payment": ("vault",)}


async def test_a_query_is_filled_with_the_alert_labels_and_limited_by_match(
    mesh: Mesh, source: PrometheusSource
):
    scoped = CallGraphQuery(
        query="group by (source_workload, destination_workload) "
        '(istio_requests_total{source_workload="{{ $labels.service }}"})',
        caller_label="source_workload",
        callee_label="destination_workload",
    )
    elsewhere = CallGraphQuery(preset="tempo", match={"namespace": "payments-.*"})

    evidence = await collect_alert_context(
        mesh.incident(), source, with_graph(scoped, elsewhere), now=mesh.end
    )

    assert dict(evidence.topology) == {"frontend": MESH["frontend"]}


async def test_a_graph_that_names_none_of_the_components_says_so(mesh: Mesh, source: PrometheusSource):
    renamed = CallGraphQuery(
        query='group by (src, dst) (label_replace(label_replace(istio_requests_total, "src", "k8s-$1", '
        '"source_workload", "(.+)"), "dst", "k8s-$1", "destination_workload", "(.+)"))',
        caller_label="src",
        callee_label="dst",
    )

    evidence = await collect_alert_context(mesh.incident(), source, with_graph(renamed), now=mesh.end)

    assert evidence.topology["k8s-frontend"] == ("k8s-cart", "k8s-checkout")
    assert any(n.startswith("no service of the call graph (k8s-cart, k8s-checkout") for n in evidence.notes)


async def test_a_matching_graph_adds_no_such_note(mesh: Mesh, source: PrometheusSource):
    evidence = await collect_alert_context(
        mesh.incident(), source, with_graph(CallGraphQuery(preset="istio")), now=mesh.end
    )

    assert not any(n.startswith("no service of the call graph") for n in evidence.notes)


async def test_a_failing_graph_query_is_a_note_and_the_evidence_is_still_built(
    mesh: Mesh, source: PrometheusSource
):
    broken = CallGraphQuery(query="group by (a, b) (", caller_label="a", callee_label="b")
    missing_label = CallGraphQuery(query='x{team="{{ $labels.team }}"}', caller_label="a", callee_label="b")

    evidence = await collect_alert_context(
        mesh.incident(), source, with_graph(broken, missing_label), now=mesh.end
    )

    assert dict(evidence.topology) == {}
    assert any(n.startswith("call graph 'group by (a, b) (' unavailable (bad_query") for n in evidence.notes)
    assert not any(n.startswith("call graph from") for n in evidence.notes)
    assert any("skipped: the alert has no label 'team'" in n for n in evidence.notes)
    assert any(s.metric == "service_latency_p90_seconds" and s.anomalous for s in evidence.series)


async def test_with_the_discovered_graph_the_analyst_blames_the_callee(mesh: Mesh, source: PrometheusSource):
    analyst = BuiltinAnalyst()
    plain = await collect_alert_context(mesh.incident(), source, with_graph(), now=mesh.end)
    meshed = await collect_alert_context(
        mesh.incident(), source, with_graph(CallGraphQuery(preset="istio")), now=mesh.end
    )

    without = (await analyst.diagnose(plain)).primary_hypothesis
    with_mesh = (await analyst.diagnose(meshed)).primary_hypothesis

    assert without.suspect == "checkout"
    assert with_mesh.suspect == "payment"
    assert with_mesh.category == "dependency.service"
