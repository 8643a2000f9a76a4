"""Per-call latency from a mesh, as each side of the call measured it: settings, series, and a real
Prometheus end to end (Istio's duration histograms, backfilled)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import cast

import numpy as np
import pytest
from pydantic import ValidationError

from analyst.builtin import BuiltinAnalyst
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.call_latency import Where, call_series, fetch_call_latency, scoped_queries
from receiver.evidence.context import collect_alert_context
from receiver.evidence.fetching import FetchScope, Window
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import CallLatencyQuery, CallLatencySpec, ContextSettings
from receiver.evidence.source import MetricSource, SeriesData
from receiver.models import Incident
from tests.evidence.alerts import firing_incident

STEP = 15.0
ISTIO = "istio_request_duration_milliseconds"

# --- settings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "caller", "callee"),
    [("istio", "source_workload", "destination_workload"), ("tempo", "client", "server")],
)
def test_a_preset_reads_both_sides_of_each_call(preset: str, caller: str, callee: str):
    specs = CallLatencyQuery(preset=preset).specs()

    assert [s.measured_by for s in specs] == ["caller", "callee"]
    assert all((s.caller_label, s.callee_label) == (caller, callee) for s in specs)
    assert all("{{ $rate_window }}" in s.query and s.counter for s in specs)


def test_linkerds_inbound_side_names_no_caller():
    caller_side, callee_side = CallLatencyQuery(preset="linkerd").specs()

    assert (caller_side.caller_label, caller_side.callee_label) == ("deployment", "dst_deployment")
    assert 'direction="outbound"' in caller_side.query
    assert (callee_side.caller_label, callee_side.callee_label) == (None, "deployment")
    assert 'direction="inbound"' in callee_side.query


def test_a_preset_can_be_limited_to_one_side():
    (spec,) = CallLatencyQuery(preset="istio", measured_by="callee").specs()

    assert spec.measured_by == "callee" and 'reporter="destination"' in spec.query


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "query, callee_label and measured_by"),
        ({"query": "x", "callee_label": "dst"}, "query, callee_label and measured_by"),
        ({"query": "x", "callee_label": "dst", "measured_by": "caller"}, "needs caller_label"),
        ({"query": "x", "callee_label": "dst", "measured_by": "server"}, "'caller' or 'callee'"),
    ],
)
def test_a_query_without_a_preset_must_say_what_it_measures(fields: dict[str, str], message: str):
    with pytest.raises(ValidationError, match=message):
        CallLatencyQuery(**fields)


def test_a_presets_query_labels_or_counter_must_name_the_side_they_replace():
    with pytest.raises(ValidationError, match="set measured_by"):
        CallLatencyQuery(preset="istio", query="x")
    with pytest.raises(ValidationError, match="set measured_by"):
        CallLatencyQuery(preset="linkerd", caller_label="src")

    (spec,) = CallLatencyQuery(preset="istio", measured_by="caller", counter="my_count").specs()
    assert spec.counter == "my_count" and 'reporter="source"' in spec.query


def test_every_preset_gives_seconds():
    specs = [
        spec for preset in ("istio", "linkerd", "tempo") for spec in CallLatencyQuery(preset=preset).specs()
    ]

    assert all(
        spec.query.endswith(") / 1000")
        for spec in specs
        if "_ms" in spec.query or "milliseconds" in spec.query
    )
    assert all("/ 1000" not in spec.query for spec in specs if "_seconds" in spec.query)


class Recording:
    """A metric source that records the queries it is asked and answers none."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        self.queries.append(query)
        return []


async def _asked(components: set[str]) -> tuple[list[str], list[str]]:
    source = Recording()
    notes: list[str] = []
    scope = FetchScope(cast(MetricSource, source), ContextSettings(), Window(0.0, 7200.0, 15.0), notes)
    await fetch_call_latency({}, scope, [CallLatencyQuery(preset="istio")], components)
    return source.queries, notes


