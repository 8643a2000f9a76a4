"""Bounded worker pool that takes incidents through the stages, checkpointing each stage in SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import sqlite_utils
import structlog

from receiver.metrics import ReceiverMetrics
from receiver.models import DONE, STAGES, Incident
from receiver.pipeline.fair_queue import FairQueue
from receiver.pipeline.fair_slots import FairSlots
from receiver.pipeline.intake import IntakeActivity
from receiver.pipeline.settings import PipelineSettings
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store

if TYPE_CHECKING:
    from analyst.diagnosis import DiagnosisResult
    from analyst.evidence import Evidence
    from receiver.evidence.context import AlertContext

log = structlog.get_logger("receiver.pipeline")

Outcome = Literal["ok", "skipped", "unavailable", "error", "reused"]


KeepFn = Callable[[sqlite_utils.Database], object]


@dataclass
class StageOutcome:
    """A stage's result; `keep` writes its work (a diagnosis) in the transaction that records the stage and
    moves the checkpoint on, so a restart never does again what was kept (an LLM call costs money)."""

    outcome: Outcome
    detail: str = ""
    keep: KeepFn | None = None


@dataclass
class StageState:
    """What earlier stages of this run left for later ones; after a restart a stage reloads or refetches."""

    context: AlertContext | None = None
    evidence: Evidence | None = None
    diagnosis: DiagnosisResult | None = None
    reused_from: str | None = None  # the incident whose analysis this one reuses
    outcomes: dict[str, Outcome] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def _unlimited() -> AsyncIterator[None]:
    yield


@dataclass
class StageContext:
    """What a stage sees: the incident, the store (None: keep nothing) and this run's `state`.

    `now` fixes the evaluation time (on-demand `--at`); None means the wall clock. A stage does heavy
    work (PromQL, detection, the analyst) inside `async with ctx.heavy_work():`, which first waits while
    webhooks are in flight (within the incident's deferral budget: Alertmanager is waiting for their acks)
    and then for one of the pipeline's analysis slots. `checkpointed`: the caller commits each outcome's
    `keep` with the stage's checkpoint (the pipeline); otherwise a stage commits it itself.
    """

    incident: Incident
    store: Store | None
    state: StageState = field(default_factory=StageState)
    now: float | None = None
    heavy_work: Callable[[], AbstractAsyncContextManager[None]] = field(default=lambda: _unlimited())
    checkpointed: bool = False


StageFn = Callable[[StageContext], Awaitable[StageOutcome]]
ResolveFn = Callable[[Incident], Awaitable[None]]


def storage_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says SQLite could not do the work now (locked past the busy timeout, disk full, read
    only, I/O error, a damaged file): worth retrying later. Errors of the statement itself (a constraint,
    a misuse) would fail the same way on every retry."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


async def skip_stage(ctx: StageContext) -> StageOutcome:
    return StageOutcome("skipped", "not configured")


def _keep_and_record(db: sqlite_utils.Database, keep: KeepFn | None, incident_id: str, *row: Any) -> bool:
    """A stage's `keep` and its `record_stage` in one transaction (call through Store.write)."""
    if keep is not None:
        keep(db)
    return db_incidents.record_stage(db, incident_id, *row)


class Pipeline:
    """Runs `stages` in order for each incident with `workers` concurrent tasks and a bounded queue; of
    those, at most `max_concurrent_analyses` do heavy work at once (`StageContext.heavy_work`).

    The queue is fair across alert groups (`FairQueue`, a lane per group): workers take the groups'
    incidents in turn, oldest first within a group, so a storm in one group does not hold up the
    diagnosis of another group's alert. What does not fit stays in SQLite; the sweeper refills the
    queue from there, fairly too (`work_ids`). The analysis slots admit the groups in turn as well
    (`FairSlots`): a storm's incidents already held by workers do not all go before a later alert.

    The incident's `stage` column is the checkpoint: after a restart, work resumes at the stage that
    had not completed. A stage that raises or times out is recorded as an error and the next stage runs,
    except when SQLite could not do the stage's work (`storage_unavailable`: locked, disk full, I/O
    error): then nothing is recorded, the checkpoint stays at that stage and the sweeper retries it.
    """

    def __init__(
        self,
        store: Store,
        stages: Mapping[str, StageFn],
        settings: PipelineSettings,
        metrics: ReceiverMetrics,
        on_resolved: ResolveFn | None = None,
        intake: IntakeActivity | None = None,
        queue: FairQueue[Hashable, str] | None = None,
    ) -> None:
        """`queue` replaces the default `FairQueue(settings.queue_size)` (a benchmark's FIFO baseline)."""
        self.store = store
        self.stages = dict(stages)
        self.order = list(STAGES)
        self.settings = settings
        self.metrics = metrics
        self.on_resolved = on_resolved
        self.intake = intake
        self.queue = queue if queue is not None else FairQueue[Hashable, str](settings.queue_size)
        self._queued: set[str] = set()  # in the queue or being processed: never run twice at once
        self._work_waiting = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False
        self._busy: set[asyncio.Task[Any]] = set()
        self._analysis_slots = FairSlots(settings.max_concurrent_analyses)
        metrics.queue_depth.set_function(lambda: len(self.queue))

    @property
    def queued(self) -> int:
        """Incidents queued or being processed by a worker."""
        return len(self._queued)

    @property
    def alive(self) -> bool:
        return bool(self._workers) and all(not w.done() for w in self._workers)

    async def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(n), name=f"pipeline-worker-{n}")
            for n in range(self.settings.workers)
        ]
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="pipeline-sweeper")

    def submit(self, incident_ids: Iterable[str], group_key: str | None = None) -> None:
        """Queue incidents of one alert group (None: no known group, they get a lane of their own) if
        there is room; the sweeper picks up the rest from SQLite later."""
        lane: Hashable = object() if group_key is None else group_key
        for incident_id in incident_ids:
            if incident_id not in self._queued and not self._enqueue(lane, incident_id):
                return  # the lane is as long as any: the rest would not fit either

    def _enqueue(self, lane: Hashable, incident_id: str) -> bool:
        """Queue one incident unless stopping; False when the queue is full for its lane."""
        if self._stopping:
            return True
        left_out = self.queue.put(lane, incident_id)
        if left_out == incident_id:
            return False
        self._queued.add(incident_id)
        if left_out is not None:  # dropped to make room: it stays in SQLite for the sweeper
            self._queued.discard(left_out)
        self._work_waiting.set()
        return True

    async def sweep(self) -> None:
        """Fill the queue's room from SQLite, the groups in turn (`work_ids`); count the open incidents."""
        room = self.queue.maxsize - len(self.queue)
        if room > 0:
            work = await self.store.read(db_incidents.work_ids, room + len(self._queued))
            for incident_id, group_key in work.items():
                if incident_id not in self._queued:
                    self._enqueue(group_key, incident_id)
        self.metrics.open_incidents.set(await self.store.run(db_incidents.count_open))

    async def _sweep_forever(self) -> None:
        while not self._stopping:
            try:
                await self.sweep()
            except Exception:  # a sweep failure must not kill the pipeline; it is retried
                log.exception("pipeline_sweep_failed")
            await asyncio.sleep(self.settings.sweep_interval_seconds)

    async def _next_incident(self) -> str:
        """The next incident in the queue's turn, once there is one."""
        while not self.queue:
            self._work_waiting.clear()
            await self._work_waiting.wait()
        return self.queue.take()

    async def _work(self, number: int) -> None:
        while not self._stopping:
            incident_id = await self._next_incident()
            task = asyncio.current_task()
            if task is not None:
                self._busy.add(task)
            try:
                with structlog.contextvars.bound_contextvars(incident_id=incident_id):
                    await self.process(incident_id)
            except Exception:
                log.exception("pipeline_incident_failed")
            finally:
                self._queued.discard(incident_id)
                if task is not None:
                    self._busy.discard(task)

    async def process(self, incident_id: str) -> None:
        """Run every remaining stage of one incident, then deliver its resolution if pending."""
        incident = await self.store.read(db_incidents.get_incident, incident_id)
        if incident is None:
            return
        # Acks first, but an incident defers to intake at most defer_to_intake_seconds in all: a steady
        # stream is never quiet, and deferring every stage capped the pipeline at one stage per period.
        # Only heavy work defers (the stages wrap it in `heavy_work`): a reused analysis does not.
        defer_until = time.monotonic() + self.settings.defer_to_intake_seconds
        lane = incident.group_key
        ctx = StageContext(
            incident, self.store, heavy_work=lambda: self._heavy_work(defer_until, lane), checkpointed=True
        )
        stage = incident.stage
        while stage != DONE and not self._stopping:
            next_stage = await self._run_stage(ctx, stage)
            if next_stage is None:  # storage error: the checkpoint stays, the sweeper retries the stage
                break
            stage = next_stage
        if ctx.state.outcomes:
            log.info("incident_processed", stages=ctx.state.outcomes, checkpoint=stage)
        if stage == DONE:
            await self._deliver_resolution(incident_id)

    def heavy_work(self, group_key: str | None = None) -> AbstractAsyncContextManager[None]:
        """Heavy work outside the stages (the resolution's recovery check) of an incident of alert group
        `group_key` (None: a lane of its own), limited like theirs."""
        lane: Hashable = object() if group_key is None else group_key
        return self._heavy_work(time.monotonic() + self.settings.defer_to_intake_seconds, lane)

    @contextlib.asynccontextmanager
    async def _heavy_work(self, defer_until: float, lane: Hashable) -> AsyncIterator[None]:
        """Wait while webhooks are in flight (until `defer_until` at most), then for an analysis slot,
        the alert groups waiting for one taking turns (`lane`: the incident's group)."""
        if self.intake is not None and (defer := defer_until - time.monotonic()) > 0:
            await self.intake.wait_quiet(defer)
        async with self._analysis_slots.hold(lane):
            yield

    async def _run_stage(self, ctx: StageContext, stage: str) -> str | None:
        """Run one stage and record it; returns the next stage (DONE when superseded meanwhile), or None
        when the stage failed on the database: not recorded, its checkpoint kept for the sweeper to retry."""
        position = self.order.index(stage) if stage in self.order else len(self.order) - 1
        next_stage = self.order[position + 1] if position + 1 < len(self.order) else DONE
        fn = self.stages.get(stage, skip_stage)
        started, clock = time.time(), time.perf_counter()
        try:
            result = await asyncio.wait_for(fn(ctx), self.settings.stage_timeout_seconds)
        except TimeoutError:
            result = StageOutcome("error", f"timed out after {self.settings.stage_timeout_seconds}s")
            self.metrics.stage_failures.labels(stage).inc()
        except Exception as exc:
            self.metrics.stage_failures.labels(stage).inc()
            if storage_unavailable(exc):
                # Recording an error would move the checkpoint on and lose the stage's work for good
                # (an announcement or delivery never planned); the write would likely fail too.
                log.warning(
                    "stage_storage_error_will_retry",
                    stage=stage,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in_seconds=self.settings.sweep_interval_seconds,
                )
                return None
            log.exception("stage_failed", stage=stage)
            result = StageOutcome("error", f"{type(exc).__name__}: {exc}")
        duration = time.perf_counter() - clock
        self.metrics.stage_duration.labels(stage, result.outcome).observe(duration)
        advanced = await self.store.write(
            _keep_and_record,
            result.keep,
            ctx.incident.id,
            stage,
            result.outcome,
            result.detail[:2000],
            started,
            duration,
            next_stage,
        )
        log.debug("stage_done", stage=stage, outcome=result.outcome, seconds=round(duration, 4))
        ctx.state.outcomes[stage] = result.outcome
        if not advanced:  # a newer occurrence superseded it meanwhile (counted by the materializer)
            log.info("incident_superseded", stage=stage)
            return DONE
        return next_stage

    async def _deliver_resolution(self, incident_id: str) -> None:
        incident = await self.store.read(db_incidents.get_incident, incident_id)
        pending = await self.store.read(db_incidents.resolve_pending, incident_id)
        if incident is None or not pending:
            return
        if self.on_resolved is not None:
            await self.on_resolved(incident)
        await self.store.write(db_incidents.clear_resolve_pending, incident_id)

    async def stop(self) -> None:
        """Stop taking work; let in-flight stages finish within the shutdown timeout, then cancel them.

        A cancelled stage is not recorded, so it runs again after a restart (its checkpoint is kept).
        """
        self._stopping = True
        if self._sweeper:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        busy = [w for w in self._workers if w in self._busy]
        for worker in self._workers:
            if worker not in self._busy:
                worker.cancel()
        if busy:
            _, pending = await asyncio.wait(busy, timeout=self.settings.shutdown_timeout_seconds)
            for task in pending:
                task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
