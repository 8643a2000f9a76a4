"""Stored notifications become incidents behind the ack: in order, after a restart, deferring to intake."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from receiver.config import PipelineSettings
from receiver.metrics import create_metrics
from receiver.payload import parse_webhook
from receiver.pipeline import materializer as materializer_module
from receiver.pipeline.intake import IntakeActivity
from receiver.pipeline.materializer import Materializer
from receiver.pipeline.workers import Pipeline
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store
from receiver.testing import drain
from tests.support.polling import eventually

FIRING = "captured-am025-prom242-firing.json"
RESOLVED = "captured-am025-prom242-resolved.json"


def accept(store: Store, corpus: Path, name: str) -> list[str]:
    """What the webhook commits before answering: the raw notification only."""
    data = (corpus / name).read_bytes()
    payload = parse_webhook(data)
    store.write_sync(db_incidents.accept_notification, payload, data)
    return db_incidents.incident_ids(payload)


def make(
    store: Store, intake: IntakeActivity | None = None, **settings: object
) -> tuple[Materializer, Pipeline]:
    pipeline_settings = PipelineSettings(**settings)
    metrics = create_metrics()
    pipeline = Pipeline(store, {}, pipeline_settings, metrics)
    return Materializer(store, pipeline, pipeline_settings, metrics, intake), pipeline


def pending(store: Store) -> int:
    return store.run_sync(db_incidents.count_pending_notifications)


async def test_notifications_left_pending_by_a_crash_are_materialised_at_start(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    ids = accept(store, webhook_corpus, FIRING)
    assert pending(store) == 1 and store.run_sync(db_incidents.get_incident, ids[0]) is None
    store.close()

    store = Store(tmp_path / "db.sqlite")  # "restart"
    materializer, pipeline = make(store)
    await materializer.start()
    await eventually(lambda: pending(store) == 0, within=5.0)
    await materializer.stop()
    assert all(store.run_sync(db_incidents.get_incident, i) is not None for i in ids)
    assert len(pipeline.queue) == len(ids)  # handed to the pipeline for analysis
    value = materializer.metrics.registry.get_sample_value(
        "alert_analyst_incidents_created_total", {"source": "alertmanager"}
    )
    assert value == 2.0


async def test_firing_then_resolved_are_applied_in_arrival_order(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    ids = accept(store, webhook_corpus, FIRING)
    accept(store, webhook_corpus, RESOLVED)
    # Firing again after the resolution (Alertmanager sends the group's state as it is now: a firing
    # alert after a resolved one fires again, if with its first startsAt) is a new occurrence; the
    # resolved incident stays resolved.
    accept(store, webhook_corpus, FIRING)
    materializer, _ = make(store, materialize_batch=1)
    await materializer.start()
    await drain(materializer, 10)
    await materializer.stop()
    incident = store.run_sync(db_incidents.get_incident, ids[0])
    assert incident is not None and incident.status == "resolved"
    firing = store.run_sync(db_incidents.list_incidents, status="firing")
    assert len(firing) == len(ids) and ids[0] not in {row["id"] for row in firing}
    assert pending(store) == 0


async def test_defers_while_webhooks_are_in_flight_unless_the_backlog_is_too_deep(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    accept(store, webhook_corpus, FIRING)
    intake = IntakeActivity()
    materializer, _ = make(store, intake, defer_to_intake_seconds=30)
    with intake.receiving():
        await materializer.start()
        await asyncio.sleep(0.3)
        assert pending(store) == 1  # deferred: a webhook is being acknowledged
    await eventually(lambda: pending(store) == 0, within=5.0)
    await materializer.stop()

    accept(store, webhook_corpus, RESOLVED)
    accept(store, webhook_corpus, FIRING)
    deep, _ = make(store, intake, defer_to_intake_seconds=30, max_deferred_notifications=1)
    with intake.receiving():
        await deep.start()  # two waiting > 1: no deferring
        await eventually(lambda: pending(store) == 0, within=5.0)
    await deep.stop()


async def test_the_pending_gauge_follows_the_backlog(tmp_path: Path, webhook_corpus: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    intake = IntakeActivity()
    materializer, _ = make(store, intake, defer_to_intake_seconds=30, materialize_batch=2)
    await materializer.start()
    gauge = "alert_analyst_notifications_pending"
    with intake.receiving():
        for name in (FIRING, RESOLVED, FIRING):
            accept(store, webhook_corpus, name)
            materializer.accepted()
        await asyncio.sleep(0.1)
        assert materializer.metrics.registry.get_sample_value(gauge) == 3.0
    await eventually(lambda: materializer.metrics.registry.get_sample_value(gauge) == 0.0, within=5.0)
    await materializer.stop()
    assert pending(store) == 0


async def test_a_storage_failure_is_retried_and_nothing_is_lost(
    tmp_path: Path, webhook_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "db.sqlite")
    ids = accept(store, webhook_corpus, FIRING)
    real = db_incidents.materialize_pending
    calls: list[int] = []

    def flaky(db: Any, limit: int) -> Any:
        calls.append(limit)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(db, limit)

    monkeypatch.setattr(db_incidents, "materialize_pending", flaky)
    monkeypatch.setattr(materializer_module, "RETRY_SECONDS", 0.05)
    materializer, _ = make(store)
    await materializer.start()
    await eventually(lambda: pending(store) == 0, within=5.0)
    assert materializer.alive
    await materializer.stop()
    assert len(calls) >= 2 and store.run_sync(db_incidents.get_incident, ids[0]) is not None


async def test_an_unparseable_stored_body_is_skipped_without_stalling_the_rest(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    ids = accept(store, webhook_corpus, FIRING)
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:  # a hand-edited row
        conn.execute(
            "INSERT INTO notifications (received_at, group_key, status, body, pending)"
            " VALUES (1.0, 'g', 'firing', 'not json', 1)"
        )
    accept(store, webhook_corpus, RESOLVED)
    materializer, _ = make(store, materialize_batch=1)
    await materializer.start()
    await eventually(lambda: pending(store) == 0, within=5.0)
    await materializer.stop()
    incident = store.run_sync(db_incidents.get_incident, ids[0])
    assert incident is not None and incident.status == "resolved"


async def test_a_steady_stream_of_webhooks_does_not_outgrow_materialisation(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    """Intake is never quiet: deferring each batch would materialise one batch per defer period (64/s here,
    less than the 150/s arriving); a notification waits at most max_materialize_delay_seconds instead."""
    store = Store(tmp_path / "db.sqlite")
    intake = IntakeActivity()
    materializer, _ = make(store, intake, defer_to_intake_seconds=0.25, max_materialize_delay_seconds=0.5)
    await materializer.start()
    body = (webhook_corpus / FIRING).read_bytes()
    payload = parse_webhook(body)
    stop = asyncio.Event()

    async def stream() -> None:  # 150 notifications/s, each acknowledged while another is in flight
        with intake.receiving():
            while not stop.is_set():
                await store.write(db_incidents.accept_notification, payload, body)
                materializer.accepted()
                await asyncio.sleep(1 / 150)

    sender = asyncio.create_task(stream())
    await asyncio.sleep(4)
    during = pending(store)
    stop.set()
    await sender
    assert during < 150, during  # under a second of arrivals waits, not a growing backlog
    await eventually(lambda: pending(store) == 0, within=3.0)
    await materializer.stop()
    store.close()


async def test_a_persistent_failure_is_retried_ever_less_often_and_logged_in_one_line(
    tmp_path: Path, webhook_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first failure in a row comes with its traceback, the next ones as one line each, spaced by
    a doubling delay (at most MAX_RETRY_SECONDS); the recovery is logged once."""
    store = Store(tmp_path / "db.sqlite")
    accept(store, webhook_corpus, FIRING)
    real = db_incidents.materialize_pending
    calls: list[int] = []

    def failing_thrice(db: Any, limit: int) -> Any:  # each attempt runs it twice: in a batch, then alone
        calls.append(limit)
        if len(calls) <= 6:
            raise sqlite3.DatabaseError("database disk image is malformed")
        return real(db, limit)

    monkeypatch.setattr(db_incidents, "materialize_pending", failing_thrice)
    monkeypatch.setattr(materializer_module, "RETRY_SECONDS", 0.01)
    materializer, _ = make(store)
    with capture_logs() as logs:
        await materializer.start()
        await eventually(lambda: pending(store) == 0, within=5.0)
        # the batch is committed before its step returns, and the recovery is logged after it returns:
        # stopping in between (a slow machine) cancels the step before the log line
        await eventually(lambda: any(e["event"] == "materialize_recovered" for e in logs), within=5.0)
        await materializer.stop()
    store.close()
    failed = [e for e in logs if e["event"] == "materialize_failed"]
    assert [("exc_info" in e, e.get("failures")) for e in failed] == [(True, None), (False, 2), (False, 3)]
    assert [e["failures"] for e in logs if e["event"] == "materialize_recovered"] == [3]
    delays = [materializer_module.retry_delay(n) for n in range(1, 20)]
    assert delays[:3] == [0.01, 0.02, 0.04] and delays[-1] == materializer_module.MAX_RETRY_SECONDS
