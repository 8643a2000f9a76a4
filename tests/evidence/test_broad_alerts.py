"""An alert whose expression spans a fleet (`up == 0`) still gets its own series when the stripped
expression (`up`) has more series than prometheus.max_series_per_query, through a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, start_backfilled_prometheus
from receiver.evidence.context import fetch_alert_context
from receiver.evidence.promql import having_labels
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
TARGETS = 1500
DOWN = "node-1234:9100"
END = math.floor(time.time() / STEP) * STEP - 120


def test_having_labels_keeps_the_series_with_those_values() -> None:
    assert having_labels("up", {"job": "node", "instance": "a$1"}) == (
        '(up) and on(instance, job) label_replace(label_replace(vector(1), "instance", "a$$1", "", ""), '
        '"job", "node", "", "")'
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    series = []
    for i in range(TARGETS):
        instance = f"node-{i:04d}:9100"
        up = np.where((ts >= END - 900) & (instance == DOWN), 0.0, 1.0)
        series.append(SyntheticSeries("up", {"job": "node", "instance": instance}, ts, up))
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("fleet"), series)
    yield proc
    proc.stop()


async def test_the_alerts_own_series_is_found_in_a_fleet_too_large_to_fetch(
    prometheus: ManagedProcess,
) -> None:
    labels = {"alertname": "TargetDown", "job": "node", "instance": DOWN, "severity": "critical"}
    incident = firing_incident(END - 600, labels, "up == 0")
    async with source_at(prometheus.url, max_series_per_query=500) as source:
        context = await fetch_alert_context(incident, source, ContextSettings(max_related_series=5), now=END)

    assert context.alert_index == 0
    alert = context.fetched[0]
    assert alert.role == "alert" and alert.data.labels == {"__name__": "up", "job": "node", "instance": DOWN}
    assert alert.data.values[0] == 1.0 and alert.data.values[-1] == 0.0
    assert any("too many series" in note for note in context.notes)
