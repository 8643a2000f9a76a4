"""An alert that fires again: the older occurrence is superseded, and a recent analysis is reused."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from analyst.builtin.analyst import BuiltinAnalyst
from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence, evidence_to_dict
from receiver.evidence.settings import ContextSettings
from receiver.metrics import create_metrics
from receiver.payload import parse_webhook
from receiver.pipeline.settings import PipelineSettings
from receiver.pipeline.stages import StagePlugins, build_stages, empty_evidence
from receiver.pipeline.workers import Pipeline, StageContext, StageOutcome
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store, fetch_all
from receiver.testing import drain, wait_idle
from receiver.web.keys import MATERIALIZER, STORE
from tests.delivery.builders import STARTS_AT, make_diagnosis, make_incident
from tests.delivery.test_planner import planner

from .conftest import ClientFactory

FIRING = "captured-am025-prom242-firing.json"


def occurrence(corpus: Path, shift: float = 0.0) -> bytes:
    """The corpus notification with every alert's startsAt moved `shift` seconds later."""
    payload = json.loads((corpus / FIRING).read_bytes())
    parsed = parse_webhook(json.dumps(payload).encode())
    for alert, original in zip(payload["alerts"], parsed.alerts, strict=True):
        starts = original.starts_at + shift
        alert["startsAt"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(starts)) + f"{starts % 1:.3f}Z"[1:]
    return json.dumps(payload).encode()


def ingest(store: Store, data: bytes) -> db_incidents.IngestResult:
    return store.write_sync(db_incidents.ingest_notification, parse_webhook(data), data)


def rows(store: Store, sql: str, *params: Any) -> list[dict[str, Any]]:
    return store.write_sync(lambda db: fetch_all(db, sql, params))