async def test_the_scrape_interval_probe_reads_only_the_incidents_calls_once():
    queries, notes = await _asked({"cart"})

    probes = [q for q in queries if q.startswith("count_over_time(")]
    assert probes == [f'count_over_time({ISTIO}_count{{destination_workload=~"cart"}}[7200s])']
    assert len(queries) == 1 + 4  # each side: calls to cart, and cart's calls to others
    assert "call latency 'istio (callee)': no series of this incident's calls" in notes


async def test_without_components_a_preset_asks_nothing():
    queries, notes = await _asked(set())

    assert queries == []
    assert "call latency 'istio (caller)': no series of this incident's calls" in notes


# --- series -----------------------------------------------------------------------------------------------


def _data(labels: dict[str, str]) -> SeriesData:
    return SeriesData(labels, np.arange(3.0), np.ones(3))


def test_a_result_series_becomes_its_callees_call_latency():
    spec = CallLatencyQuery(preset="istio", measured_by="caller").specs()[0]

    fetched = call_series(
        _data({"source_workload": "checkout", "destination_workload": "payment"}), spec, "q"
    )

    assert fetched is not None
    assert fetched.component == "payment"
    assert dict(fetched.data.labels) == {
        "__name__": "call_latency",
        "callee": "payment",
        "caller": "checkout",
        "measured_by": "caller",
    }


@pytest.mark.parametrize(
    "labels",
    [
        {"source_workload": "unknown", "destination_workload": "payment"},
        {"source_workload": "cart-api", "destination_workload": "cart-api"},
        {"source_workload": "cart-api"},
    ],
)
def test_unknown_peers_and_self_calls_are_dropped(labels: dict[str, str]):
    spec = CallLatencyQuery(preset="istio").specs()[0]

    assert call_series(_data(labels), spec, "q") is None


def test_a_callee_side_without_a_caller_label_keeps_the_callee():
    spec = CallLatencySpec("inbound", "q", None, "deployment", "callee", None)

    fetched = call_series(_data({"deployment": "payment"}), spec, "q")

    assert fetched is not None and "caller" not in fetched.data.labels and fetched.component == "payment"


def test_calls_fills_in_the_calls_to_the_components_and_from_them_to_others():
    caller_side, _ = CallLatencyQuery(preset="istio").specs()

    to, away = scoped_queries('x{reporter="source",{{ $calls }}}', caller_side, Where({"cart", "check-out"}))

    assert to == r'x{reporter="source",destination_workload=~"cart|check\\-out"}'
    assert away == (
        r'x{reporter="source",source_workload=~"cart|check\\-out",destination_workload!~"cart|check\\-out"}'
    )
    assert scoped_queries("x{{{ $calls }}}", caller_side, Where(set())) == []
    assert scoped_queries("x", caller_side, Where(set())) == ["x"]


def test_the_incidents_end_of_its_calls_stays_in_its_namespace():
    caller_side, _ = CallLatencyQuery(preset="istio").specs()

    to, away = scoped_queries("x{{{ $calls }}}", caller_side, Where({"cart"}, "shop-prod"))

    # the components' end in the namespace (or not labelled with one); the other end anywhere
    assert to == r'x{destination_workload=~"cart",destination_workload_namespace=~"shop\\-prod|"}'
    assert away == (
        r'x{source_workload=~"cart",source_workload_namespace=~"shop\\-prod|",destination_workload!~"cart"}'
    )


def test_a_side_that_names_no_caller_asks_once():
    _, inbound = CallLatencyQuery(preset="linkerd").specs()

    assert scoped_queries("x{{{ $calls }}}", inbound, Where({"cart"})) == ['x{deployment=~"cart"}']
    assert scoped_queries("x{{{ $calls }}}", inbound, Where({"cart"}, "shop")) == [
        'x{deployment=~"cart",namespace=~"shop|"}'
    ]


