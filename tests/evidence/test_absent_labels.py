"""Related series that lack a label their siblings have are fetched too: cAdvisor's pod-level series (no
`container`) beside its containers' (`container="app"`), through a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import fetch_alert_context
from receiver.evidence.fetching import members_selector
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
POD = {"namespace": "shop", "pod": "web-1"}
END = math.floor(time.time() / STEP) * STEP - 120


def test_members_without_a_label_match_its_empty_value() -> None:
    members = [
        {"__name__": "m", **POD},
        {"__name__": "m", **POD, "container": "app"},
        {"__name__": "m", **POD, "container": "sidecar"},
    ]

    assert members_selector("m", members) == 'm{namespace="shop",pod="web-1",container=~"app|sidecar|"}'
    assert members_selector("m", members[1:]) == 'm{namespace="shop",pod="web-1",container=~"app|sidecar"}'


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    app = {**POD, "container": "app"}
    series = [
        SyntheticSeries("web_latency_seconds", POD, ts, noisy(ts, 1, 0.1, 0, steps=[(END - 600, 3)])),
        SyntheticSeries("container_memory_working_set_bytes", POD, ts, noisy(ts, 2e8, 1e6, 1)),
        SyntheticSeries("container_memory_working_set_bytes", app, ts, noisy(ts, 1.5e8, 1e6, 2)),
        SyntheticSeries(
            "container_cpu_usage_seconds_total", POD, ts, np.cumsum(np.full(ts.size, 30.0)), "counter"
        ),
        SyntheticSeries(
            "container_cpu_usage_seconds_total", app, ts, np.cumsum(np.full(ts.size, 25.0)), "counter"
        ),
    ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("absent-labels"), series)
    yield proc
    proc.stop()


async def test_cadvisor_pod_level_series_are_fetched_beside_the_containers(
    prometheus: ManagedProcess,
) -> None:
    incident = firing_incident(END - 600, {"alertname": "WebSlow", **POD}, "web_latency_seconds > 2")
    async with source_at(prometheus.url) as source:
        context = await fetch_alert_context(incident, source, ContextSettings(), now=END)

    fetched = {(f.metric, f.data.labels.get("container")) for f in context.fetched}
    for metric in ("container_memory_working_set_bytes", "container_cpu_usage_seconds_total"):
        assert {(metric, None), (metric, "app")} <= fetched
    assert not any("rate_window_seconds" in note for note in context.notes)
