"""An anomaly that happens while a rule's query fails is not lost: the first cycle that evaluates the
rule again looks back to where the failed cycles began. Over a real Prometheus."""

from __future__ import annotations

from pathlib import Path

from demo.processes import ManagedProcess, free_port
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.scheduled.scheduler import DetectionScheduler, DetectorFinding
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage.database import Store
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
