"""Off Kubernetes, a machine's exporters share only the label the relabelling gives them all (`host`, as
Telegraf names it too): the gateway's own metrics (`job="fix-gateway"`, `instance="gw-02:9404"`),
node_exporter's (`job="node"`, `:9100`) and chrony_exporter's (`job="chrony"`, `:9123`). An alert `by (job,
host)` reached only the gateway's series: `host` was no identifying label, and the clock that drifted on
the host was never looked at. Through a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.settings import DEFAULT_IDENTIFYING_LABELS, ContextSettings
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
END = math.floor(time.time() / STEP) * STEP - 120
DRIFTED = END - 600
EXPR = 'sum by (job, host) (rate(fix_session_rejects_total{job="fix-gateway"}[2m])) > 1'
SITE = {"dc": "ny4", "env": "prod"}


def target(job: str, host: str, port: int) -> dict[str, str]:
    return {**SITE, "job": job, "host": host, "instance": f"{host}:{port}"}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    series = []
    for k, host in enumerate(("gw-01", "gw-02")):
        drifting = host == "gw-02"
        offset = np.where(ts >= DRIFTED, np.clip((ts - DRIFTED) * 0.0005, 0, 1.4), 0) if drifting else 0
        rejects = np.cumsum(np.where((ts >= DRIFTED + 240) & drifting, 6.0, 0.01) * STEP)
        series += [
            SyntheticSeries(
                "fix_session_rejects_total",
                {**target("fix-gateway", host, 9404), "venue": "deribit"},
                ts,
                rejects,
                kind="counter",
            ),
            SyntheticSeries(
                "jvm_memory_used_bytes",
                {**target("fix-gateway", host, 9404), "area": "heap"},
                ts,
                noisy(ts, 2e9, 5e7, 10 + k),
            ),
            SyntheticSeries(
                "chrony_tracking_last_offset_seconds",
                target("chrony", host, 9123),
                ts,
                noisy(ts, 0.0, 2e-5, 20 + k) + offset,
            ),
            SyntheticSeries("node_load1", target("node", host, 9100), ts, noisy(ts, 1.0, 0.1, 30 + k)),
        ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("host-label"), series)
    yield proc
    proc.stop()


def rejects_alert():  # type: ignore[no-untyped-def]
    labels = {
        "alertname": "FixOrderRejectRatioHigh",
        "severity": "critical",
        "job": "fix-gateway",
        "host": "gw-02",
    }
    return firing_incident(END - 180, labels, EXPR)


async def test_an_alert_by_host_reaches_every_exporter_on_that_host_and_no_other(
    prometheus: ManagedProcess,
) -> None:
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(rejects_alert(), source, ContextSettings(), now=END)

    jobs_on = {(s.labels.get("job"), s.labels.get("host")) for s in evidence.series if s.labels.get("job")}
    assert ("chrony", "gw-02") in jobs_on and ("node", "gw-02") in jobs_on, jobs_on
    assert ("chrony", "gw-01") not in jobs_on and ("node", "gw-01") not in jobs_on, jobs_on


async def test_without_host_among_the_identifying_labels_only_the_gateways_series_are_related(
    prometheus: ManagedProcess,
) -> None:
    settings = ContextSettings(
        identifying_labels=[k for k in DEFAULT_IDENTIFYING_LABELS if k != "host"], max_node_series=0
    )
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(rejects_alert(), source, settings, now=END)

    assert {s.labels.get("job") for s in evidence.series if s.labels.get("job")} == {"fix-gateway"}


async def test_an_alert_on_a_job_reaches_the_node_exporter_of_each_host_its_targets_run_on(
    prometheus: ManagedProcess,
) -> None:
    """An alert `by (job)` names no host: the hosts of its targets' addresses (`gw-02:9404` -> `gw-02`) are
    where node_exporter runs too, at another port; they are looked up as Kubernetes nodes are."""
    labels = {"alertname": "FixRejectsHigh", "severity": "critical", "job": "fix-gateway"}
    expr = 'sum by (job) (rate(fix_session_rejects_total{job="fix-gateway"}[2m])) > 1'
    settings = ContextSettings(identifying_labels=["job"])  # only the job: the host label finds nothing
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(
            firing_incident(END - 180, labels, expr), source, settings, now=END
        )

    nodes = {s.labels["instance"]: s for s in evidence.series if s.metric.startswith("node_")}
    assert set(nodes) == {"gw-01:9100", "gw-02:9100"}, nodes
    assert all(s.component == s.labels["node"] == s.labels["host"] for s in nodes.values())
