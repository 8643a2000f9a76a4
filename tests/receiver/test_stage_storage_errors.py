"""A stage that fails on the database (locked, disk full) keeps its checkpoint and is retried, not lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from analyst.builtin.analyst import BuiltinAnalyst
from receiver.config import PipelineSettings
from receiver.delivery import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    SlackSettings,
)
from receiver.delivery.planner import DeliveryPlanner
from receiver.delivery.service import DeliveryService
from receiver.evidence.settings import ContextSettings
from receiver.metrics import create_metrics
from receiver.payload import parse_webhook
from receiver.pipeline.stages import StagePlugins, build_stages
from receiver.pipeline.workers import Pipeline, StageContext, StageOutcome
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store, fetch_all
from receiver.testing import wait_idle

FIRING = "captured-am025-prom242-firing.json"
LOCKED = sqlite3.OperationalError("database is locked")
UNIQUE = sqlite3.IntegrityError("UNIQUE constraint failed")


def ingest(store: Store, corpus: Path) -> list[str]:
    data = (corpus / FIRING).read_bytes()
    return store.write_sync(db_incidents.ingest_notification, parse_webhook(data), data).created


def stage_rows(store: Store, incident_id: str, stage: str) -> list[tuple[str, str]]:
    detail = store.run_sync(db_incidents.incident_detail, incident_id)
    assert detail is not None
    return [(s["outcome"], s["detail"]) for s in detail["stages"] if s["stage"] == stage]


def failing_once(ran: list[tuple[str, str]], name: str, exc: Exception) -> Any:
    failed: set[str] = set()

    async def run(ctx: StageContext) -> StageOutcome:
        ran.append((ctx.incident.id, name))
        if ctx.incident.id not in failed:
            failed.add(ctx.incident.id)
            raise exc
        return StageOutcome("ok", f"{name} detail")

    return run


def recorder(ran: list[tuple[str, str]], name: str) -> Any:
    async def run(ctx: StageContext) -> StageOutcome:
        ran.append((ctx.incident.id, name))
        return StageOutcome("ok", f"{name} detail")

    return run


@pytest.mark.parametrize("stage", ["announce", "deliver"])
async def test_a_storage_error_keeps_the_checkpoint_and_the_sweeper_retries_the_stage_other_errors_do_not(
    tmp_path: Path, webhook_corpus: Path, stage: str
) -> None:
    store = Store(tmp_path / "db.sqlite")
    ids = ingest(store, webhook_corpus)
    ran: list[tuple[str, str]] = []
    stages = {n: recorder(ran, n) for n in db_incidents.STAGES}
    stages[stage] = failing_once(ran, stage, LOCKED)
    # An error of the statement itself would fail again: recorded as today, and the next stage runs.
    stages["detect"] = failing_once(ran, "detect", UNIQUE)
    pipeline = Pipeline(store, stages, PipelineSettings(sweep_interval_seconds=0.05), create_metrics())

    await pipeline.process(ids[0])
    incident = store.run_sync(db_incidents.get_incident, ids[0])
    assert incident is not None and incident.stage == stage  # not moved past the failed stage
    assert stage_rows(store, ids[0], stage) == []  # nor recorded as an error
    assert pipeline.metrics.stage_failures.labels(stage)._value.get() == 1

    await pipeline.start()
    await wait_idle(pipeline)
    await pipeline.stop()
    for incident_id in ids:
        assert [n for i, n in ran if i == incident_id].count(stage) == 2  # failed, then retried
        assert stage_rows(store, incident_id, stage) == [("ok", f"{stage} detail")]
        assert [n for i, n in ran if i == incident_id].count("detect") == 1
        assert stage_rows(store, incident_id, "detect") == [("error", f"IntegrityError: {UNIQUE}")]
        assert store.run_sync(db_incidents.get_incident, incident_id).stage == "done"  # type: ignore[union-attr]
    store.close()


async def test_a_delivery_whose_planning_hits_a_locked_database_is_delivered_on_the_next_run(
    tmp_path: Path, webhook_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "db.sqlite")
    ids = ingest(store, webhook_corpus)
    # Not started: planned rows wait in the outbox, which is what this test looks at.
    delivery = DeliveryService(
        store,
        grafana=GrafanaSettings(),
        slack=SlackSettings(),
        pagerduty=PagerDutySettings(),
        outgoing_webhook=OutgoingWebhookSettings(url="http://127.0.0.1:9/hook"),
        noise=NoiseSettings(),
        public_url="http://alert-analyst.test:8080",
    )
    original = DeliveryPlanner.plan_diagnosis
    locked_once: set[str] = set()

    def plan_diagnosis(self: DeliveryPlanner, db: Any, incident: Any, *args: Any, **kwargs: Any) -> Any:
        if incident.id not in locked_once:  # another process held the write lock past the busy timeout
            locked_once.add(incident.id)
            raise sqlite3.OperationalError("database is locked")
        return original(self, db, incident, *args, **kwargs)

    monkeypatch.setattr(DeliveryPlanner, "plan_diagnosis", plan_diagnosis)
    plugins = StagePlugins(None, ContextSettings(), BuiltinAnalyst(), delivery)
    pipeline = Pipeline(
        store, build_stages(plugins), PipelineSettings(sweep_interval_seconds=0.05), create_metrics()
    )

    def outbox_kinds(incident_id: str) -> list[str]:
        rows = store.run_sync(
            fetch_all, "SELECT kind FROM delivery_outbox WHERE incident_id=? ORDER BY id", (incident_id,)
        )
        return [r["kind"] for r in rows]

    await pipeline.process(ids[0])
    incident = store.run_sync(db_incidents.get_incident, ids[0])
    assert incident is not None and incident.stage == "deliver"
    before = outbox_kinds(ids[0])  # the announcement only

    await pipeline.start()
    await wait_idle(pipeline)
    await pipeline.stop()
    for incident_id in ids:
        assert store.run_sync(db_incidents.get_incident, incident_id).stage == "done"  # type: ignore[union-attr]
        assert stage_rows(store, incident_id, "deliver") == [("ok", "queued")]
    after = outbox_kinds(ids[0])
    assert len(after) > len(before)  # the diagnosis was planned on the retry
    assert locked_once == set(ids)
    store.close()
