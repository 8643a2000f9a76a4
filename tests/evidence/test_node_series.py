"""A full conntrack table on the node a market-data feed runs on made the feed lag. node_exporter's series
carry its own scrape labels (`namespace="monitoring"`, `instance` = the node's address) and nothing of the
pods on the node, so no lookup by the alert's labels reached them: the evidence held no `node_*` series
and the diagnosis blamed something else. The kubelet's series name the pod's node under the node's
address; that node's node_exporter series are now fetched. Through a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from analyst.builtin.topology import address_host
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.fetching import Fetched
from receiver.evidence.nodes import alert_pods, node_selectors, nodes_of
from receiver.evidence.settings import ContextSettings
from receiver.evidence.source import SeriesData
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
END = math.floor(time.time() / STEP) * STEP - 120
EXPR = 'max by (namespace, service, venue) (marketdata_feed_lag_seconds{feed="l2book"}) > 1'
FEED_POD = "md-feed-6f8b9c7d5-tt2kp"
PRICING_POD = "pricing-7f6d5c4b3-p4d7s"
KSM = {"job": "kube-state-metrics", "namespace": "trading", "instance": "10.42.1.3:8080"}
NODE_EXPORTER = {"job": "node-exporter", "namespace": "monitoring", "service": "node-exporter"}
LIMIT = 262144.0
DB_POD = "catalog-db-0"
DB = {"namespace": "trading", "service": "catalog-db", "pod": DB_POD, "container": "postgres-exporter"}
VOLUME = {"instance": "10.0.1.11:9100", "mountpoint": "/mnt/disks/ssd0", "device": "/dev/nvme1n1"}


def kubelet(pod: str, node: str, address: str) -> dict[str, str]:
    return {
        "job": "kubelet",
        "namespace": "trading",
        "pod": pod,
        "node": node,
        "instance": f"{address}:10250",
    }


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    full = np.clip(noisy(ts, 40000, 800, 0) + np.clip((ts - (END - 900)) / 300, 0, 1) * 240000, 0, LIMIT)
    filling = np.clip(
        4e10 - np.clip((ts - (END - 2400)) / 2100, 0, 1) * 4.02e10 + noisy(ts, 0, 1e7, 8), 0, None
    )
    feed = {
        "namespace": "trading",
        "service": "md-feed",
        "pod": FEED_POD,
        "venue": "binance",
        "feed": "l2book",
    }
    series = [
        SyntheticSeries(
            "marketdata_feed_lag_seconds", feed, ts, noisy(ts, 0.05, 0.01, 1, steps=[(END - 540, 2.5)])
        ),
        SyntheticSeries(
            "container_memory_working_set_bytes",
            kubelet(FEED_POD, "ip-10-0-1-13", "10.0.1.13"),
            ts,
            noisy(ts, 4e8, 5e6, 2),
        ),
        SyntheticSeries(
            "container_memory_working_set_bytes",
            kubelet(PRICING_POD, "ip-10-0-1-12", "10.0.1.12"),
            ts,
            noisy(ts, 4e8, 5e6, 3),
        ),
        # kube-state-metrics reports every node's pods under its own address: that address names no node
        SyntheticSeries(
            "kube_pod_info", {**KSM, "pod": FEED_POD, "node": "ip-10-0-1-13"}, ts, np.ones(ts.size)
        ),
        SyntheticSeries(
            "kube_pod_info", {**KSM, "pod": PRICING_POD, "node": "ip-10-0-1-12"}, ts, np.ones(ts.size)
        ),
        SyntheticSeries(
            "node_nf_conntrack_entries", {**NODE_EXPORTER, "instance": "10.0.1.13:9100"}, ts, full
        ),
        SyntheticSeries(
            "node_nf_conntrack_entries_limit",
            {**NODE_EXPORTER, "instance": "10.0.1.13:9100"},
            ts,
            np.full(ts.size, LIMIT),
        ),
        SyntheticSeries(
            "node_nf_conntrack_entries",
            {**NODE_EXPORTER, "instance": "10.0.1.12:9100"},
            ts,
            noisy(ts, 40000, 800, 4),
        ),
        SyntheticSeries(
            "node_load1", {**NODE_EXPORTER, "instance": "10.42.1.3:9100"}, ts, noisy(ts, 1, 0.1, 5)
        ),
        # a database whose data volume on its node fills up: its exporter is a sidecar in its pod
        SyntheticSeries("pg_database_size_bytes", {**DB, "datname": "catalog"}, ts, noisy(ts, 5e9, 1e6, 6)),
        SyntheticSeries(
            "container_memory_working_set_bytes",
            kubelet(DB_POD, "ip-10-0-1-11", "10.0.1.11"),
            ts,
            noisy(ts, 4e8, 5e6, 7),
        ),
        SyntheticSeries("node_filesystem_avail_bytes", {**NODE_EXPORTER, **VOLUME}, ts, filling),
        SyntheticSeries(
            "node_filesystem_size_bytes", {**NODE_EXPORTER, **VOLUME}, ts, np.full(ts.size, 2e11)
        ),
    ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("node-series"), series)
    yield proc
    proc.stop()


def incident_on_the_feed():  # type: ignore[no-untyped-def]
    labels = {
        "alertname": "MarketDataFeedLagging",
        "severity": "critical",
        "namespace": "trading",
        "service": "md-feed",
        "venue": "binance",
    }
    return firing_incident(END - 300, labels, EXPR)


async def test_the_node_a_lagging_feed_runs_on_is_in_its_evidence_and_its_full_conntrack_is_the_cause(
    prometheus: ManagedProcess,
) -> None:
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(incident_on_the_feed(), source, ContextSettings(), now=END)
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis

    node_series = {s.labels.get("instance"): s for s in evidence.series if s.metric.startswith("node_")}
    assert set(node_series) == {"10.0.1.13:9100"}, node_series  # not the other node's, not KSM's address
    assert all(s.component == "ip-10-0-1-13" for s in evidence.series if s.metric.startswith("node_"))
    assert primary.suspect.startswith("node_nf_conntrack_entries{"), primary
    assert "ip-10-0-1-13" in primary.title, primary


async def test_no_node_series_when_the_lookup_is_off(prometheus: ManagedProcess) -> None:
    settings = ContextSettings(max_node_series=0)
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(incident_on_the_feed(), source, settings, now=END)
    assert not [s for s in evidence.series if s.metric.startswith("node_")]


def fetched(labels: dict[str, str]) -> Fetched:
    data = SeriesData(labels=labels, timestamps=np.array([0.0]), values=np.array([1.0]))
    return Fetched(data, "related", "q", labels.get("__name__", "m"))


def test_the_nodes_of_an_alert_are_those_its_pods_run_on_with_the_addresses_that_name_them_alone() -> None:
    found = [
        {"__name__": "lag", "service": "md-feed", "pod": FEED_POD},
        {"__name__": "mem", **kubelet(FEED_POD, "ip-10-0-1-13", "10.0.1.13")},
        {"__name__": "mem", **kubelet(PRICING_POD, "ip-10-0-1-12", "10.0.1.12")},
        {"__name__": "kube_pod_info", **KSM, "pod": FEED_POD, "node": "ip-10-0-1-13"},
        {"__name__": "kube_pod_info", **KSM, "pod": PRICING_POD, "node": "ip-10-0-1-12"},
    ]
    labels = {"service": "md-feed", "namespace": "trading"}
    pods = alert_pods(labels, ["service", "pod", "instance"], found)
    assert pods == {FEED_POD}
    assert nodes_of(labels, pods, found) == {"ip-10-0-1-13": {"10.0.1.13"}}
    # an alert on a node (a host alert) has its node whatever its pods
    assert nodes_of({"node": "ip-10-0-1-11"}, set(), []) == {"ip-10-0-1-11": set()}


def test_node_selectors_match_a_node_label_or_its_name_or_address_with_any_port() -> None:
    selectors = node_selectors("ip-10-0-1-13", {"10.0.1.13"})
    assert '{__name__=~"node_.+",node="ip-10-0-1-13"}' in selectors
    assert (
        selectors[-1]
        == '{__name__=~"node_.+",instance=~"(10\\\\.0\\\\.1\\\\.13|ip\\\\-10\\\\-0\\\\-1\\\\-13)(:[0-9]+)?"}'
    )
    assert address_host("10.0.1.13:9100") == "10.0.1.13" and address_host("[::1]:9100") == "[::1]"
    assert address_host("ip-10-0-1-13") == "ip-10-0-1-13"
    assert address_host("https://api.psp.example:8443/v1/health") == "api.psp.example"


async def test_an_alert_on_a_database_by_name_reaches_the_volume_of_the_node_its_pod_runs_on(
    prometheus: ManagedProcess,
) -> None:
    """awesome-prometheus-alerts' rollback-rate rule sums `by (namespace, datname)`: no component label.
    The database's own series carry its `datname` and its pod; that pod's node's volume filled. Before, no
    node was looked up, and a volume's available bytes had no size to be judged against."""
    labels = {
        "alertname": "PostgresqlHighRollbackRate",
        "severity": "warning",
        "namespace": "trading",
        "datname": "catalog",
    }
    expr = "sum by (namespace, datname) (rate(pg_stat_database_xact_rollback[3m])) > 0.02"
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(
            firing_incident(END - 300, labels, expr), source, ContextSettings(), now=END
        )
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis

    assert primary.suspect.startswith("node_filesystem_avail_bytes{"), primary
    assert primary.category.value == "resource.disk", primary
    assert any("100% of its limit in use" in line for line in primary.supporting_evidence), primary
