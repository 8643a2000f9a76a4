"""An alert aggregated to no label (awesome-prometheus-alerts' ClickhouseZookeeperConnectionIssues:
`avg(ClickHouseMetrics_ZooKeeperSession) != 1`) carries nothing to look related series up by: its evidence
was its own series alone and its diagnosis restated it. The few series its expression selects are what
fired; their labels are now looked up. Through a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from analyst.evidence import Evidence
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.promql import selected_metrics
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
END = math.floor(time.time() / STEP) * STEP - 120
LOST = END - 600
CLICKHOUSE = {"namespace": "data", "job": "clickhouse"}
NODES = 12  # more than context.max_peer_series


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    series = []
    for i in range(2):
        pod = {**CLICKHOUSE, "pod": f"chi-events-main-0-{i}-0", "instance": f"10.46.{i + 1}.100:9363"}
        series += [
            SyntheticSeries("zookeeper_session", pod, ts, np.where(ts >= LOST, 0.0, 1.0)),
            SyntheticSeries(
                "replicas_max_queue_size", pod, ts, noisy(ts, 1, 0.3, i, steps=[(LOST + 60, 25.0)])
            ),
            SyntheticSeries("memory_resident_bytes", pod, ts, noisy(ts, 4e9, 2e7, 10 + i)),
        ]
    # another namespace's service, busy at the same time: nothing to do with the alert
    web = {"namespace": "shop", "job": "web", "pod": "web-6d8f7c9b5-x2kqp"}
    series.append(SyntheticSeries("web_queue_size", web, ts, noisy(ts, 5, 1, 20, steps=[(LOST, 80.0)])))
    for i in range(NODES):
        node = {"job": "node", "instance": f"10.0.0.{i}:9100"}
        series.append(SyntheticSeries("node_up", node, ts, np.where((ts >= LOST) & (i < 4), 0.0, 1.0)))
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("unlabelled"), series)
    yield proc
    proc.stop()


async def unlabelled_evidence(prometheus: ManagedProcess, alertname: str, expr: str) -> Evidence:
    """The evidence of an `alertname` alert with no label but its severity, on `expr`."""
    incident = firing_incident(LOST + 180, {"alertname": alertname, "severity": "warning"}, expr)
    async with source_at(prometheus.url) as source:
        return await collect_alert_context(incident, source, ContextSettings(), now=END)


async def test_an_alert_aggregated_to_no_label_is_about_the_few_series_its_expression_selects(
    prometheus: ManagedProcess,
) -> None:
    evidence = await unlabelled_evidence(
        prometheus, "ClickhouseZookeeperConnectionIssues", "avg(zookeeper_session) != 1"
    )
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis

    assert any(
        "those of the 2 series its expression selects (zookeeper_session)" in n for n in evidence.notes
    )
    queues = {s.labels.get("pod") for s in evidence.series if s.metric == "replicas_max_queue_size"}
    assert queues == {"chi-events-main-0-0-0", "chi-events-main-0-1-0"}
    assert not [s for s in evidence.series if s.labels.get("namespace") == "shop"]
    assert "replicas_max_queue_size" in primary.suspect or any(
        line.startswith("replicas_max_queue_size{") for line in primary.supporting_evidence
    ), primary


async def test_an_alert_aggregated_over_a_fleet_is_not_read_as_about_ten_of_its_members(
    prometheus: ManagedProcess,
) -> None:
    evidence = await unlabelled_evidence(prometheus, "NodesDown", "count(node_up == 0) > 3")
    assert any("selects more than 10 series" in n for n in evidence.notes), evidence.notes
    assert all(s.role == "alert" for s in evidence.series if s.available)


def test_the_metrics_an_expression_selects_by_name() -> None:
    assert selected_metrics("avg(ClickHouseMetrics_ZooKeeperSession) != 1") == [
        "ClickHouseMetrics_ZooKeeperSession"
    ]
    assert selected_metrics(
        'sum by (namespace) (rate(http_requests_total{code=~"5.."}[5m] offset 1h)) / on (namespace) '
        "group_left sum by (namespace) (rate(http_requests_total[5m])) > bool 0.05"
    ) == ["http_requests_total"]
    assert selected_metrics("1 - (node_filesystem_avail_bytes / node_filesystem_size_bytes) > 0.9") == [
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
    ]
    assert selected_metrics('histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="b"}[5m:1m])))') == [
        "x_bucket"
    ]
    assert selected_metrics('{__name__="up"} == 0') == []
    assert selected_metrics("time() - process_start_time_seconds < 60") == ["process_start_time_seconds"]
