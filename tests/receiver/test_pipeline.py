"""The worker pool runs stages in order, records outcomes, survives failures and resumes after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from receiver.config import PipelineSettings
from receiver.metrics import create_metrics
from receiver.payload import parse_webhook
from receiver.pipeline.workers import Pipeline, StageContext, StageOutcome
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store
from receiver.testing import wait_idle

FIRING = "captured-am025-prom242-firing.json"


def ingest(store: Store, corpus: Path) -> list[str]:
    data = (corpus / FIRING).read_bytes()
    return store.write_sync(db_incidents.ingest_notification, parse_webhook(data), data).created


def recorder(log: list[tuple[str, str]], name: str, outcome: str = "ok", exc: Exception | None = None) -> Any:
    async def run(ctx: StageContext) -> StageOutcome:
        async with ctx.heavy_work():  # as the real stages do around heavy work
            log.append((ctx.incident.id, name))
        if exc is not None:
            raise exc
        return StageOutcome(outcome, f"{name} detail")  # type: ignore[arg-type]

    return run


async def run_pipeline(store: Store, stages: dict[str, Any], **settings: Any) -> Pipeline:
    pipeline = Pipeline(store, stages, PipelineSettings(**settings), create_metrics())
    await pipeline.start()
    await wait_idle(pipeline)
    await pipeline.stop()
    return pipeline


async def test_stages_run_in_order_and_are_recorded(tmp_path: Path, webhook_corpus: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    ids = ingest(store, webhook_corpus)
    log: list[tuple[str, str]] = []
    stages = {n: recorder(log, n) for n in db_incidents.STAGES}
    await run_pipeline(store, stages)
    for incident_id in ids:
        assert [s for i, s in log if i == incident_id] == list(db_incidents.STAGES)
        detail = store.run_sync(db_incidents.incident_detail, incident_id)
        assert detail is not None
        assert [s["stage"] for s in detail["stages"]] == list(db_incidents.STAGES)
        assert detail["incident"]["stage"] == "done"


async def test_a_failing_stage_is_recorded_and_the_next_stage_still_runs(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    ids = ingest(store, webhook_corpus)
    log: list[tuple[str, str]] = []
    stages = {n: recorder(log, n) for n in db_incidents.STAGES}
    stages["collect_evidence"] = recorder(log, "collect_evidence", exc=RuntimeError("prometheus exploded"))
    pipeline = await run_pipeline(store, stages)
    detail = store.run_sync(db_incidents.incident_detail, ids[0])
    assert detail is not None
    outcomes = {s["stage"]: (s["outcome"], s["detail"]) for s in detail["stages"]}
    assert outcomes["collect_evidence"] == ("error", "RuntimeError: prometheus exploded")
    assert outcomes["deliver"][0] == "ok"
    assert pipeline.metrics.stage_failures.labels("collect_evidence")._value.get() == 2


async def test_a_stage_past_its_timeout_is_an_error(tmp_path: Path, webhook_corpus: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    ids = ingest(store, webhook_corpus)

    async def hang(ctx: StageContext) -> StageOutcome:
        await asyncio.sleep(60)
        return StageOutcome("ok")

    await run_pipeline(store, {"diagnose": hang}, stage_timeout_seconds=0.2)
    detail = store.run_sync(db_incidents.incident_detail, ids[0])
    assert detail is not None
    diagnose = next(s for s in detail["stages"] if s["stage"] == "diagnose")
    assert diagnose["outcome"] == "error" and "timed out" in diagnose["detail"]


async def test_stop_checkpoints_in_flight_work_and_a_restart_resumes_it(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    path = tmp_path / "db.sqlite"
    store = Store(path)
    ids = ingest(store, webhook_corpus)
    started = asyncio.Event()
    entered: set[str] = set()

    async def slow(ctx: StageContext) -> StageOutcome:
        entered.add(ctx.incident.id)
        if entered >= set(ids):  # every incident is inside the stage (on a loaded box one may lag)
            started.set()
        await asyncio.sleep(60)
        return StageOutcome("ok")

    first = Pipeline(
        store, {"detect": slow}, PipelineSettings(shutdown_timeout_seconds=0.2), create_metrics()
    )
    await first.start()
    await asyncio.wait_for(started.wait(), 5)
    await first.stop()
    assert {store.run_sync(db_incidents.get_incident, i).stage for i in ids} == {"detect"}  # type: ignore[union-attr]
    store.close()

    store = Store(path)
    log: list[tuple[str, str]] = []
    await run_pipeline(store, {n: recorder(log, n) for n in db_incidents.STAGES})
    assert sorted(s for _, s in log) == sorted(["detect", "diagnose", "deliver"] * 2)


async def test_queue_is_bounded_and_the_sweeper_catches_up(tmp_path: Path, webhook_corpus: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    for path in sorted(webhook_corpus.glob("*.json")):
        data = path.read_bytes()
        store.write_sync(db_incidents.ingest_notification, parse_webhook(data), data)
    total = len(store.run_sync(db_incidents.work_ids, 1000))
    log: list[tuple[str, str]] = []
    await run_pipeline(
        store,
        {"deliver": recorder(log, "deliver")},
        queue_size=2,
        workers=1,
        sweep_interval_seconds=0.01,
    )
    assert len(log) == total > 2


async def test_stages_wait_while_webhooks_are_in_flight(tmp_path: Path, webhook_corpus: Path) -> None:
    from receiver.pipeline.intake import IntakeActivity

    store = Store(tmp_path / "db.sqlite")
    ingest(store, webhook_corpus)
    log: list[tuple[str, str]] = []
    intake = IntakeActivity()
    pipeline = Pipeline(
        store,
        {n: recorder(log, n) for n in db_incidents.STAGES},
        PipelineSettings(defer_to_intake_seconds=30),
        create_metrics(),
        intake=intake,
    )
    with intake.receiving():
        await pipeline.start()
        await asyncio.sleep(0.3)
        assert log == []  # deferred: a webhook is being acknowledged
    await wait_idle(pipeline)
    await pipeline.stop()
    assert len(log) == 2 * len(db_incidents.STAGES)


async def test_a_steady_stream_of_webhooks_defers_each_incident_once_not_each_stage(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    """Intake is never quiet: deferring before every stage ran one stage per defer period (a worker
    finished an incident every 1.25 s here); an incident defers defer_to_intake_seconds in all instead."""
    from receiver.pipeline.intake import IntakeActivity

    store = Store(tmp_path / "db.sqlite")
    body = (webhook_corpus / FIRING).read_bytes()
    for n in range(6):  # 2 alerts each: 12 incidents
        data = body.replace(b'"fingerprint":"', f'"fingerprint":"{n}'.encode())
        store.write_sync(db_incidents.ingest_notification, parse_webhook(data), data)
    log: list[tuple[str, str]] = []
    intake = IntakeActivity()
    pipeline = Pipeline(
        store,
        {n: recorder(log, n) for n in db_incidents.STAGES},
        PipelineSettings(defer_to_intake_seconds=0.25, workers=1),
        create_metrics(),
        intake=intake,
    )
    with intake.receiving():  # a webhook always in flight
        await pipeline.start()
        await asyncio.sleep(2.0)
        done = sum(stage == "deliver" for _, stage in log)
    await pipeline.stop()
    assert done >= 5, done  # about 8 (one 0.25-s deferral each); deferring every stage finished 1
