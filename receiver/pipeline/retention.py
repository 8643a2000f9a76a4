"""The retention prune in the running receiver: shortly after start, then every hour.

Each batch is one short transaction on the Store's writer (`receiver.storage.retention`); between two
batches the prune waits for a quiet moment in webhook intake, so acks queue behind one batch at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from receiver.metrics import ReceiverMetrics
from receiver.pipeline.intake import IntakeActivity
from receiver.storage.database import Store
from receiver.storage.retention import prune_before

log = structlog.get_logger("receiver.retention")

START_DELAY_SECONDS = 60.0
INTERVAL_SECONDS = 3600.0
# The longest a batch waits for webhook intake to be quiet before it goes anyway.
DEFER_TO_INTAKE_SECONDS = 0.5
DAY_SECONDS = 86400.0


class RetentionPruner:
    """Deletes what ended more than `retention_days` ago (0: nothing, and no task runs)."""

    def __init__(
        self,
        store: Store,
        retention_days: float,
        metrics: ReceiverMetrics,
        intake: IntakeActivity | None = None,
        on_notifications_pruned: Callable[[], None] | None = None,
    ) -> None:
        """`on_notifications_pruned`: called after a prune deleted raw notifications (the webhook's cache of
        recent bodies forgets them: a re-send answered from it would point at a deleted row, and be lost)."""
        self.store = store
        self.retention_days = retention_days
        self.metrics = metrics
        self.intake = intake
        self.on_notifications_pruned = on_notifications_pruned
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.retention_days > 0:
            self._task = asyncio.create_task(self._run(), name="retention")

    async def prune_once(self, now: float | None = None) -> dict[str, int]:
        """One whole prune; returns the rows deleted by table."""
        if self.retention_days <= 0:
            return {}
        cut = (now if now is not None else time.time()) - self.retention_days * DAY_SECONDS
        started = time.monotonic()
        totals: dict[str, int] = {}
        async for deleted in prune_before(self.store, cut):
            for table, count in deleted.items():
                if count:
                    self.metrics.retention_deleted.labels(table).inc(count)
                    totals[table] = totals.get(table, 0) + count
            if self.intake is not None:
                await self.intake.wait_quiet(DEFER_TO_INTAKE_SECONDS)
        if totals.get("notifications") and self.on_notifications_pruned is not None:
            self.on_notifications_pruned()
        seconds = time.monotonic() - started
        self.metrics.retention_prune_duration.set(seconds)
        self.metrics.retention_last_prune.set(time.time())
        log.info("retention_pruned", cut=cut, deleted=totals, seconds=round(seconds, 3))
        return totals

    async def _run(self) -> None:
        await asyncio.sleep(START_DELAY_SECONDS)
        while True:
            try:
                await self.prune_once()
            except Exception:  # retried at the next interval; nothing half-done stays (one batch, one commit)
                self.metrics.retention_failures.inc()
                log.exception("retention_prune_failed")
            await asyncio.sleep(INTERVAL_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
