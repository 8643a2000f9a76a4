"""When the alert became active, from Prometheus' ALERTS_FOR_STATE: read as a rule evaluated by a real
Prometheus writes it, and carried into the evidence."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest

from demo.processes import ManagedProcess, start_prometheus
from demo.tsdb import SyntheticSeries, start_backfilled_prometheus
from receiver.evidence.active_since import alert_active_since
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from receiver.models import Incident
from tests.evidence.conftest import RULES
from tests.evidence.scenario import STEP, causal_scenario
from tests.support.polling import eventually

HELD = """
groups:
  - name: held
    rules:
      - alert: QueueStuck
        expr: vector(1)
        for: 3s
        labels: {severity: warning, queue: orders}
"""


@pytest.fixture(scope="module")
def evaluating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """A Prometheus that evaluates QueueStuck every second (it fires three seconds after it is active)."""
    workdir = tmp_path_factory.mktemp("evaluating")
    (workdir / "rules.yml").write_text(HELD)
    config = (
        "global:\n  evaluation_interval: 1s\n  external_labels: {cluster: eu-1}\n"
        f"rule_files:\n  - {workdir / 'rules.yml'}\nscrape_configs: []\n"
    )
    proc = start_prometheus(workdir, config)
    yield proc
    proc.stop()


def _source(url: str) -> PrometheusSource:
    return PrometheusSource(PrometheusSettings(url=url, retries=0, timeout_seconds=5))


def _firing(url: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=5) as resp:
        alerts = json.load(resp)["data"]["alerts"]
    return [a for a in alerts if a["state"] == "firing"]


def _incident(labels: dict[str, str], starts_at: float, source: str = "alertmanager") -> Incident:
    return causal_scenario().incident(
        labels=labels,
        alertname=labels["alertname"],
        starts_at=starts_at,
        first_seen=starts_at,
        source=source,
        generator_url="",
    )


async def test_the_activation_is_read_as_prometheus_evaluating_the_rule_writes_it(
    evaluating: ManagedProcess,
) -> None:
    await eventually(lambda: bool(_firing(evaluating.url)), within=30, every=0.5)
    active_at = datetime.fromisoformat(str(_firing(evaluating.url)[0]["activeAt"])).timestamp()
    fired = time.time()  # Alertmanager's startsAt is the evaluation that fired it, at or before now
    # Alertmanager's labels carry the external ones (cluster), which Prometheus' own series do not
    labels = {"alertname": "QueueStuck", "severity": "warning", "queue": "orders", "cluster": "eu-1"}
    source = _source(evaluating.url)
    try:
        notes: list[str] = []
        found = await alert_active_since(_incident(labels, fired), source, notes)
        assert found is not None and abs(found - active_at) < 1, (found, active_at)
        assert fired - found >= 3 and not notes  # the rule's `for: 3s`

        other = {**labels, "queue": "payments"}  # another alert of the same rule: not this one's state
        assert await alert_active_since(_incident(other, fired), source, notes) is None
        assert await alert_active_since(_incident(labels, fired, "detector"), source, notes) is None
        on_demand = await alert_active_since(_incident(labels, fired, "on_demand"), source, notes)
        assert on_demand == found  # `diagnose --alert FILE`, or the workbench's form: the same rule's
        assert await alert_active_since(_incident(labels, active_at - 60), source, notes) is None
        assert not notes
        assert await alert_active_since(_incident(labels, fired), source, notes, max_hold=2.0) is None
        assert notes and "further back than the history fetched (context.lookback_seconds, 2)" in notes[0]
    finally:
        await source.close()


async def test_an_unreachable_source_leaves_a_note_and_no_activation() -> None:
    source = _source("http://127.0.0.1:9")
    try:
        notes: list[str] = []
        labels = {"alertname": "QueueStuck", "queue": "orders"}
        assert await alert_active_since(_incident(labels, time.time()), source, notes) is None
        assert notes and "when the alert became active is unknown" in notes[0]
    finally:
        await source.close()


@pytest.fixture(scope="module")
def held_for_long(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ManagedProcess, float]]:
    """The causal scenario backfilled with the ALERTS_FOR_STATE its OrderErrorsHigh alert would leave had
    its rule held for 40 minutes, and that of another instance's alert, active earlier."""
    scenario = causal_scenario()
    active_at = scenario.effect_at + 60 - 40 * 60
    labels = {"alertname": "OrderErrorsHigh", "job": "shop", "namespace": "prod", "service": "orders"}
    labels |= {"severity": "critical", "team": "checkout"}
    ts = np.arange(active_at, scenario.end + STEP, STEP)
    states = (
        SyntheticSeries(
            "ALERTS_FOR_STATE", {**labels, "instance": "orders-1:8080"}, ts, np.full(ts.size, active_at)
        ),
        SyntheticSeries(
            "ALERTS_FOR_STATE", {**labels, "instance": "orders-2:8080"}, ts, np.full(ts.size, active_at - 600)
        ),
    )
    proc = start_backfilled_prometheus(
        tmp_path_factory.mktemp("held"),
        (*scenario.series, *states),
        external_labels={"cluster": "eu-1"},
        rules_yaml=RULES,
    )
    yield proc, active_at
    proc.stop()


async def test_the_evidence_carries_the_activation_and_its_window_stays_as_configured(
    held_for_long: tuple[ManagedProcess, float],
) -> None:
    proc, active_at = held_for_long
    scenario = causal_scenario()
    incident = scenario.incident()
    incident = replace(incident, labels={**incident.labels, "namespace": "prod"})
    settings = ContextSettings()
    source = _source(proc.url)
    try:
        evidence = await collect_alert_context(incident, source, settings, now=scenario.end)
    finally:
        await source.close()

    assert evidence.alert.active_since == active_at
    assert evidence.window_start > incident.starts_at - settings.lookback_seconds - STEP  # as configured
    assert all(s.metric != "ALERTS_FOR_STATE" for s in evidence.series)