# --- a real Prometheus ------------------------------------------------------------------------------------


class Shop:
    """Frontend -> checkout -> payment, and frontend -> cart-api, behind Istio sidecars. In namespace `shop`
    the calls from checkout to payment slow down on the way (payment's own proxy sees nothing new); in
    `bank` (web -> orders -> ledger) the callee itself slows down, as both sides see. `shop-staging` runs
    the same workloads, and there payment itself slows down, ten times as much, at the same time."""

    def __init__(self) -> None:
        self.end = math.floor(time.time() / STEP) * STEP - 60
        self.ts = np.arange(self.end - 4 * 3600.0, self.end + STEP, STEP)
        self.cause_at = self.end - 30 * 60
        self.alert_at = self.cause_at + 120

    def gauge(self, namespace: str, service: str, level: float, peak: float, seed: int) -> SyntheticSeries:
        values = noisy(self.ts, level, level / 20, seed, steps=[(self.cause_at, peak)])
        labels = {"namespace": namespace, "service": service}
        return SyntheticSeries("service_latency_p90_seconds", labels, self.ts, values)

    def calls(
        self, caller: str, callee: str, reporter: str, ms: float, peak: float, seed: int
    ) -> list[SyntheticSeries]:
        """Istio's duration histogram of one side of a call (`histogram`)."""
        labels = {"reporter": reporter, "source_workload": caller, "destination_workload": callee}
        return self.histogram(ISTIO, labels, ms, peak, seed)

    def both_sides(
        self, caller: str, callee: str, ms: float, outside: float, inside: float, seed: int
    ) -> list[SyntheticSeries]:
        return [
            *self.calls(caller, callee, "source", ms + 5, outside, seed),
            *self.calls(caller, callee, "destination", ms, inside, seed + 1),
        ]

    def histogram(
        self, metric: str, labels: dict[str, str], ms: float, peak: float, seed: int
    ) -> list[SyntheticSeries]:
        """A latency histogram's `_sum` and `_count` (10 calls a scrape at `ms`, from the cause `peak`)."""
        latency = np.maximum(noisy(self.ts, ms, ms / 20, seed, steps=[(self.cause_at, peak)]), ms / 10)
        count = np.cumsum(np.full(self.ts.size, 10.0))
        return [
            SyntheticSeries(f"{metric}_count", labels, self.ts, count),
            SyntheticSeries(f"{metric}_sum", labels, self.ts, np.cumsum(10.0 * latency)),
        ]

    def other_meshes(self) -> list[SyntheticSeries]:
        """The same delay on the way (api -> db) as Tempo's service graph and as Linkerd's proxies see it,
        in namespaces `traced` and `linked`."""
        graph = "traces_service_graph_request"
        return [
            self.gauge("traced", "api", 0.2, 0.9, 8),
            self.gauge("traced", "db", 0.02, 0.02, 9),
            *self.histogram(f"{graph}_client_seconds", {"client": "api", "server": "db"}, 0.02, 0.6, 60),
            *self.histogram(f"{graph}_server_seconds", {"client": "api", "server": "db"}, 0.015, 0.015, 61),
            self.gauge("linked", "web-api", 0.2, 0.9, 10),
            self.gauge("linked", "store", 0.02, 0.02, 11),
            *self.linkerd_delay("web-api", "store", 70),
            # `vault` has no series in `vaulted` but Linkerd's: the inbound side is asked about it too
            self.gauge("vaulted", "teller", 0.2, 0.9, 13),
            *self.linkerd_delay("teller", "vault", 72),
        ]

    def linkerd_delay(self, caller: str, callee: str, seed: int) -> list[SyntheticSeries]:
        """Linkerd's view of a call slowed down on the way: the caller's (outbound) proxy sees 20 -> 600 ms,
        the callee's (inbound, which names no caller) a steady 15 ms."""
        linkerd = "response_latency_ms"
        outbound = {"direction": "outbound", "deployment": caller, "dst_deployment": callee}
        return [
            *self.histogram(linkerd, outbound, 20, 600, seed),
            *self.histogram(linkerd, {"direction": "inbound", "deployment": callee}, 15, 15, seed + 1),
        ]

    def scraped_mesh(self) -> list[SyntheticSeries]:
        """Istio's histograms as a kubernetes-pods scrape labels them: with the reporting proxy's
        `namespace` and `pod`, so they are related series of an alert in `pods`. web -> api -> store; store
        is slow (its own proxy sees it), and api's proxy sees its calls to store slower still."""
        out = [self.gauge("pods", "web", 0.2, 0.9, 12)]
        pods = {
            "web": "web-7d9c8b6f5d-x2k4p",
            "api": "api-6b7c9d8f5-m4n8r",
            "store": "store-5d9f8b6c5d-q7zt2",
        }
        for caller, callee, ms, inside, outside, seed in (
            ("web", "api", 100, 700, 720, 80),
            ("api", "store", 20, 400, 650, 90),
        ):
            for reporter, peak, pod in (
                ("source", outside, pods[caller]),
                ("destination", inside, pods[callee]),
            ):
                labels = {
                    "namespace": "pods",
                    "pod": pod,
                    "reporter": reporter,
                    "source_workload": caller,
                    "destination_workload": callee,
                }
                out += self.histogram(
                    ISTIO, labels, ms + 5 * (reporter == "source"), peak, seed + len(reporter)
                )
        return out

    def staging(self) -> list[SyntheticSeries]:
        """`shop`'s twin in `shop-staging`: its sidecars label each call with both ends' namespaces."""
        out = [
            self.gauge("shop-staging", "frontend", 0.2, 3.0, 14),
            self.gauge("shop-staging", "checkout", 0.1, 2.9, 15),
            self.gauge("shop-staging", "payment", 0.02, 2.8, 16),
        ]
        ends = {"source_workload_namespace": "shop-staging", "destination_workload_namespace": "shop-staging"}
        for caller, callee, seed in (("frontend", "checkout", 100), ("checkout", "payment", 110)):
            for reporter, ms in (("source", 25), ("destination", 20)):
                labels = {"reporter": reporter, "source_workload": caller, "destination_workload": callee}
                out += self.histogram(ISTIO, labels | ends, ms, 6000, seed + len(reporter))
        return out

    def series(self) -> list[SyntheticSeries]:
        return [
            *self.staging(),
            *self.scraped_mesh(),
            *self.other_meshes(),
            self.gauge("shop", "frontend", 0.2, 0.9, 1),
            self.gauge("shop", "checkout", 0.1, 0.7, 2),
            self.gauge("shop", "payment", 0.02, 0.02, 3),
            self.gauge("shop", "cart-api", 0.01, 0.01, 4),
            *self.both_sides("frontend", "checkout", 100, 700, 690, 10),
            *self.both_sides("checkout", "payment", 20, 600, 20, 20),
            *self.both_sides("frontend", "cart-api", 10, 10, 10, 30),
            self.gauge("bank", "web", 0.2, 0.9, 5),
            self.gauge("bank", "orders", 0.1, 0.7, 6),
            self.gauge("bank", "ledger", 0.02, 0.02, 7),
            *self.both_sides("web", "orders", 100, 700, 690, 40),
            *self.both_sides("orders", "ledger", 20, 600, 590, 50),
        ]

    def incident(self, namespace: str, service: str) -> Incident:
        labels = {"alertname": "Slow", "namespace": namespace, "service": service, "severity": "critical"}
        expr = f'service_latency_p90_seconds{{namespace="{namespace}",service="{service}"}} > 0.5'
        return firing_incident(self.alert_at, labels, expr, f"inc-{namespace}")


