"""A rule that is deleted (API) or removed (configuration) takes its firing incidents with it: they
resolve through the scheduler's resolution path (delivered like any resolution), and a cycle still running
when the rule goes opens nothing for it. Over a real Prometheus."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from demo.processes import ManagedProcess
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import SeriesData
from receiver.scheduled.scheduler import DetectionScheduler, DetectorFinding, detector_incident
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store
from receiver.web.rules import rule_routes
from tests.scheduled.conftest import QUERY, Injected

RULE = RuleSettings(name="fill_latency", query=QUERY)


class Harness:
    """A scheduler whose findings become stored incidents, as the receiver's do; resolutions recorded."""

    def __init__(self, store: Store, source: Any, settings: DetectionSettings) -> None:
        self.store = store
        self.resolved: list[str] = []
        self.scheduler = DetectionScheduler(
            store, source, settings, on_anomaly=self.open, on_resolved=self.resolved.extend
        )

    async def open(self, finding: DetectorFinding) -> str:
        incident = detector_incident(finding, finding.starts_at)
        await self.store.write(db_incidents.create_incident, incident)
        return incident.id

    def status(self, incident_id: str) -> str:
        incident = self.store.run_sync(db_incidents.get_incident, incident_id)
        assert incident is not None
        return incident.status

    def firing(self) -> list[str]:
        return [row["id"] for row in self.store.run_sync(db_incidents.list_incidents, status="firing")]


async def test_deleting_a_rule_through_the_api_resolves_its_firing_incident(
    injected: Injected, source, store, aiohttp_client
):
    harness = Harness(store, source, DetectionSettings(enabled=False))
    app = web.Application()
    app.add_routes(rule_routes(harness.scheduler))
    client = await aiohttp_client(app)
    assert (await client.post("/api/v1/rules", json=RULE.model_dump(mode="json"))).status == 201
    [incident_id] = (await harness.scheduler.run_cycle(now=injected.end)).incidents
    assert harness.status(incident_id) == "firing"

    assert (await client.delete(f"/api/v1/rules/{RULE.name}")).status == 204

    assert harness.status(incident_id) == "resolved" and harness.resolved == [incident_id]
    assert store.run_sync(db_incidents.resolve_pending, incident_id)  # its resolution goes to delivery
    await harness.scheduler.stop()


async def test_a_rule_removed_from_the_configuration_resolves_its_firing_incident(
    injected: Injected, source, store
):
    harness = Harness(store, source, DetectionSettings(enabled=False, rules=[RULE]))
    [incident_id] = (await harness.scheduler.run_cycle(now=injected.end)).incidents

    await harness.scheduler.reconfigure(DetectionSettings(enabled=False))  # a reload without the rule

    assert harness.status(incident_id) == "resolved" and harness.resolved == [incident_id]
    await harness.scheduler.stop()


async def test_a_rule_gone_after_a_restart_has_its_incident_resolved_by_the_first_cycle(
    injected: Injected, source, store
):
    before = Harness(store, source, DetectionSettings(enabled=False, rules=[RULE]))
    [incident_id] = (await before.scheduler.run_cycle(now=injected.end)).incidents
    await before.scheduler.stop()
    other = RuleSettings(name="other", query=QUERY, threshold=50)
    after = Harness(store, source, DetectionSettings(enabled=False, rules=[other]))  # restarted without it

    report = await after.scheduler.run_cycle(now=injected.end + 60)

    assert report.resolved == [incident_id] and after.resolved == [incident_id]
    assert after.firing() == []
    await after.scheduler.stop()


class HeldSource(PrometheusSource):
    """The real source, whose range queries wait for `release` once they are asked."""

    def __init__(self, settings: PrometheusSettings) -> None:
        super().__init__(settings)
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        self.asked.set()
        await self.release.wait()
        return await super().query_range(query, start, end, step)


async def test_a_rule_deleted_while_a_cycle_runs_opens_no_incident(
    injected: Injected, prometheus: ManagedProcess, store
):
    held = HeldSource(PrometheusSettings(url=prometheus.url, retries=0))
    harness = Harness(store, held, DetectionSettings(enabled=False))
    await harness.scheduler.add_rule(RULE)
    cycle = asyncio.create_task(harness.scheduler.run_cycle(now=injected.end))
    await asyncio.wait_for(held.asked.wait(), 10)

    await harness.scheduler.delete_rule(RULE.name)  # DELETE answered while the cycle fetches
    held.release.set()
    report = await cycle

    assert report.fresh == 1 and report.incidents == [] and harness.firing() == []
    await harness.scheduler.stop()
    await held.close()
