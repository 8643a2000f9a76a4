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

from analyst.builtin.entities import usable_activation
from analyst.builtin.narrative import data_examination
from demo.processes import ManagedProcess, start_prometheus
from demo.tsdb import SyntheticSeries, start_backfilled_prometheus
from receiver.evidence.active_since import alert_active_since
from receiver.evidence.context import collect_alert_context, context_window, reaches_back
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from receiver.models import Incident
from tests.evidence.conftest import RULES
from tests.evidence.scenario import STEP, causal_scenario
from tests.support.polling import eventually

# One moment for every scenario of the module: built twice across a minute's turn, two differed by a step.
NOW = time.time()

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
    return causal_scenario(NOW).incident(
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
        assert notes and "than the history can reach for it (2 s: context.max_lookback" in notes[0]
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
def held_for_long(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ManagedProcess, float, float]]:
    """The causal scenario backfilled with the ALERTS_FOR_STATE its OrderErrorsHigh alert would leave had
    its rule held for 40 minutes, that of another instance's alert, active earlier, and that of a third
    instance's, held for 100 minutes."""
    scenario = causal_scenario(NOW)
    active_at = scenario.effect_at + 60 - 40 * 60
    long_ago = scenario.effect_at + 60 - 100 * 60
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
        SyntheticSeries(
            "ALERTS_FOR_STATE",
            {**labels, "instance": "orders-3:8080"},
            held := np.arange(long_ago, scenario.end + STEP, STEP),
            np.full(held.size, long_ago),
        ),
    )
    proc = start_backfilled_prometheus(
        tmp_path_factory.mktemp("held"),
        (*scenario.series, *states),
        external_labels={"cluster": "eu-1"},
        rules_yaml=RULES,
    )
    yield proc, active_at, long_ago
    proc.stop()


async def test_the_evidence_carries_the_activation_and_its_window_stays_as_configured(
    held_for_long: tuple[ManagedProcess, float, float],
) -> None:
    proc, active_at, _ = held_for_long
    scenario = causal_scenario(NOW)
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


async def test_an_activation_older_than_the_window_has_the_hour_before_it_fetched(
    held_for_long: tuple[ManagedProcess, float, float],
) -> None:
    """A rule that held 100 minutes: the configured 2 hours do not hold the hour before its activation, so
    the window reaches back to it; with `context.max_lookback_seconds` at 2 hours it cannot, and says so."""
    proc, _, long_ago = held_for_long
    scenario = causal_scenario(NOW)
    incident = scenario.incident()
    incident = replace(incident, labels={**incident.labels, "namespace": "prod", "instance": "orders-3:8080"})
    source = _source(proc.url)
    try:
        reaching = await collect_alert_context(incident, source, ContextSettings(), now=scenario.end)
        capped = ContextSettings(max_lookback_seconds=7200)
        held_back = await collect_alert_context(incident, source, capped, now=scenario.end)
    finally:
        await source.close()

    assert incident.starts_at - long_ago == 100 * 60
    assert reaching.alert.active_since == long_ago
    assert reaching.window_start <= long_ago - 65 * 60 < incident.starts_at - 7200
    assert usable_activation(reaching) == long_ago
    examined = data_examination(reaching)
    assert "Its condition held for" in examined and "longer than the evidence's history" not in examined
    assert any(s.metric == "demo_db_pool_in_use" and s.available for s in reaching.series)

    assert held_back.alert.active_since is None
    assert held_back.window_start > incident.starts_at - 7200 - STEP  # as configured
    assert any("context.max_lookback_seconds" in note for note in held_back.notes)
    assert "longer than the evidence's history" in data_examination(replace(held_back, alert=reaching.alert))


def test_the_window_reaches_back_only_for_an_activation_the_configured_history_cannot_use() -> None:
    """Held 100 minutes: reach back; 40 minutes: the configured two hours hold the hour before it; none: no
    reason to; a configured history under 65 minutes (the demo's 15) is a choice of less history."""
    incident = causal_scenario(NOW).incident()
    now = incident.starts_at + 60
    settings = ContextSettings()
    window = context_window(incident, settings, now)
    assert reaches_back(settings, window, incident.starts_at - 100 * 60)
    assert not reaches_back(settings, window, incident.starts_at - 40 * 60)
    assert not reaches_back(settings, window, None)
    short = ContextSettings(lookback_seconds=900)
    assert not reaches_back(short, context_window(incident, short, now), incident.starts_at - 5)
    wider = context_window(incident, settings, now, incident.starts_at - 100 * 60)
    assert wider.start <= incident.starts_at - 165 * 60 < window.start and wider.end == window.end