def test_a_newer_start_of_the_same_alert_closes_the_older_occurrence(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    first = ingest(store, occurrence(webhook_corpus))
    again = ingest(store, occurrence(webhook_corpus, shift=120))

    assert sorted(again.superseded) == sorted(first.created)
    assert again.resolved == []  # never announced: they leave the pipeline silently
    old = rows(store, "SELECT * FROM incidents WHERE id IN (?, ?)", *first.created)
    new = {r["id"]: r for r in rows(store, "SELECT * FROM incidents WHERE id IN (?, ?)", *again.created)}
    for row in old:
        assert row["status"] == "resolved" and row["stage"] == "done" and row["resolve_pending"] == 0
        successor = new[row["superseded_by"]]
        assert successor["fingerprint"] == row["fingerprint"] and successor["status"] == "firing"
        assert row["ends_at"] == successor["starts_at"] == row["starts_at"] + 120
    # A re-send of the newer occurrence supersedes nothing more.
    assert ingest(store, occurrence(webhook_corpus, shift=120)).superseded == []
    assert sorted(db_incidents.work_ids(store.db, 10)) == sorted(again.created)


def test_an_announced_occurrence_that_is_superseded_gets_its_resolution(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    first = ingest(store, occurrence(webhook_corpus))
    announced = first.created[0]
    store.write_sync(
        lambda db: db.conn.execute("UPDATE incidents SET stage='diagnose' WHERE id=?", (announced,))
    )
    again = ingest(store, occurrence(webhook_corpus, shift=60))

    assert again.resolved == [announced]
    (row,) = rows(store, "SELECT stage, resolve_pending, status FROM incidents WHERE id=?", announced)
    assert row == {"stage": "done", "resolve_pending": 1, "status": "resolved"}


async def test_a_superseded_incident_stops_after_the_stage_it_was_in(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    first = ingest(store, occurrence(webhook_corpus))
    ran: list[tuple[str, str]] = []
    resolved: list[str] = []

    def stage(name: str) -> Any:
        async def run(ctx: StageContext) -> StageOutcome:
            ran.append((ctx.incident.id, name))
            if name == "collect_evidence" and ctx.incident.id in first.created:
                data = occurrence(webhook_corpus, shift=60)  # the alert fires again meanwhile
                await store.write(db_incidents.ingest_notification, parse_webhook(data), data)
            return StageOutcome("ok")

        return run

    async def on_resolved(incident: Any) -> None:
        resolved.append(incident.id)

    pipeline = Pipeline(
        store,
        {n: stage(n) for n in db_incidents.STAGES},
        PipelineSettings(workers=1),
        create_metrics(),
        on_resolved=on_resolved,
    )
    await pipeline.start()
    await wait_idle(pipeline)
    await pipeline.stop()

    old = first.created[0]
    assert [name for incident, name in ran if incident == old] == ["announce", "collect_evidence"]
    assert old in resolved  # it was announced, so its thread hears that it ended
    newer = [i for i, _ in ran if i not in first.created]
    assert newer and all([n for i, n in ran if i == new] == list(db_incidents.STAGES) for new in set(newer))


class CountingAnalyst(BuiltinAnalyst):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def diagnose(self, evidence: Evidence) -> DiagnosisResult:
        self.calls.append(evidence.incident_id)
        return await super().diagnose(evidence)


async def run_real_stages(
    store: Store, analyst: CountingAnalyst, reuse_seconds: float, source: Any = None
) -> None:
    plugins = StagePlugins(source, ContextSettings(), analyst, None, reuse_analysis_seconds=reuse_seconds)
    pipeline = Pipeline(store, build_stages(plugins), PipelineSettings(workers=2), create_metrics())
    await pipeline.start()
    await wait_idle(pipeline)
    await pipeline.stop()


async def test_an_alert_that_fires_again_soon_reuses_its_analysis(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    analyst = CountingAnalyst()
    first = ingest(store, occurrence(webhook_corpus))
    await run_real_stages(store, analyst, reuse_seconds=300)
    assert sorted(analyst.calls) == sorted(first.created)

    for old in first.created:  # as collect_evidence keeps it when a metric source is configured
        evidence = {"incident_id": old, "series": [{"series_id": f"up of {old}"}]}
        store.write_sync(db_incidents.save_evidence, old, evidence)
    again = ingest(store, occurrence(webhook_corpus, shift=60))
    await run_real_stages(store, analyst, reuse_seconds=300)

    assert len(analyst.calls) == 2  # no new analysis
    for new, old in zip(again.created, first.created, strict=True):
        outcomes = rows(store, "SELECT stage, outcome, detail FROM stage_results WHERE incident_id=?", new)
        by_stage = {r["stage"]: r for r in outcomes}
        assert [by_stage[s]["outcome"] for s in ("collect_evidence", "detect", "diagnose")] == ["reused"] * 3
        assert old in by_stage["collect_evidence"]["detail"]
        (diagnosis,) = rows(store, "SELECT body FROM diagnoses WHERE incident_id=?", new)
        body = json.loads(diagnosis["body"])
        assert body["incident_id"] == new and body["cached"] is True
        assert any(old in note for note in body["notes"])
        (row,) = rows(store, "SELECT evidence, evidence_of FROM incidents WHERE id=?", new)
        assert row == {"evidence": None, "evidence_of": old}  # referenced, not copied
        kept = store.write_sync(db_incidents.load_evidence, new)
        assert kept == {"incident_id": new, "series": [{"series_id": f"up of {old}"}]}


async def test_reuse_is_off_at_zero_and_ends_with_its_window(tmp_path: Path, webhook_corpus: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    analyst = CountingAnalyst()
    ingest(store, occurrence(webhook_corpus))
    await run_real_stages(store, analyst, reuse_seconds=300)
    ingest(store, occurrence(webhook_corpus, shift=60))
    await run_real_stages(store, analyst, reuse_seconds=0)
    assert len(analyst.calls) == 4  # off: analysed again

    # The newest analyses are 400 s old: outside a 300-s window.
    store.write_sync(lambda db: db.conn.execute("UPDATE recent_analyses SET analysed_at = analysed_at - 400"))
    ingest(store, occurrence(webhook_corpus, shift=120))
    await run_real_stages(store, analyst, reuse_seconds=300)
    assert len(analyst.calls) == 6


def test_a_repeated_analysis_is_suppressed_in_the_thread_that_shows_the_earlier_one() -> None:
    incident = make_incident()
    plan = planner().diagnosis(
        _announced_snapshot(earlier="inc-earlier"), incident, make_diagnosis(), STARTS_AT + 60, "inc-earlier"
    )
    assert plan.rows and all(r.row.status == "suppressed" for r in plan.rows)
    assert all("inc-earlier" in (r.row.last_error or "") for r in plan.rows)
    # The earlier incident was in a thread that has since closed: this one's is new and gets the analysis.
    elsewhere = planner().diagnosis(
        _announced_snapshot(), incident, make_diagnosis(), STARTS_AT + 60, repeat_of="inc-earlier"
    )
    fresh = planner().diagnosis(_announced_snapshot(), incident, make_diagnosis(), STARTS_AT + 60)
    for plan in (elsewhere, fresh):
        assert plan.rows and all(r.row.status != "suppressed" for r in plan.rows)


def _announced_snapshot(earlier: str | None = None) -> Any:
    from receiver.delivery.planner import Member, Snapshot, Thread

    thread = Thread("g", "inc-0", "#alerts", 41, "PnLDrawdownHigh", "critical", "drawdown", STARTS_AT - 60)
    members = (Member(earlier, "resolved", STARTS_AT - 30, STARTS_AT - 10),) if earlier else ()
    return Snapshot(decided=True, thread=thread, members=members)


async def test_the_api_and_the_page_name_the_successor_and_the_reused_analysis(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    store = client.app[STORE]
    headers = {"Content-Type": "application/json"}
    first = await (
        await client.post("/webhook/alertmanager", data=occurrence(webhook_corpus), headers=headers)
    ).json()
    await drain(client.app[MATERIALIZER], 10)
    old = first["incidents"][0]
    incident = await store.run(db_incidents.get_incident, old)
    stored = evidence_to_dict(empty_evidence(incident))
    await store.write(db_incidents.save_evidence, old, stored)
    again = await (
        await client.post("/webhook/alertmanager", data=occurrence(webhook_corpus, shift=60), headers=headers)
    ).json()
    await drain(client.app[MATERIALIZER], 10)
    new = next(i for i in again["incidents"] if i not in first["incidents"] and _same_alert(store, i, old))
    await store.write(db_incidents.link_evidence, new, old)  # what a reused analysis records

    detail = await (await client.get(f"/api/v1/incidents/{old}")).json()
    assert detail["incident"]["superseded_by"] == new and detail["incident"]["status"] == "resolved"
    detail = await (await client.get(f"/api/v1/incidents/{new}")).json()
    assert detail["incident"]["evidence_of"] == old
    assert detail["evidence"] == {**json.loads(json.dumps(stored)), "incident_id": new}
    page = await (await client.get(f"/ui/incidents/{old}")).text()
    assert f'ended when the alert fired again: <a href="/ui/incidents/{new}">' in page
    page = await (await client.get(f"/ui/incidents/{new}")).text()
    assert f'analysis reused from <a href="/ui/incidents/{old}">' in page


def _same_alert(store: Store, a: str, b: str) -> bool:
    fingerprints = rows(store, "SELECT DISTINCT fingerprint FROM incidents WHERE id IN (?, ?)", a, b)
    return len(fingerprints) == 1


class FallingBackAnalyst(CountingAnalyst):
    async def diagnose(self, evidence: Evidence) -> DiagnosisResult:
        result = await super().diagnose(evidence)
        return dataclasses.replace(result, fallback_reason="LLM timed out")


async def test_an_analysis_that_fell_back_is_not_reused(tmp_path: Path, webhook_corpus: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    analyst = FallingBackAnalyst()
    ingest(store, occurrence(webhook_corpus))
    await run_real_stages(store, analyst, reuse_seconds=300)
    ingest(store, occurrence(webhook_corpus, shift=60))
    await run_real_stages(store, analyst, reuse_seconds=300)
    assert len(analyst.calls) == 4  # the re-fired alerts are analysed again, not given the fallback


async def test_an_analysis_without_metrics_is_not_reused(tmp_path: Path, webhook_corpus: Path) -> None:
    from demo.processes import free_port
    from receiver.evidence.prometheus import PrometheusSource
    from receiver.evidence.settings import PrometheusSettings

    down = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    store, analyst = Store(tmp_path / "db.sqlite"), CountingAnalyst()
    for shift in (0, 60):  # Prometheus is down both times: the second is analysed again, not reused
        ingest(store, occurrence(webhook_corpus, shift=shift))
        await run_real_stages(store, analyst, reuse_seconds=300, source=down)
    await down.close()
    assert len(analyst.calls) == 4
    outcomes = rows(store, "SELECT DISTINCT outcome FROM stage_results WHERE stage='collect_evidence'")
    assert "reused" not in {r["outcome"] for r in outcomes}


def resolved_occurrence(corpus: Path, shift: float) -> bytes:
    """`occurrence(corpus, shift)` first seen already resolved, a minute after its start."""
    payload = json.loads(occurrence(corpus, shift))
    payload["status"] = "resolved"
    for alert in payload["alerts"]:
        alert["status"] = "resolved"
        ends = parse_webhook(json.dumps({**payload, "alerts": [alert]}).encode()).alerts[0].starts_at + 60
        alert["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ends)) + f"{ends % 1:.3f}Z"[1:]
    return json.dumps(payload).encode()


async def test_reuse_is_only_between_firing_alerts(tmp_path: Path, webhook_corpus: Path) -> None:
    """An alert first seen resolved is analysed for its recovery, and a firing one never gets that
    analysis. Before: each took the other's (a firing alert told to 'confirm the recovery holds')."""
    store = Store(tmp_path / "db.sqlite")
    analyst = CountingAnalyst()
    ingest(store, resolved_occurrence(webhook_corpus, shift=0))
    await run_real_stages(store, analyst, reuse_seconds=300)
    firing = ingest(store, occurrence(webhook_corpus, shift=60))
    await run_real_stages(store, analyst, reuse_seconds=300)
    assert set(firing.created) <= set(analyst.calls) and len(analyst.calls) == 4

    later = ingest(store, resolved_occurrence(webhook_corpus, shift=120))
    await run_real_stages(store, analyst, reuse_seconds=300)
    assert set(later.created) <= set(analyst.calls) and len(analyst.calls) == 6
    reused = rows(store, "SELECT incident_id FROM stage_results WHERE outcome='reused'")
    assert reused == []
