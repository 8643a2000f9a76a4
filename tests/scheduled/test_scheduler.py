"""Scheduled detection over a real Prometheus: one incident per anomaly, cooldown, scores on /metrics."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from demo.processes import ManagedProcess, free_port
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import SeriesData
from receiver.scheduled.scheduler import (
    DetectionScheduler,
    DetectorFinding,
    detector_incident,
    finding_fingerprint,
)
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage import incidents as db_incidents
from tests.scheduled.conftest import COUNTER, QUERY, Injected, Recorder

RULE = RuleSettings(name="fill_latency", query=QUERY, severity="critical", labels={"team": "trading"})


@pytest.mark.parametrize("pool", ["thread", "process"])
async def test_an_injected_anomaly_opens_one_incident(injected: Injected, source, store, pool):
    recorder = Recorder()
    settings = DetectionSettings(rules=[RULE], pool=pool)
    scheduler = DetectionScheduler(store, source, settings, on_anomaly=recorder)

    report = await scheduler.run_cycle(now=injected.end)

    [finding] = recorder.findings
    assert finding.series_labels == {"__name__": QUERY, "job": "trading", "venue": "a"}
    assert abs(finding.starts_at - injected.anomaly_at) <= 60
    assert finding.fingerprint == finding_fingerprint("fill_latency", finding.series_labels)
    assert finding.labels["alertname"] == "fill_latency" and finding.labels["team"] == "trading"
    assert finding.detection.direction == "up"
    assert report.incidents == ["inc-1"] and report.rules == 1 and report.series == 3 and not report.errors
    await scheduler.stop()


async def test_a_second_cycle_within_the_cooldown_opens_nothing(injected: Injected, source, store):
    recorder = Recorder()
    scheduler = DetectionScheduler(store, source, DetectionSettings(rules=[RULE]), on_anomaly=recorder)

    await scheduler.run_cycle(now=injected.end)
    second = await scheduler.run_cycle(now=injected.end + 60)

    assert len(recorder.findings) == 1
    assert second.incidents == [] and second.deduplicated == 1
    await scheduler.stop()


async def test_a_detector_incident_resolves_after_its_cooldown_once_its_series_is_quiet(
    injected: Injected, source, store
):
    async def open_incident(finding: DetectorFinding) -> str:
        incident = detector_incident(finding, injected.end)
        await store.write(db_incidents.create_incident, incident)
        return incident.id

    resolved: list[list[str]] = []
    settings = DetectionSettings(rules=[RULE], cooldown_seconds=600)
    scheduler = DetectionScheduler(
        store, source, settings, on_anomaly=open_incident, on_resolved=resolved.append
    )
    [incident_id] = (await scheduler.run_cycle(now=injected.end)).incidents
    within = await scheduler.run_cycle(now=injected.end + 300)  # the cooldown has not passed
    assert within.resolved == [] and store.run_sync(db_incidents.get_incident, incident_id).status == "firing"

    later = await scheduler.run_cycle(now=injected.end + 720)  # past it, and the jump is no longer fresh
    assert later.resolved == [incident_id] and resolved == [[incident_id]]
    incident = store.run_sync(db_incidents.get_incident, incident_id)
    assert incident is not None and incident.status == "resolved" and incident.ends_at == injected.end + 720
    assert store.run_sync(db_incidents.resolve_pending, incident_id)  # its resolution goes to delivery
    await scheduler.stop()


async def test_latest_scores_are_exported_and_dropped_with_the_rule(injected: Injected, source, store):
    registry = CollectorRegistry()
    scheduler = DetectionScheduler(
        store, source, DetectionSettings(), on_anomaly=Recorder(), registry=registry
    )
    await scheduler.add_rule(RULE)

    await scheduler.run_cycle(now=injected.end)
    labels = {"rule": "fill_latency", "series": f'{QUERY}{{job="trading",venue="a"}}'}
    score = registry.get_sample_value("alert_analyst_anomaly_score", labels)
    calm = registry.get_sample_value(
        "alert_analyst_anomaly_score", {**labels, "series": labels["series"].replace('"a"', '"b"')}
    )
    assert score is not None and score >= 0.5  # flagged: the shift's 4th minute, 4th such deviation seen
    assert calm is not None and calm < 0.5

    await scheduler.delete_rule("fill_latency")
    assert registry.get_sample_value("alert_analyst_anomaly_score", labels) is None
    await scheduler.stop()


async def test_findings_are_counted_per_rule_by_outcome(injected: Injected, source, store):
    registry = CollectorRegistry()
    floored = RuleSettings(name="fill_latency_big", query=QUERY, min_delta=1.0)  # the jump is 0.45 s
    settings = DetectionSettings(rules=[RULE])
    scheduler = DetectionScheduler(store, source, settings, on_anomaly=Recorder(), registry=registry)
    await scheduler.add_rule(floored)

    first = await scheduler.run_cycle(now=injected.end)
    second = await scheduler.run_cycle(now=injected.end + 60)

    def count(rule: str, outcome: str) -> float | None:
        return registry.get_sample_value(
            "alert_analyst_detector_findings_total", {"rule": rule, "outcome": outcome}
        )

    assert first.incidents == ["inc-1"] and first.below_floor == 1 and second.below_floor == 1
    assert count("fill_latency", "opened") == 1 and count("fill_latency", "deduplicated") == 1
    assert count("fill_latency_big", "below_floor") == 2 and count("fill_latency_big", "opened") is None
    await scheduler.delete_rule("fill_latency_big")
    assert count("fill_latency_big", "below_floor") is None and count("fill_latency", "opened") == 1
    await scheduler.stop()


class CountingSource(PrometheusSource):
    """The real Prometheus source, counting range queries."""

    queries: list[str]

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        self.queries = [*getattr(self, "queries", []), query]
        return await super().query_range(query, start, end, step)


async def test_rules_sharing_a_query_fetch_it_once_and_each_open_their_incident(
    injected: Injected, prometheus: ManagedProcess, store
):
    source = CountingSource(PrometheusSettings(url=prometheus.url, retries=0))
    zscore = RuleSettings(name="fill_latency_zscore", query=QUERY, method="zscore")
    recorder = Recorder()
    scheduler = DetectionScheduler(
        store, source, DetectionSettings(rules=[RULE, zscore]), on_anomaly=recorder
    )

    report = await scheduler.run_cycle(now=injected.end)

    assert source.queries == [QUERY]
    assert sorted(f.rule.name for f in recorder.findings) == ["fill_latency", "fill_latency_zscore"]
    assert {f.series_labels["venue"] for f in recorder.findings} == {"a"}
    assert report.rules == 2 and not report.errors
    await scheduler.stop()
    await source.close()


async def test_an_unreachable_source_is_reported_not_raised(store):
    source = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    scheduler = DetectionScheduler(store, source, DetectionSettings(rules=[RULE]), on_anomaly=Recorder())

    report = await scheduler.run_cycle()

    assert report.errors["fill_latency"].startswith("unreachable")
    await scheduler.stop()
    await source.close()


async def test_the_timer_runs_cycles_until_stopped(injected: Injected, source, store):
    recorder = Recorder()
    settings = DetectionSettings(
        rules=[RULE], interval_seconds=0.05, cooldown_seconds=0, freshness_seconds=1e9
    )
    scheduler = DetectionScheduler(store, source, settings, on_anomaly=recorder)

    await scheduler.start()
    for _ in range(200):
        if recorder.findings:
            break
        await asyncio.sleep(0.05)
    await scheduler.stop()

    assert recorder.findings and recorder.findings[0].rule.name == "fill_latency"


async def test_each_rules_last_cycle_is_kept_with_its_series_error_and_notes(
    injected: Injected, source, store
):
    rules = [
        RULE,
        RuleSettings(name="fills", query=COUNTER),
        RuleSettings(name="typo", query="demo_fill_latency_secnods"),
        RuleSettings(name="broken", query=f"rate({QUERY}[5m]"),
    ]
    registry = CollectorRegistry()
    settings = DetectionSettings(rules=rules)
    scheduler = DetectionScheduler(store, source, settings, on_anomaly=Recorder(), registry=registry)

    await scheduler.run_cycle(now=injected.end)
    await scheduler.run_cycle(now=injected.end + 300)
    status = scheduler.statuses()

    assert (status["fill_latency"].series, status["fill_latency"].error, status["fill_latency"].notes) == (
        3,
        None,
        (),
    )
    assert (
        status["fills"].series == 1 and "every series only rose over the lookback" in status["fills"].notes[0]
    )
    assert status["typo"].series == 0 and "returned no series" in status["typo"].notes[0]
    assert status["broken"].error is not None and "bad_query" in status["broken"].error
    assert {s.evaluated_at for s in status.values()} == {injected.end + 300}
    series = "alert_analyst_detection_rule_series"
    assert [registry.get_sample_value(series, {"rule": r}) for r in ("fill_latency", "fills", "typo")] == [
        3,
        1,
        0,
    ]
    failures = "alert_analyst_detection_rule_failures_total"
    assert registry.get_sample_value(failures, {"rule": "broken"}) == 2
    assert registry.get_sample_value(failures, {"rule": "fill_latency"}) is None  # never failed
    await scheduler.stop()


async def test_a_deleted_rules_status_goes_with_it(injected: Injected, source, store):
    registry = CollectorRegistry()
    scheduler = DetectionScheduler(
        store, source, DetectionSettings(), on_anomaly=Recorder(), registry=registry
    )
    await scheduler.add_rule(RuleSettings(name="api_rule", query=QUERY))
    await scheduler.run_cycle(now=injected.end)
    series = ("alert_analyst_detection_rule_series", {"rule": "api_rule"})
    assert scheduler.statuses()["api_rule"].series == 3 and registry.get_sample_value(*series) == 3

    await scheduler.delete_rule("api_rule")

    assert "api_rule" not in scheduler.statuses() and registry.get_sample_value(*series) is None
    await scheduler.stop()
