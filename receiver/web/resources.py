"""The app's long-lived resources, one cleanup context each (aiohttp's "Cleanup Context" pattern).

`build_app` appends them in this order; aiohttp runs each cleanup (only if its startup finished) in
reverse, so intake stops first and the store closes last.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
import structlog
from aiohttp import web

from analyst.llm.budget import CallBudget
from receiver.config import Settings
from receiver.models import Incident
from receiver.pipeline.materializer import Materializer
from receiver.pipeline.retention import RetentionPruner
from receiver.pipeline.stages import StagePlugins, build_stages, load_diagnosis, recovery_at_resolution
from receiver.pipeline.workers import Pipeline, ResolveFn, StageFn
from receiver.scheduled.scheduler import DetectionScheduler, DetectorFinding, detector_incident
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store
from receiver.web.keys import (
    ANALYST,
    DELIVERY,
    HTTP_SESSION,
    INTAKE,
    LLM_BUDGET,
    MATERIALIZER,
    METRICS,
    PIPELINE,
    RECENT_BODIES,
    RETENTION,
    SCHEDULER,
    SETTINGS,
    SOURCE,
    STORE,
)
from receiver.web.reload import (
    SIDE_SOURCES,
    SwitchableAnalyst,
    SwitchableSource,
    build_analyst_for,
    build_source_for,
    reload_context,
)

log = structlog.get_logger("receiver.app")

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


@dataclass(frozen=True)
class PipelineParts:
    """What the pipeline runs: a function per stage name (a missing one is skipped) and the resolve hook."""

    stages: Mapping[str, StageFn] = field(default_factory=dict)
    on_resolved: ResolveFn | None = None


PartsFactory = Callable[[web.Application, Settings, Store], Awaitable[PipelineParts]]
PARTS_FACTORY: web.AppKey[PartsFactory] = web.AppKey("pipeline_parts_factory")


async def pipeline_parts(app: web.Application, settings: Settings, store: Store) -> PipelineParts:
    """The real stages over the app's metric source, analyst and delivery; at resolution, the recovery
    check (heavy work of the pipeline, within a stage's timeout; off with `pipeline.recovery_check`) and
    the resolution's delivery. Each stage reads `context` and `analyst` settings as they are when it starts:
    a reload updates `settings` in place."""
    delivery = app[DELIVERY]

    def plugins() -> StagePlugins:
        return StagePlugins(
            app[SOURCE],
            settings.context,
            app[ANALYST],
            delivery,
            reuse_confirmed=settings.analyst.reuse_confirmed,
            reuse_analysis_seconds=settings.pipeline.reuse_analysis_seconds,
        )

    async def on_resolved(incident: Incident) -> None:
        diagnosis = await load_diagnosis(store, incident.id)
        recovery = None
        if settings.pipeline.recovery_check:
            timeout = settings.pipeline.stage_timeout_seconds
            heavy_work = functools.partial(app[PIPELINE].heavy_work, incident.group_key)
            checking = recovery_at_resolution(plugins(), store, incident, diagnosis, heavy_work, timeout)
            recovery = await checking
        if delivery is not None:
            await delivery.on_incident_resolved(incident, diagnosis, recovery)

    return PipelineParts(stages=build_stages(plugins), on_resolved=on_resolved)


async def _closing(name: str, close: Callable[[], Awaitable[object]]) -> None:
    try:
        await close()
    except Exception:  # keep closing the others; the failure is logged
        log.exception("close_failed", hook=name)


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    storage = app[SETTINGS].storage
    store = await asyncio.to_thread(
        Store,
        storage.path,
        storage.synchronous,
        busy_timeout=storage.busy_timeout_seconds,
        max_wal_bytes=storage.wal_max_bytes,
    )
    app[STORE] = store
    app[METRICS].storage_wal_bytes.set_function(store.wal_bytes)
    app[METRICS].storage_database_bytes.set_function(store.database_bytes)
    yield
    await asyncio.to_thread(app[STORE].close)


async def http_session_ctx(app: web.Application) -> AsyncIterator[None]:
    app[HTTP_SESSION] = aiohttp.ClientSession()
    yield
    await _closing("http_session", app[HTTP_SESSION].close)


async def metric_source_ctx(app: web.Application) -> AsyncIterator[None]:
    """The metric source, and the workbench charts' and backtests' own ones (`SIDE_SOURCES`), each behind a
    switch that a configuration reload points at a new one."""
    source = SwitchableSource(build_source_for(app[SETTINGS], app[METRICS].reloadable.current))
    app[SOURCE] = source
    sides = [(key, SwitchableSource(build(app[SETTINGS]))) for key, build in SIDE_SOURCES]
    for key, side in sides:
        app[key] = side
    yield
    for name, (_, side) in zip(("chart_source", "backtest_source"), sides, strict=True):
        await _closing(name, side.close)
    await _closing("metric_source", source.close)


async def analyst_ctx(app: web.Application) -> AsyncIterator[None]:
    """The analyst, behind a switch that a configuration reload points at a new one."""
    settings = app[SETTINGS]
    app[LLM_BUDGET] = budget = CallBudget(settings.llm.max_calls_per_hour)
    analyst = SwitchableAnalyst(build_analyst_for(settings, app[METRICS].reloadable.current, budget))
    app[ANALYST] = analyst
    yield
    await _closing("analyst", analyst.aclose)


async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    """The outbox-backed delivery service, or None when no destination is configured."""
    settings = app[SETTINGS]
    destinations = (settings.grafana, settings.slack, settings.pagerduty, settings.outgoing_webhook)
    if not any(d.enabled for d in destinations):
        app[DELIVERY] = None
        yield
        return
    from receiver.delivery.service import DeliveryService  # Slack SDK and sinks only when used

    delivery = DeliveryService(
        app[STORE],
        grafana=settings.grafana,
        slack=settings.slack,
        pagerduty=settings.pagerduty,
        outgoing_webhook=settings.outgoing_webhook,
        noise=settings.noise,
        public_url=settings.web.public_url,
        registry=app[METRICS].registry,
        session=app[HTTP_SESSION],
    )
    app[DELIVERY] = delivery
    await delivery.start()
    yield
    await _closing("delivery", delivery.stop)


async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    """The stage workers and the materializer that feeds them from acknowledged notifications."""
    settings, store = app[SETTINGS], app[STORE]
    parts = await app[PARTS_FACTORY](app, settings, store)
    pipeline = Pipeline(store, parts.stages, settings.pipeline, app[METRICS], parts.on_resolved, app[INTAKE])
    materializer = Materializer(store, pipeline, settings.pipeline, app[METRICS], app[INTAKE])
    app[PIPELINE], app[MATERIALIZER] = pipeline, materializer
    await pipeline.start()
    await materializer.start()
    log.info("started", listen=settings.web.listen_address, storage=settings.storage.path)
    yield
    log.info("stopping")
    await materializer.stop()
    await pipeline.stop()


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """The hourly prune of what ended more than `storage.retention_days` ago."""
    pruner = RetentionPruner(
        app[STORE],
        app[SETTINGS].storage.retention_days,
        app[METRICS],
        app[INTAKE],
        on_notifications_pruned=app[RECENT_BODIES].clear,
    )
    app[RETENTION] = pruner
    await pruner.start()
    yield
    await _closing("retention", pruner.stop)


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """Scheduled detection; its findings open incidents and go to the pipeline."""
    store = app[STORE]

    async def on_anomaly(finding: DetectorFinding) -> str | None:
        incident = detector_incident(finding, time.time())
        if await store.write(db_incidents.create_incident, incident):
            app[METRICS].incidents_created.labels("detector").inc()
            app[PIPELINE].submit([incident.id])
            log.info("detector_incident", incident_id=incident.id, rule=finding.rule.name)
        return incident.id

    scheduler = DetectionScheduler(
        store,
        app[SOURCE],
        app[SETTINGS].detection,
        on_anomaly=on_anomaly,
        on_resolved=lambda ids: app[PIPELINE].submit(ids),
        registry=app[METRICS].registry,
    )
    app[SCHEDULER] = scheduler
    await scheduler.start()
    yield
    await _closing("scheduler", scheduler.stop)


RESOURCES: tuple[CleanupContext, ...] = (
    reload_context,
    store_ctx,
    http_session_ctx,
    metric_source_ctx,
    analyst_ctx,
    delivery_ctx,
    pipeline_ctx,
    retention_ctx,
    scheduler_ctx,
)
