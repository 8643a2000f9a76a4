"""Helpers for tests (and benchmarks) that wait for background work: not used by the service itself."""

from __future__ import annotations

import asyncio
import time

from receiver.delivery.service import DeliveryService
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
