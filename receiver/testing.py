"""Helpers for tests (and benchmarks) that wait for background work: not used by the service itself."""

from __future__ import annotations

import asyncio
import time

import sqlite_utils

from receiver.delivery.service import DeliveryService
from receiver.models import STAGES
from receiver.pipeline.materializer import Materializer
from receiver.pipeline.workers import Pipeline
from receiver.storage import incidents as db_incidents
from receiver.storage.outbox import work_due_before


async def wait_idle(pipeline: Pipeline, within: float = 30.0) -> None:
    """Wait until no notification or incident is pending, queued or in flight; TimeoutError after `within`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await pipeline.sweep()
        if (
            not pipeline.queued
            and not await pipeline.store.run(db_incidents.work_ids, 1)
            and not await pipeline.store.run(db_incidents.count_pending_notifications)
        ):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("pipeline still busy")


async def drain(worker: DeliveryService | Materializer, within: float) -> None:
    """Let a delivery service send what is due within `within` seconds (TimeoutError if it cannot), or
    a materializer turn its pending notifications into incidents for at most `within` seconds."""
    if isinstance(worker, Materializer):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and await worker.step() >= worker.settings.materialize_batch:
            pass
        return
    outbox = worker.outbox
    if outbox is None:
        raise RuntimeError("drain() called before DeliveryService.start()")
    deadline = time.time() + within
    while await worker.store.run(work_due_before, deadline):
        if time.time() >= deadline:
            raise TimeoutError(f"delivery outbox not drained after {within}s")
        await asyncio.sleep(0.02)


def complete_stages(db: sqlite_utils.Database, incident_id: str, at: float) -> None:
    """Leave an incident as the pipeline leaves an analysed one: every stage `ok` at `at`, checkpoint
    `done`, no resolution pending (for tests and benchmarks that build stored history directly)."""
    for stage, following in zip(STAGES, [*STAGES[1:], "done"], strict=True):
        db_incidents.record_stage(db, incident_id, stage, "ok", "", at, 0.1, following)
    db_incidents.clear_resolve_pending(db, incident_id)
