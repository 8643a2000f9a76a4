"""Acknowledged notifications become incidents behind the answer, oldest first, also after a restart.

The webhook answers once the raw notification is committed (durable); this task then upserts the
incidents in small transactions and hands new and resolved ones to the pipeline. While webhooks are in
flight it defers (acks first), but a notification waits at most `max_materialize_delay_seconds` for a
quiet moment (a steady stream of webhooks is never quiet: deferring every batch capped materialisation at
one batch per `defer_to_intake_seconds`, and the backlog grew), nor while more than
`max_deferred_notifications` are waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from receiver.metrics import ReceiverMetrics
from receiver.pipeline.intake import IntakeActivity
from receiver.pipeline.settings import PipelineSettings
from receiver.pipeline.workers import Pipeline
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store

log = structlog.get_logger("receiver.materializer")

RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0  # a failure that persists (a damaged or full disk) is retried this often at most


class Materializer:
    """One task draining the `pending` notifications; `accepted` wakes it."""

    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        settings: PipelineSettings,
        metrics: ReceiverMetrics,
        intake: IntakeActivity | None = None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.settings = settings
        self.metrics = metrics
        self.intake = intake
        self.backlog = 0
        self._waiting_since: float | None = None  # when the backlog last went from empty to not
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self.backlog = await self.store.run(db_incidents.count_pending_notifications)
        self.metrics.notifications_pending.set(self.backlog)
        if self.backlog:
            log.info("resuming_notifications", pending=self.backlog)
            self._waiting_since = time.monotonic()
            self._wake.set()
        # Writes (incidents' triggers among them) rebuild a damaged full-text index: counted here.
        self.store.on_search_index_rebuilt = lambda rebuilt: self.metrics.search_index_rebuilds.labels(
            rebuilt.index
        ).inc()
        self._task = asyncio.create_task(self._run(), name="materializer")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def accepted(self) -> None:
        """A notification was committed: materialise it soon."""
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()
        self.backlog += 1
        self.metrics.notifications_pending.set(self.backlog)
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            await self._wake.wait()
            if (defer := self._deferral()) > 0 and self.intake is not None:
                await self.intake.wait_quiet(defer)
            try:
                await self.step()
            except Exception as exc:  # the rows stay pending: retried, and resumed after a restart
                failures += 1
                _log_failure(exc, failures)
                self._wake.set()
                await asyncio.sleep(retry_delay(failures))
            else:
                if failures:
                    log.info("materialize_recovered", failures=failures)
                failures = 0

    def _deferral(self) -> float:
        """How long to wait for intake to be quiet before the next batch (0: go now)."""
        if self.backlog > self.settings.max_deferred_notifications:
            return 0.0
        waited = time.monotonic() - self._waiting_since if self._waiting_since is not None else 0.0
        left = self.settings.max_materialize_delay_seconds - waited
        return max(0.0, min(self.settings.defer_to_intake_seconds, left))

    async def step(self) -> int:
        """Materialise one batch; returns how many notifications it took."""
        self._wake.clear()
        limit = self.settings.materialize_batch
        taken, results = await self.store.write(db_incidents.materialize_pending, limit)
        if taken >= limit:  # there may be more
            self.backlog = max(0, self.backlog - taken)
            self._wake.set()
        else:
            self.backlog = 0
            self._waiting_since = None
        self.metrics.notifications_pending.set(self.backlog)
        # A notification's incidents are of its alert group: the pipeline takes the groups in turn.
        firsts = [ids[0] for r in results if (ids := _touched(r))]
        groups = await self.store.read(db_incidents.group_keys, firsts)
        for result in results:
            if result.created:
                self.metrics.incidents_created.labels("alertmanager").inc(len(result.created))
            if result.superseded:
                self.metrics.incidents_superseded.inc(len(result.superseded))
            if ids := _touched(result):
                self.pipeline.submit(ids, groups.get(ids[0]))
            log.debug(
                "notification_materialized",
                notification_id=result.notification_id,
                created=len(result.created),
                resolved=len(result.resolved),
            )
        return taken

    async def stop(self) -> None:
        """Stop the task; what is still pending is durable and resumes at the next start."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _touched(result: db_incidents.IngestResult) -> list[str]:
    """The incidents a notification gives the pipeline work for: the new ones and the resolved ones."""
    return [*result.created, *result.resolved]


def retry_delay(failures: int) -> float:
    """Seconds before the next attempt after `failures` in a row: doubling from RETRY_SECONDS, capped."""
    return min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2 ** min(failures - 1, 16))


def _log_failure(error: Exception, failures: int) -> None:
    """The first failure in a row with its traceback, the next ones as one line each (they are spaced
    by `retry_delay`)."""
    if failures == 1:
        log.error("materialize_failed", exc_info=error)
    else:
        log.error("materialize_failed", failures=failures, error=f"{type(error).__name__}: {error}")