@pytest.fixture(scope="module")
def shop() -> Shop:
    return Shop()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, shop: Shop) -> Iterator[ManagedProcess]:
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("calls"), shop.series())
    yield proc
    proc.stop()


def with_calls(*queries: CallLatencyQuery) -> ContextSettings:
    return ContextSettings(call_latency=list(queries), detect_external_labels=False)


async def test_the_istio_preset_adds_each_calls_latency_from_both_sides(shop: Shop, source: PrometheusSource):
    evidence = await collect_alert_context(
        shop.incident("shop", "frontend"), source, with_calls(CallLatencyQuery(preset="istio")), now=shop.end
    )

    calls = {
        (s.labels["caller"], s.labels["callee"], s.labels["measured_by"]): s
        for s in evidence.series
        if s.metric == "call_latency"
    }
    outside, inside = calls["checkout", "payment", "caller"], calls["checkout", "payment", "callee"]
    assert outside.component == inside.component == "payment"
    # Istio's milliseconds in seconds, the mean over the rate window
    assert outside.current is not None and 0.45 < outside.current < 0.75
    assert inside.current is not None and 0.01 < inside.current < 0.04
    assert "[60s]" in outside.query  # 2.5 scrape intervals of 15 s, at least 60 s
    # bank's calls touch none of this incident's components (the preset's `{{ $calls }}` leaves them in
    # Prometheus); the others join the call graph
    assert "call latency from istio (caller), istio (callee): 6 series" in evidence.notes
    assert dict(evidence.topology) == {"checkout": ("payment",), "frontend": ("cart-api", "checkout")}


