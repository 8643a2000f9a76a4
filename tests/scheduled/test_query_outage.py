"""An anomaly that happens while a rule's query fails is not lost: the first cycle that evaluates the
rule again looks back to where the failed cycles began, also after a restart (SQLite keeps where). A rule
changed or removed meanwhile has missed nothing, and keeps no row. Over a real Prometheus."""

from __future__ import annotations

from pathlib import Path

from demo.processes import ManagedProcess, free_port
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.scheduled.scheduler import DetectionScheduler, DetectorFinding
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage.database import Store, fetch_all
from tests.scheduled.conftest import QUERY, Injected


async def test_a_jump_during_a_query_outage_opens_one_incident_once_queries_answer(
    injected: Injected, prometheus: ManagedProcess, tmp_path: Path
):
    findings: list[DetectorFinding] = []

    async def record(finding: DetectorFinding) -> str:
        findings.append(finding)
        return f"inc-{len(findings)}"

    up = PrometheusSource(PrometheusSettings(url=prometheus.url, retries=0))
    down = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    settings = DetectionSettings(enabled=False, rules=[RuleSettings(name="fill_latency", query=QUERY)])
    scheduler = DetectionScheduler(Store(tmp_path / "analyst.db"), up, settings, on_anomaly=record)
    first = await scheduler.run_cycle(now=injected.end - 1800)  # before venue a jumps (end - 240 s)
    scheduler.source = down
    failed = [await scheduler.run_cycle(now=injected.end - 1800 + 300 * k) for k in range(1, 6)]
    assert first.incidents == [] and all("fill_latency" in report.errors for report in failed)

    scheduler.source = up  # back 10 minutes after the jump: older than freshness (2 x 300 s)
    back = await scheduler.run_cycle(now=injected.end + 600)
    later = await scheduler.run_cycle(now=injected.end + 900)

    assert back.incidents == ["inc-1"] and later.incidents == [] and len(findings) == 1
    assert findings[0].series_labels["venue"] == "a"
    assert abs(findings[0].starts_at - injected.anomaly_at) <= 60
    await scheduler.stop()
    await up.close()
    await down.close()


async def test_a_jump_during_an_outage_across_a_restart_opens_its_incident_once_queries_answer(
    injected: Injected, prometheus: ManagedProcess, tmp_path: Path
):
    findings: list[DetectorFinding] = []

    async def record(finding: DetectorFinding) -> str:
        findings.append(finding)
        return f"inc-{len(findings)}"

    up = PrometheusSource(PrometheusSettings(url=prometheus.url, retries=0))
    down = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    settings = DetectionSettings(enabled=False, rules=[RuleSettings(name="fill_latency", query=QUERY)])
    store = Store(tmp_path / "analyst.db")
    before = DetectionScheduler(store, up, settings, on_anomaly=record)
    await before.run_cycle(now=injected.end - 1800)
    before.source = down  # fails from 20 minutes before venue a jumps (end - 240 s) ...
    failed = [await before.run_cycle(now=injected.end - 1200 + 300 * k) for k in range(2)]
    await before.stop()
    store.close()

    store = Store(tmp_path / "analyst.db")  # ... and after the restart too, until 15 minutes past it
    after = DetectionScheduler(store, down, settings, on_anomaly=record)
    failed.append(await after.run_cycle(now=injected.end + 600))
    after.source = up
    back = await after.run_cycle(now=injected.end + 900)

    assert all("fill_latency" in report.errors for report in failed)
    assert back.incidents == ["inc-1"] and len(findings) == 1
    assert findings[0].series_labels["venue"] == "a"
    assert abs(findings[0].starts_at - injected.anomaly_at) <= 60
    await after.stop()
    store.close()
    await up.close()
    await down.close()


def caught_up_rules(store: Store) -> list[str]:
    """The rules SQLite keeps an outage catch-up of."""
    return [row["rule"] for row in store.run_sync(fetch_all, "SELECT rule FROM detection_catch_up")]


async def test_a_rule_changed_across_a_restart_during_an_outage_has_missed_nothing(
    injected: Injected, prometheus: ManagedProcess, tmp_path: Path
):
    findings: list[DetectorFinding] = []

    async def record(finding: DetectorFinding) -> str:
        findings.append(finding)
        return f"inc-{len(findings)}"

    up = PrometheusSource(PrometheusSettings(url=prometheus.url, retries=0))
    down = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    rule = RuleSettings(name="fill_latency", query=QUERY)
    store = Store(tmp_path / "analyst.db")
    before = DetectionScheduler(
        store, down, DetectionSettings(enabled=False, rules=[rule]), on_anomaly=record
    )
    assert "fill_latency" in (await before.run_cycle(now=injected.end - 1200)).errors
    await before.stop()
    store.close()

    store = Store(tmp_path / "analyst.db")
    changed = DetectionSettings(enabled=False, rules=[rule.model_copy(update={"threshold": 3.5})])
    after = DetectionScheduler(store, up, changed, on_anomaly=record)
    back = await after.run_cycle(now=injected.end + 900)

    assert back.errors == {} and back.incidents == [] and findings == []
    assert caught_up_rules(store) == []
    await after.stop()
    store.close()
    await up.close()
    await down.close()


async def test_a_rule_removed_from_the_configuration_during_an_outage_leaves_no_catch_up(tmp_path: Path):
    async def record(finding: DetectorFinding) -> str:
        return "never"

    down = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    settings = DetectionSettings(enabled=False, rules=[RuleSettings(name="fill_latency", query=QUERY)])
    store = Store(tmp_path / "analyst.db")
    before = DetectionScheduler(store, down, settings, on_anomaly=record)
    await before.run_cycle()
    assert caught_up_rules(store) == ["fill_latency"]
    await before.stop()
    store.close()

    store = Store(tmp_path / "analyst.db")
    after = DetectionScheduler(store, down, DetectionSettings(enabled=False), on_anomaly=record)
    await after.run_cycle()

    assert caught_up_rules(store) == []
    await after.stop()
    store.close()
    await down.close()


async def test_a_rule_deleted_during_an_outage_leaves_no_catch_up(tmp_path: Path):
    async def record(finding: DetectorFinding) -> str:
        return "never"

    down = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    store = Store(tmp_path / "analyst.db")
    scheduler = DetectionScheduler(store, down, DetectionSettings(enabled=False), on_anomaly=record)
    await scheduler.add_rule(RuleSettings(name="fill_latency", query=QUERY))
    assert "fill_latency" in (await scheduler.run_cycle()).errors
    assert caught_up_rules(store) == ["fill_latency"]

    await scheduler.delete_rule("fill_latency")

    assert caught_up_rules(store) == []
    await scheduler.stop()
    store.close()
    await down.close()


async def test_a_rule_changed_by_a_reload_during_an_outage_leaves_no_catch_up(tmp_path: Path):
    async def record(finding: DetectorFinding) -> str:
        return "never"

    down = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    rule = RuleSettings(name="fill_latency", query=QUERY)
    store = Store(tmp_path / "analyst.db")
    scheduler = DetectionScheduler(
        store, down, DetectionSettings(enabled=False, rules=[rule]), on_anomaly=record
    )
    await scheduler.run_cycle()
    assert caught_up_rules(store) == ["fill_latency"]

    changed = rule.model_copy(update={"threshold": 3.5})
    await scheduler.reconfigure(DetectionSettings(enabled=False, rules=[changed]))

    assert caught_up_rules(store) == []
    await scheduler.stop()
    store.close()
    await down.close()
