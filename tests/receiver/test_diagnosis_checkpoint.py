"""A diagnosis is kept in the transaction that moves its incident's checkpoint on: a crash between the two
left a stored diagnosis at checkpoint `diagnose`, and the restart paid for a second analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from analyst.builtin.analyst import BuiltinAnalyst
from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence
from receiver.config import PipelineSettings
from receiver.evidence.settings import ContextSettings
from receiver.metrics import create_metrics
from receiver.payload import parse_webhook
from receiver.pipeline.stages import StagePlugins, build_stages
from receiver.pipeline.workers import Pipeline
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store, fetch_all

FIRING = "captured-am025-prom242-firing.json"


class CountingAnalyst:
    """The built-in analyst, counting its calls (each would be a paid LLM call)."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0
        self.builtin = BuiltinAnalyst()

    async def diagnose(self, evidence: Evidence) -> DiagnosisResult:
        self.calls += 1
        return await self.builtin.diagnose(evidence)


class Crash(Exception):
    """The process dying before the checkpoint's write commits."""


def diagnoses(store: Store, incident_id: str) -> list[dict[str, Any]]:
    return store.run_sync(fetch_all, "SELECT id FROM diagnoses WHERE incident_id=?", (incident_id,))


def stage_of(store: Store, incident_id: str) -> str:
    incident = store.run_sync(db_incidents.get_incident, incident_id)
    assert incident is not None
    return incident.stage


def pipeline_over(store: Store, analyst: CountingAnalyst) -> Pipeline:
    plugins = StagePlugins(None, ContextSettings(), analyst, None)
    return Pipeline(store, build_stages(plugins), PipelineSettings(), create_metrics())


async def crashed_at(
    stage: str, path: Path, webhook_corpus: Path, analyst: CountingAnalyst, monkeypatch: pytest.MonkeyPatch
) -> tuple[Store, str]:
    """A store at `path` holding the corpus' firing incident, and that incident's id, after its pipeline
    died as it recorded `stage` (the process dying before that write commits)."""
    store = Store(path)
    data = (webhook_corpus / FIRING).read_bytes()
    incident_id = store.write_sync(db_incidents.ingest_notification, parse_webhook(data), data).created[0]
    record_stage = db_incidents.record_stage

    def crashing(db: sqlite_utils.Database, incident: str, at: str, *row: Any) -> bool:
        if at == stage:
            raise Crash
        return record_stage(db, incident, at, *row)

    with monkeypatch.context() as patch:
        patch.setattr(db_incidents, "record_stage", crashing)
        with pytest.raises(Crash):
            await pipeline_over(store, analyst).process(incident_id)
    return store, incident_id


async def test_a_crash_before_the_diagnose_checkpoint_leaves_no_diagnosis_and_the_restart_stores_one(
    tmp_path: Path, webhook_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, analyst = tmp_path / "aa.db", CountingAnalyst()
    store, incident_id = await crashed_at("diagnose", path, webhook_corpus, analyst, monkeypatch)
    assert analyst.calls == 1
    # Nothing half-kept: a diagnosis stored here would be made again after the restart.
    assert stage_of(store, incident_id) == "diagnose"
    assert diagnoses(store, incident_id) == []
    store.close()

    store = Store(path)
    await pipeline_over(store, analyst).process(incident_id)
    assert stage_of(store, incident_id) == "done"
    assert len(diagnoses(store, incident_id)) == 1
    store.close()


async def test_a_restart_after_the_diagnose_checkpoint_does_not_call_the_analyst_again(
    tmp_path: Path, webhook_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, analyst = tmp_path / "aa.db", CountingAnalyst()
    store, incident_id = await crashed_at("deliver", path, webhook_corpus, analyst, monkeypatch)
    store.close()

    store = Store(path)
    await pipeline_over(store, analyst).process(incident_id)
    assert analyst.calls == 1
    assert len(diagnoses(store, incident_id)) == 1
    store.close()