async def test_a_same_named_deployment_in_another_namespace_is_left_out(shop: Shop, source: PrometheusSource):
    evidence = await collect_alert_context(
        shop.incident("shop", "frontend"), source, with_calls(CallLatencyQuery(preset="istio")), now=shop.end
    )

    # staging's frontend shares the alert's `service` label, but not its namespace
    assert all(s.labels.get("namespace") in (None, "shop") for s in evidence.series)
    # its calls carry their ends' namespaces: payment's own view is shop's alone (staging's took 6 s)
    inside = next(
        s
        for s in evidence.series
        if s.metric == "call_latency"
        and s.labels["callee"] == "payment"
        and s.labels["measured_by"] == "callee"
    )
    assert inside.current is not None and inside.current < 0.04
    assert all("shop-staging" not in s.query for s in evidence.series)


async def test_the_expressions_series_in_another_namespace_are_not_peers(
    shop: Shop, source: PrometheusSource
):
    labels = {"alertname": "Slow", "namespace": "shop", "service": "frontend", "severity": "critical"}
    expr = 'service_latency_p90_seconds{service="frontend"} > 0.5'  # the rule does not say which namespace
    incident = firing_incident(shop.alert_at, labels, expr, "inc-unscoped")

    evidence = await collect_alert_context(incident, source, with_calls(), now=shop.end)

    assert {s.labels.get("namespace") for s in evidence.series} <= {"shop", None}
    assert "left out 1 series of the expression in another namespace" in evidence.notes


async def test_a_query_that_does_not_say_which_calls_is_filtered_after_the_fetch(
    shop: Shop, source: PrometheusSource
):
    everything = CallLatencyQuery(
        query=f'sum by (source_workload, destination_workload) (rate({ISTIO}_sum{{reporter="source"}}[1m]))'
        f' / sum by (source_workload, destination_workload) (rate({ISTIO}_count{{reporter="source"}}[1m]))',
        caller_label="source_workload",
        callee_label="destination_workload",
        measured_by="caller",
    )

    evidence = await collect_alert_context(
        shop.incident("shop", "frontend"), source, with_calls(everything), now=shop.end
    )

    # five calls in all (`pods` has two more): those of `shop` are kept
    assert "call latency: kept the 3 of 7 series to or from this incident's components" in evidence.notes
    assert {s.labels["callee"] for s in evidence.series if s.metric == "call_latency"} == {
        "cart-api",
        "checkout",
        "payment",
    }


