"""Each cycle says on /metrics whether it could evaluate each rule
(`alert_analyst_detection_rule_last_cycle_successful`), whatever the interval; the series goes with its
rule. Over a real Prometheus, and a port nobody listens on."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from receiver.evidence.prometheus import PrometheusSource
from receiver.scheduled.scheduler import DetectionScheduler
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage.database import Store
from tests.scheduled.conftest import QUERY, Injected, Recorder
from tests.support.polling import eventually

SUCCESSFUL = "alert_analyst_detection_rule_last_cycle_successful"


async def test_a_cycle_against_an_unreachable_prometheus_marks_the_rule_failed(
    injected: Injected, unreachable: PrometheusSource, store: Store
):
    registry = CollectorRegistry()
    settings = DetectionSettings(enabled=False, rules=[RuleSettings(name="fill_latency", query=QUERY)])
    scheduler = DetectionScheduler(store, unreachable, settings, on_anomaly=Recorder(), registry=registry)

    report = await scheduler.run_cycle(now=injected.end)

    assert "fill_latency" in report.errors
    assert registry.get_sample_value(SUCCESSFUL, {"rule": "fill_latency"}) == 0
    await scheduler.stop()


async def test_the_next_cycle_that_evaluates_the_rule_marks_it_successful_again(
    injected: Injected, source: PrometheusSource, unreachable: PrometheusSource, store: Store
):
    registry = CollectorRegistry()
    settings = DetectionSettings(enabled=False, rules=[RuleSettings(name="fill_latency", query=QUERY)])
    scheduler = DetectionScheduler(store, source, settings, on_anomaly=Recorder(), registry=registry)
    seen = []
    for src, now in ((source, injected.end - 600), (unreachable, injected.end - 300), (source, injected.end)):
        scheduler.source = src
        await scheduler.run_cycle(now=now)
        seen.append(registry.get_sample_value(SUCCESSFUL, {"rule": "fill_latency"}))

    assert seen == [1, 0, 1]
    await scheduler.stop()


async def test_a_rule_that_returns_no_series_was_still_evaluated(
    injected: Injected, source: PrometheusSource, store: Store
):
    registry = CollectorRegistry()
    settings = DetectionSettings(
        enabled=False, rules=[RuleSettings(name="typo", query="demo_no_such_metric")]
    )
    scheduler = DetectionScheduler(store, source, settings, on_anomaly=Recorder(), registry=registry)

    await scheduler.run_cycle(now=injected.end)

    assert registry.get_sample_value(SUCCESSFUL, {"rule": "typo"}) == 1  # AlertAnalystDetectionRuleEmpty's
    await scheduler.stop()


async def test_a_deleted_rules_series_goes_with_it(
    injected: Injected, unreachable: PrometheusSource, store: Store
):
    registry = CollectorRegistry()
    scheduler = DetectionScheduler(
        store, unreachable, DetectionSettings(enabled=False), on_anomaly=Recorder(), registry=registry
    )
    await scheduler.add_rule(RuleSettings(name="api_rule", query=QUERY))
    await scheduler.run_cycle(now=injected.end)
    assert registry.get_sample_value(SUCCESSFUL, {"rule": "api_rule"}) == 0

    await scheduler.delete_rule("api_rule")

    assert registry.get_sample_value(SUCCESSFUL, {"rule": "api_rule"}) is None
    await scheduler.stop()


async def test_a_rule_removed_from_the_configuration_loses_its_series_at_the_next_cycle(
    injected: Injected, unreachable: PrometheusSource, store: Store
):
    registry = CollectorRegistry()
    kept, dropped = RuleSettings(name="kept", query=QUERY), RuleSettings(name="dropped", query="up")
    settings = DetectionSettings(enabled=False, rules=[kept, dropped])
    scheduler = DetectionScheduler(store, unreachable, settings, on_anomaly=Recorder(), registry=registry)
    await scheduler.run_cycle(now=injected.end)

    await scheduler.reconfigure(DetectionSettings(enabled=False, rules=[kept]))
    await scheduler.run_cycle(now=injected.end + 300)

    assert registry.get_sample_value(SUCCESSFUL, {"rule": "kept"}) == 0
    assert registry.get_sample_value(SUCCESSFUL, {"rule": "dropped"}) is None
    await scheduler.stop()


LAST_CYCLE = "alert_analyst_detection_last_cycle_timestamp_seconds"
INTERVAL = "alert_analyst_detection_interval_seconds"


async def test_the_loop_stamps_each_finished_cycle_and_exports_its_interval(
    source: PrometheusSource, store: Store
):
    registry = CollectorRegistry()
    settings = DetectionSettings(interval_seconds=0.2, rules=[RuleSettings(name="fill_latency", query=QUERY)])
    scheduler = DetectionScheduler(store, source, settings, on_anomaly=Recorder(), registry=registry)
    before = time.time()

    await scheduler.start()
    await eventually(lambda: (registry.get_sample_value(LAST_CYCLE) or 0) >= before, within=20)

    assert registry.get_sample_value(INTERVAL) == 0.2
    await scheduler.stop()


async def test_a_loop_whose_cycles_raise_leaves_the_stamp_where_it_was(
    source: PrometheusSource, store: Store
):
    """What AlertAnalystDetectionStalled watches: the per-rule gauges keep their last values then."""
    registry = CollectorRegistry()
    settings = DetectionSettings(
        interval_seconds=0.05, rules=[RuleSettings(name="fill_latency", query=QUERY)]
    )
    scheduler = DetectionScheduler(store, source, settings, on_anomaly=Recorder(), registry=registry)
    calls = []

    async def broken() -> list[object]:
        calls.append(1)
        raise RuntimeError("rules table unreadable")

    scheduler.rules = broken  # type: ignore[method-assign]
    await scheduler.start()
    await eventually(lambda: len(calls) >= 3, within=10)

    assert registry.get_sample_value(LAST_CYCLE) == 0
    assert registry.get_sample_value(INTERVAL) == 0.05
    await scheduler.stop()


async def test_disabled_detection_exports_an_interval_of_zero(source: PrometheusSource, store: Store):
    registry = CollectorRegistry()
    scheduler = DetectionScheduler(
        store, source, DetectionSettings(enabled=False), on_anomaly=Recorder(), registry=registry
    )

    await scheduler.start()

    assert registry.get_sample_value(INTERVAL) == 0
    assert registry.get_sample_value(LAST_CYCLE) == 0
    await scheduler.stop()
