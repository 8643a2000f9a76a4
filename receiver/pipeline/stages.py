"""The pipeline's stages: announce, collect evidence, detect, diagnose, deliver (and resolution).

The order is `receiver.models.STAGES`; on-demand diagnosis runs the middle three (`ON_DEMAND_STAGES`)
through the same functions, with no store when nothing is to be kept. At resolution,
`recovery_at_resolution` checks whether the suspect of a diagnosis made while the alert fired is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlite_utils
import structlog

from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence, evidence_from_dict, evidence_to_dict
from analyst.memory import EvidenceSignature
from analyst.protocol import Analyst
from analyst.schema import diagnosis_from_dict, diagnosis_to_dict
from receiver.delivery.recovery import RecoveryCheck, check_recovery, fired_again, not_checked
from receiver.delivery.summary import format_duration
from receiver.evidence.context import AlertContext, alert_info, build_evidence, fetch_alert_context
from receiver.evidence.settings import ContextSettings
from receiver.evidence.source import MetricSource
from receiver.models import DONE, STAGES, Incident
from receiver.pipeline import memory
from receiver.pipeline.workers import KeepFn, StageContext, StageFn, StageOutcome, storage_unavailable
from receiver.storage import incidents as db_incidents
from receiver.storage import reuse as db_reuse
from receiver.storage.database import Store

if TYPE_CHECKING:
    from receiver.delivery.service import DeliveryService

log = structlog.get_logger("receiver.pipeline")

ON_DEMAND_STAGES = ("collect_evidence", "detect", "diagnose")
RECOVERY = "recovery"  # the stage result row of the check at resolution (not a stage of STAGES)


@dataclass
class StagePlugins:
    """What the stages call; None disables a plug-in (its stage is recorded as skipped)."""

    source: MetricSource | None
    context: ContextSettings
    analyst: Analyst
    delivery: DeliveryService | None
    remember: bool = True  # recall similar incidents as precedent, and remember each diagnosis
    reuse_confirmed: bool = True  # same evidence signature as a confirmed diagnosis: reuse it, no analyst
    reuse_analysis_seconds: float = 0.0  # the same labels fully analysed this recently: reuse that analysis


def _evidence_outcome(evidence: Evidence) -> StageOutcome:
    available = [s for s in evidence.series if s.available]
    detail = f"{len(evidence.series)} series, {len(evidence.anomalous)} anomalous"
    if evidence.notes:
        detail += "; " + "; ".join(evidence.notes)
    return StageOutcome("ok" if available else "unavailable", detail)


async def _load_evidence(ctx: StageContext) -> Evidence | None:
    if ctx.state.evidence is not None or ctx.store is None:
        return ctx.state.evidence
    stored = await ctx.store.run(db_incidents.load_evidence, ctx.incident.id)
    return evidence_from_dict(stored) if stored else None


async def _recall(store: Store, evidence: Evidence) -> memory.Recall | None:
    """Similar past incidents (`memory.recall`); None when recalling them failed for another reason than
    the storage being unavailable (which the worker retries), logged as `memory_recall_failed`: precedents
    add to a diagnosis, and a fault in reading them must not cost the diagnosis itself."""
    try:
        return await memory.recall(store, evidence)
    except Exception as exc:
        if storage_unavailable(exc):
            raise
        log.exception("memory_recall_failed", incident_id=evidence.incident_id)
        return None


async def _fetch(plugins: StagePlugins, ctx: StageContext) -> AlertContext:
    assert plugins.source is not None
    fetched = await fetch_alert_context(ctx.incident, plugins.source, plugins.context, now=ctx.now)
    ctx.state.context = fetched
    return fetched


async def _reuse_recent(plugins: StagePlugins, ctx: StageContext) -> StageOutcome | None:
    """Take the evidence (by reference) and diagnosis of the newest full analysis of the same labels, if
    recent enough.

    Only in the live pipeline (a store, the wall clock): an alert that fires again minutes after its last
    analysis would fetch and judge nearly the same data. Only between firing alerts: an alert first seen
    resolved is analysed for its recovery, not given a firing alert's mitigations.
    """
    if not _reusable(plugins, ctx) or ctx.store is None:
        return None
    now, incident = time.time(), ctx.incident
    key = db_reuse.labels_key(incident.labels)
    since = now - plugins.reuse_analysis_seconds
    prior = await ctx.store.read(db_reuse.recent_analysis, key, since, incident.id)
    if prior is None:
        return None
    note = (
        f"reused the analysis of {prior.incident_id}: the same alert (same labels) was analysed"
        f" {format_duration(max(0.0, now - prior.analysed_at))} earlier"
        f" (pipeline.reuse_analysis_seconds={plugins.reuse_analysis_seconds:g})"
    )
    diagnosis = diagnosis_from_dict(prior.diagnosis)
    ctx.state.diagnosis = dataclasses.replace(
        diagnosis, incident_id=incident.id, cached=True, notes=(*diagnosis.notes, note)
    )
    ctx.state.reused_from = prior.incident_id
    await ctx.store.write(db_incidents.link_evidence, incident.id, prior.incident_id)
    return StageOutcome("reused", note)


def build_stages(plugins: StagePlugins | Callable[[], StagePlugins]) -> dict[str, StageFn]:
    """One function per name in `STAGES`. Given a function, each stage asks it for the plug-ins when it
    starts (the live pipeline's follow a configuration reload)."""
    given = plugins
    current = given if callable(given) else lambda: given

    async def announce(ctx: StageContext) -> StageOutcome:
        plugins = current()
        if plugins.delivery is None:
            return StageOutcome("skipped", "no destination configured")
        await plugins.delivery.on_incident_firing(ctx.incident)
        return StageOutcome("ok", "queued")

    async def collect_evidence(ctx: StageContext) -> StageOutcome:
        plugins = current()
        if (reused := await _reuse_recent(plugins, ctx)) is not None:
            return reused
        if plugins.source is None:
            return StageOutcome("skipped", "no metric source configured")
        async with ctx.heavy_work():
            fetched = await _fetch(plugins, ctx)
        detail = f"{fetched.series_count} series fetched"
        if fetched.notes:
            detail += "; " + "; ".join(fetched.notes)
        return StageOutcome("ok" if fetched.series_count else "unavailable", detail)

    async def detect(ctx: StageContext) -> StageOutcome:
        plugins = current()
        if ctx.state.reused_from is not None:
            return StageOutcome("reused", f"evidence of {ctx.state.reused_from}")
        if plugins.source is None:
            return StageOutcome("skipped", "no metric source configured")
        async with ctx.heavy_work():
            fetched = ctx.state.context or await _fetch(plugins, ctx)  # re-fetch after a restart
            evidence = await asyncio.to_thread(build_evidence, ctx.incident, fetched, plugins.context)
        ctx.state.evidence = evidence
        if ctx.store is not None:
            await ctx.store.write(db_incidents.save_evidence, ctx.incident.id, evidence_to_dict(evidence))
        return _evidence_outcome(evidence)

    async def diagnose(ctx: StageContext) -> StageOutcome:
        plugins = current()
        if ctx.state.reused_from is not None and ctx.state.diagnosis is not None:
            return await _save_reused(ctx, ctx.state.reused_from, ctx.state.diagnosis)
        evidence = await _load_evidence(ctx) or empty_evidence(ctx.incident)
        recall = await _recall(ctx.store, evidence) if ctx.store and plugins.remember else None
        if recall is not None:
            evidence = dataclasses.replace(evidence, precedents=recall.precedents)
        ctx.state.evidence = evidence
        reused = None
        if recall is not None and plugins.reuse_confirmed and ctx.store is not None and _firing(ctx):
            reused = await memory.reuse_confirmed(ctx.store, recall, evidence)
        if reused is None:
            async with ctx.heavy_work():
                result = await plugins.analyst.diagnose(evidence)
        else:
            result = reused
        if recall is not None:
            result = dataclasses.replace(result, recall=memory.recall_line(recall.similar))
        ctx.state.diagnosis = result
        primary = result.primary_hypothesis
        detail = f"{primary.category} ({primary.confidence:.0%}) suspect {primary.suspect}"
        if result.fallback_reason:
            detail += f"; fell back to built-in: {result.fallback_reason}"
        if ctx.store is None:
            return StageOutcome("ok", detail)
        reusable = reused is None and _reusable(plugins, ctx) and _complete(plugins, evidence, result)
        remembered = (evidence, recall.signature) if recall is not None else None
        keep = _keep_diagnosis(ctx.incident, result, remembered=remembered, note_analysis=reusable)
        return await _kept(ctx, StageOutcome("ok", detail, keep))

    async def deliver(ctx: StageContext) -> StageOutcome:
        plugins = current()
        if plugins.delivery is None:
            return StageOutcome("skipped", "no destination configured")
        diagnosis = ctx.state.diagnosis
        if diagnosis is None and ctx.store is not None:
            diagnosis = await load_diagnosis(ctx.store, ctx.incident.id)
        if diagnosis is None:
            return StageOutcome("skipped", "no diagnosis to deliver")
        await plugins.delivery.on_diagnosis(ctx.incident, diagnosis, repeat_of=ctx.state.reused_from)
        return StageOutcome("ok", "queued")

    stages: dict[str, StageFn] = {
        "announce": announce,
        "collect_evidence": collect_evidence,
        "detect": detect,
        "diagnose": diagnose,
        "deliver": deliver,
    }
    assert tuple(stages) == STAGES
    return stages


def _firing(ctx: StageContext) -> bool:
    return ctx.incident.status == "firing"


def _reusable(plugins: StagePlugins, ctx: StageContext) -> bool:
    """Whether this incident may take, or leave, an analysis for re-fires of the same alert: live pipeline
    with reuse on, and a firing alert (a resolved one's diagnosis follows up instead of mitigating)."""
    live = ctx.store is not None and ctx.now is None
    return plugins.reuse_analysis_seconds > 0 and live and _firing(ctx)


def _complete(plugins: StagePlugins, evidence: Evidence, result: DiagnosisResult) -> bool:
    """Whether an analysis may be reused: made by the configured analyst (no fallback) on metrics that
    could be read (a Prometheus that was down must not leave its gap in the next occurrences too)."""
    metrics_read = plugins.source is None or any(s.available for s in evidence.series)
    return metrics_read and result.fallback_reason is None


async def _save_reused(ctx: StageContext, source: str, diagnosis: DiagnosisResult) -> StageOutcome:
    keep = _keep_diagnosis(ctx.incident, diagnosis) if ctx.store is not None else None
    return await _kept(ctx, StageOutcome("reused", f"diagnosis of {source}", keep))


async def _kept(ctx: StageContext, outcome: StageOutcome) -> StageOutcome:
    """`outcome` as the pipeline commits it, its `keep` with the stage's checkpoint; without a checkpoint
    (on-demand diagnosis, a stage called on its own) `keep` is committed here."""
    if outcome.keep is None or ctx.checkpointed or ctx.store is None:
        return outcome
    await ctx.store.write(outcome.keep)
    return dataclasses.replace(outcome, keep=None)


def _keep_diagnosis(
    incident: Incident,
    result: DiagnosisResult,
    *,
    remembered: tuple[Evidence, EvidenceSignature] | None = None,
    note_analysis: bool = False,
) -> KeepFn:
    """The writes of a diagnosis: its row, memory's signature and text (`remembered`), and the analysis
    re-fires may reuse (`note_analysis`); committed with the stage's checkpoint (`StageOutcome.keep`)."""

    def keep(db: sqlite_utils.Database) -> None:
        body = diagnosis_to_dict(result)
        category, confidence = str(result.primary_hypothesis.category), result.confidence_score
        saved = db_incidents.save_diagnosis(
            db, incident.id, body, backend=result.backend, category=category, confidence=confidence
        )
        if remembered is not None:
            evidence, signature = remembered
            memory.remember(db, incident, evidence, result, signature, saved)
        if note_analysis:
            db_reuse.note_analysis(db, db_reuse.labels_key(incident.labels), incident.id, time.time())

    return keep


async def evidence_now(incident: Incident, plugins: StagePlugins, *, now: float | None = None) -> Evidence:
    """The evidence for one incident through `ON_DEMAND_STAGES` up to `diagnose`, nothing kept: the caller
    may look at it before a diagnosis is made and stored (`diagnose_now(..., evidence=)`)."""
    ctx = StageContext(incident, None, now=now)
    stages = build_stages(plugins)
    for name in ON_DEMAND_STAGES[:-1]:
        ctx.state.outcomes[name] = (await stages[name](ctx)).outcome
    return ctx.state.evidence or empty_evidence(incident)


async def diagnose_now(
    incident: Incident,
    plugins: StagePlugins,
    *,
    store: Store | None = None,
    now: float | None = None,
    evidence: Evidence | None = None,
) -> tuple[Evidence, DiagnosisResult]:
    """Evidence and diagnosis for one incident through `ON_DEMAND_STAGES` (only `diagnose`, given the
    `evidence` that `evidence_now` collected); both kept in `store` when given."""
    ctx = StageContext(incident, store, now=now)
    stages = build_stages(plugins)
    names: tuple[str, ...] = ON_DEMAND_STAGES
    if evidence is not None:
        ctx.state.evidence, names = evidence, ON_DEMAND_STAGES[-1:]
        if store is not None:
            await store.write(db_incidents.save_evidence, incident.id, evidence_to_dict(evidence))
    for name in names:
        ctx.state.outcomes[name] = (await stages[name](ctx)).outcome
    assert ctx.state.evidence is not None and ctx.state.diagnosis is not None
    return ctx.state.evidence, ctx.state.diagnosis


async def recovery_at_resolution(
    plugins: StagePlugins,
    store: Store,
    incident: Incident,
    diagnosis: DiagnosisResult | None,
    heavy_work: Callable[[], AbstractAsyncContextManager[None]],
    time_limit: float,
) -> RecoveryCheck | None:
    """Whether the resolved `incident`'s suspect is back at its baseline, and the follow-ups that says.

    A diagnosis made while the alert fired gets its evidence fetched again (the window now ends at
    endsAt); the check is kept as the incident's `recovery` stage result, the diagnosis stays as it was.
    One made for the resolved alert is checked on its own evidence. Either is heavy work, within
    `time_limit` seconds; a failure becomes a check that says why. An incident closed because its alert
    fired again (superseded) is not checked: it says so, naming the newer incident. None without a
    diagnosis or its evidence, or when there is no metric source to fetch from.
    """
    if diagnosis is None:
        return None
    newer = await store.read(db_incidents.superseded_by, incident.id)
    if newer is not None:
        check = fired_again(diagnosis.primary_hypothesis, incident.alertname, newer)
        await _keep_check(store, incident.id, "skipped", check, time.time(), 0.0)
        log.info("recovery_not_checked", fired_again_as=newer)
        return check
    stored = await store.run(db_incidents.load_evidence, incident.id)
    if stored is None:
        return None
    diagnosed = evidence_from_dict(stored)
    fetch = diagnosed.alert.status == "firing"
    if fetch and plugins.source is None:
        return None
    started, clock = time.time(), time.perf_counter()
    primary, outcome = diagnosis.primary_hypothesis, "error"
    try:
        checking = _check_recovery(plugins, incident, diagnosis, diagnosed, fetch, heavy_work)
        check = await asyncio.wait_for(checking, time_limit)
        outcome = "ok" if check.checked else "unavailable"
    except TimeoutError:
        check = not_checked(primary, incident.alertname, f"timed out after {time_limit:g}s")
    except Exception as exc:  # the resolution is delivered all the same, saying why
        log.exception("recovery_check_failed", incident_id=incident.id)
        check = not_checked(primary, incident.alertname, f"{type(exc).__name__}: {exc}")
    if fetch:
        await _keep_check(store, incident.id, outcome, check, started, time.perf_counter() - clock)
    log.info("recovery_checked", outcome=outcome, fetched=fetch, suspect_back=check.suspect_back)
    return check


async def _keep_check(
    store: Store, incident_id: str, outcome: str, check: RecoveryCheck, started: float, duration: float
) -> None:
    """Keep `check` as the incident's `recovery` stage result (record_stage's checkpoint update matches no
    row for this name: the incident stays done)."""
    row = (RECOVERY, outcome, check.text[:2000], started, duration, DONE)
    await store.write(db_incidents.record_stage, incident_id, *row)


async def _check_recovery(
    plugins: StagePlugins,
    incident: Incident,
    diagnosis: DiagnosisResult,
    diagnosed: Evidence,
    fetch: bool,
    heavy_work: Callable[[], AbstractAsyncContextManager[None]],
) -> RecoveryCheck:
    """`check_recovery` on the evidence fetched again now (`fetch`), else on the evidence diagnosed."""
    async with heavy_work():
        resolved = diagnosed
        if fetch:
            assert plugins.source is not None
            fetched = await fetch_alert_context(incident, plugins.source, plugins.context)
            resolved = await asyncio.to_thread(build_evidence, incident, fetched, plugins.context)
        return await asyncio.to_thread(check_recovery, diagnosis, diagnosed, resolved)


async def load_diagnosis(store: Store, incident_id: str) -> DiagnosisResult | None:
    row = await store.run(db_incidents.latest_diagnosis_row, incident_id)
    if row is None:
        return None
    return diagnosis_from_dict(json.loads(row["body"]))


def empty_evidence(incident: Incident) -> Evidence:
    """Evidence with no series (no metric source): the analyst still writes a low-confidence diagnosis."""
    return Evidence(
        incident_id=incident.id,
        alert=alert_info(incident),
        series=(),
        window_start=incident.starts_at,
        window_end=incident.ends_at or time.time(),
        notes=("no metric source configured",),
    )