async def test_time_lost_on_the_way_to_a_callee_names_the_callee_and_the_network(
    shop: Shop, source: PrometheusSource
):
    analyst = BuiltinAnalyst()
    incident = shop.incident("shop", "frontend")
    plain = await collect_alert_context(incident, source, with_calls(), now=shop.end)
    meshed = await collect_alert_context(
        incident, source, with_calls(CallLatencyQuery(preset="istio")), now=shop.end
    )

    without = (await analyst.diagnose(plain)).primary_hypothesis
    with_mesh = (await analyst.diagnose(meshed)).primary_hypothesis

    assert without.suspect != "payment"  # payment's own latency never moved
    assert (with_mesh.suspect, with_mesh.category) == ("payment", "network")


@pytest.mark.parametrize(
    ("preset", "namespace", "caller", "callee"),
    [
        ("tempo", "traced", "api", "db"),
        ("linkerd", "linked", "web-api", "store"),
        ("linkerd", "vaulted", "teller", "vault"),  # a callee outside the incident's components
    ],
)
async def test_the_tempo_and_linkerd_presets_tell_a_delay_on_the_way(
    shop: Shop, source: PrometheusSource, preset: str, namespace: str, caller: str, callee: str
):
    evidence = await collect_alert_context(
        shop.incident(namespace, caller), source, with_calls(CallLatencyQuery(preset=preset)), now=shop.end
    )

    sides = {s.labels["measured_by"]: s for s in evidence.series if s.metric == "call_latency"}
    assert set(sides) == {"caller", "callee"} and sides["callee"].component == callee
    assert dict(evidence.topology) == {caller: (callee,)}
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis
    assert (primary.suspect, primary.category) == (callee, "network")


async def test_a_mesh_scraped_with_its_proxies_pods_blames_the_callee_not_the_caller_that_waits(
    shop: Shop, source: PrometheusSource
):
    # no call_latency: the histograms are related series of the alert, each under the reporting pod
    evidence = await collect_alert_context(shop.incident("pods", "web"), source, with_calls(), now=shop.end)

    means = {
        (s.labels["pod"].split("-")[0], s.labels["reporter"]): s
        for s in evidence.series
        if s.metric == f"{ISTIO}:mean"
    }
    assert set(means) == {
        ("web", "source"),
        ("api", "destination"),
        ("api", "source"),
        ("store", "destination"),
    }
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis
    # store's own proxy (its pod) and its callers' view (the workload they call) are one component
    assert primary.suspect == "store", primary
    assert "store" in {s.component for s in evidence.series if s.labels.get("pod", "").startswith("store-")}


async def test_a_callee_slow_on_both_sides_is_a_failing_dependency(shop: Shop, source: PrometheusSource):
    evidence = await collect_alert_context(
        shop.incident("bank", "web"), source, with_calls(CallLatencyQuery(preset="istio")), now=shop.end
    )

    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis

    assert (primary.suspect, primary.category) == ("ledger", "dependency.service")


async def test_a_failing_call_latency_query_is_a_note_and_the_evidence_is_still_built(
    shop: Shop, source: PrometheusSource
):
    broken = CallLatencyQuery(query="sum by (a) (", callee_label="a", measured_by="callee")
    missing = CallLatencyQuery(query='x{team="{{ $labels.team }}"}', callee_label="a", measured_by="callee")

    evidence = await collect_alert_context(
        shop.incident("shop", "frontend"), source, with_calls(broken, missing), now=shop.end
    )

    assert any(n.startswith("call latency 'sum by (a) (' unavailable (bad_query") for n in evidence.notes)
    assert any("skipped: the alert has no label 'team'" in n for n in evidence.notes)
    assert not any(s.metric == "call_latency" for s in evidence.series)
    assert any(s.metric == "service_latency_p90_seconds" and s.anomalous for s in evidence.series)
