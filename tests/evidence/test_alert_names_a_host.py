"""An alert on one component that names another in a label of its own: the risk engine's
`time() - max by (job, source) (risk_last_fill_timestamp_seconds{job="risk-engine"}) > 120` fires with
`source="ny4-fixgw-02"`, the gateway whose drop-copy unit crash-loops. Before, only the risk engine's
series (and its host's) were fetched: the host the alert names was never looked at. Its label values that
look like names are now also looked up as components beside the identifying ones. Through a real
Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
END = math.floor(time.time() / STEP) * STEP - 120
EXPR = 'time() - max by (job, source) (risk_last_fill_timestamp_seconds{job="risk-engine"}) > 120'
GATEWAY = "ny4-fixgw-02"


def node(host: str) -> dict[str, str]:
    return {"job": "node", "host": host, "instance": f"{host}:9100"}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    broken = END - 900
    last_fill = np.where(ts < broken, ts - 5, broken - 5)
    unit = {"name": "dropcopy-forwarder.service"}
    series = [
        SyntheticSeries(
            "risk_last_fill_timestamp_seconds", {"job": "risk-engine", "source": GATEWAY}, ts, last_fill
        ),
        SyntheticSeries(
            "risk_last_fill_timestamp_seconds", {"job": "risk-engine", "source": "ny4-fixgw-01"}, ts, ts - 5
        ),
        SyntheticSeries("jvm_memory_used_bytes", {"job": "risk-engine"}, ts, noisy(ts, 5e9, 5e7, 1)),
        SyntheticSeries(
            "node_systemd_unit_state",
            {**node(GATEWAY), **unit, "state": "failed"},
            ts,
            noisy(ts, 0, 0, 2, steps=[(broken, 1)]),
        ),
        SyntheticSeries(
            "node_systemd_unit_state",
            {**node(GATEWAY), **unit, "state": "active"},
            ts,
            noisy(ts, 1, 0, 3, steps=[(broken, 0)]),
        ),
        SyntheticSeries("node_load1", node(GATEWAY), ts, noisy(ts, 1.0, 0.1, 4)),
        SyntheticSeries(  # another host's CPU bursting harder at the same time, named by nothing
            "node_load1", node("ny4-batch-01"), ts, noisy(ts, 1.0, 0.1, 5, steps=[(broken, 30.0)])
        ),
    ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("alert-names-a-host"), series)
    yield proc
    proc.stop()


async def test_the_host_an_alerts_label_names_is_fetched_and_blamed(prometheus: ManagedProcess) -> None:
    labels = {"alertname": "RiskDropCopyStale", "job": "risk-engine", "source": GATEWAY, "severity": "page"}
    incident = firing_incident(END - 600, labels, EXPR)
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(incident, source, ContextSettings(), now=END)

    hosts = {s.labels.get("host") for s in evidence.series if s.role == "related"}
    assert GATEWAY in hosts, [s.series_id for s in evidence.series]
    assert "ny4-batch-01" not in hosts
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis
    assert GATEWAY in primary.title or GATEWAY in primary.suspect, primary
