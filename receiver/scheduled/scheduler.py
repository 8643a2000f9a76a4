"""Scheduled secondary detection: every interval, run every rule's query and detect over it.

All rule queries of a cycle are fetched concurrently (bounded by `detection.max_concurrency`) and
detected on a thread pool (`detection.workers`); rules with the same query are fetched once and detected
together, each series at its own sampling interval (`native_sampling`). Only anomalies newer than
`freshness` open incidents, through `on_anomaly` (after cycles in which a rule's query failed, anomalies
since its last evaluated cycle, also across a restart: SQLite keeps where its failed cycles began); data
gaps only for rules with `alert_on_gaps`.
The same rule and series within `cooldown_seconds` of its last incident is the same incident (state in
SQLite). Once that cooldown has passed and a cycle that evaluated the rule finds no fresh anomaly on the
series (or a newer incident of the series was opened), the incident resolves (`on_resolved` hands the
resolution to the pipeline); so do the incidents of a rule deleted or gone from the configuration.
Latest scores go to `alert_analyst_anomaly_score{rule,series}`; label sets of series that went away are
removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar
from urllib.parse import quote_plus

import numpy as np
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import ValidationError

from detectors import AnomalyDetection, BatchResult
from detectors.grid import align, align_range, grid
from receiver.errors import InvalidRuleField, RuleConflict
from receiver.evidence.promql import series_id
from receiver.evidence.source import MetricSource, MetricSourceError, SeriesData
from receiver.models import Incident, new_incident
from receiver.scheduled.native_sampling import detect_native, native_grid
from receiver.scheduled.probe import (
    Sampling,
    gap_notes,
    query_notes,
    rule_notes,
    sampling_notes,
    sampling_of,
    shape_notes,
)
from receiver.scheduled.settings import (
    DetectionSettings,
    RuleSettings,
    to_detection_rule,
    unreachable_min_samples,
)
from receiver.storage import incidents as db_incidents
from receiver.storage import rules as db_rules

if TYPE_CHECKING:
    from receiver.storage.database import Store

T = TypeVar("T")

log = structlog.get_logger("receiver.scheduled")
RuleOrigin = Literal["config", "api"]
PROBE_SPAN = 3600.0  # what a new rule's query is tried over
PROBE_SECONDS = 5.0  # and how long a rule change waits for the answer
Outcome = tuple[RuleSettings, list[SeriesData], list[str], BatchResult]


@dataclass(frozen=True)
class DetectorFinding:
    """A new anomaly that should become an incident (source "detector")."""

    rule: RuleSettings
    series_labels: Mapping[str, str]
    detection: AnomalyDetection
    fingerprint: str
    starts_at: float

    @property
    def alertname(self) -> str:
        return self.rule.name

    @property
    def severity(self) -> str:
        return self.rule.severity

    @property
    def labels(self) -> dict[str, str]:
        """Incident labels: the series' labels, the rule's `labels`, then alertname and severity."""
        own = {k: v for k, v in self.series_labels.items() if k != "__name__"}
        metric = self.series_labels.get("__name__")
        extra = {"metric": metric} if metric else {}
        return {
            **own,
            **extra,
            **self.rule.labels,
            "alertname": self.rule.name,
            "severity": self.rule.severity,
        }


def detector_incident(finding: DetectorFinding, now: float) -> Incident:
    """The incident a scheduled-detection finding opens (source "detector", its own group)."""
    detection = finding.detection
    summary = (
        f"{detection.anomaly_type} on {detection.series}: {detection.direction or 'change'}"
        f" (confidence {detection.confidence:.0%}, rule {finding.rule.name})"
    )
    return new_incident(
        fingerprint=finding.fingerprint,
        starts_at=finding.starts_at,
        ends_at=None,
        alertname=finding.alertname,
        severity=finding.severity,
        labels=finding.labels,
        annotations={
            "summary": summary,
            "detector_method": detection.method,
            "detector_anomaly_type": str(detection.anomaly_type),
            "detector_direction": detection.direction or "",
            "detector_z": f"{detection.z_score:.6g}",
            "detector_confidence": f"{detection.confidence:.6g}",
        },
        generator_url=f"/graph?g0.expr={quote_plus(finding.rule.query)}",
        group_key=f"detector:{finding.rule.name}:{finding.fingerprint}",
        source="detector",
        now=now,
    )


FINDING_OUTCOMES = ("opened", "deduplicated", "below_floor")


@dataclass
class CycleReport:
    """What one detection cycle did."""

    started_at: float
    duration_seconds: float = 0.0
    rules: int = 0
    series: int = 0
    detections: int = 0
    fresh: int = 0
    incidents: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)  # detector incidents whose anomaly is over
    deduplicated: int = 0
    below_floor: int = 0  # series with a fresh anomaly that moved less than its rule's min_delta / min_change
    errors: dict[str, str] = field(default_factory=dict)
    sampling: dict[str, Sampling] = field(default_factory=dict)  # per rule: its counters, its slow series


@dataclass(frozen=True)
class RuleStatus:
    """How a rule's latest cycle went: its query's series, or the error; notes for whoever wrote it."""

    evaluated_at: float
    series: int
    error: str | None = None
    notes: tuple[str, ...] = ()


def finding_fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """Stable hash of rule name + series labels."""
    text = json.dumps([rule, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rule_definition(rule: RuleSettings) -> str:
    """Stable hash of everything a rule says: a catch-up kept across a restart is only for the same one."""
    return hashlib.sha256(rule.model_dump_json().encode()).hexdigest()[:16]


def detect_query(
    rules: Sequence[RuleSettings], series: Sequence[SeriesData], start: float, end: float, step: float
) -> tuple[list[str], list[BatchResult], Sampling]:
    """Align one query's series on one grid and run all its rules in one `detect_rules` pass per set of
    series sampled alike, at their own interval (`detect_native`), which shares what the rules compute in
    common; also how the series sit on the grid (counters, slow samples: pure; runs on a worker)."""
    timestamps = grid(start, end, step)
    values = align(series, timestamps, step)
    names = [series_id(s.labels) for s in series]
    native = native_grid(timestamps, values)
    results = detect_native([to_detection_rule(r) for r in rules], timestamps, values, names, native)
    return names, results, sampling_of(values, native)


def detect_rule(
    rule: RuleSettings, series: Sequence[SeriesData], start: float, end: float, step: float
) -> tuple[list[str], BatchResult]:
    """`detect_query` of a single rule."""
    names, [result], _ = detect_query([rule], series, start, end, step)
    return names, result


def counted(rule: RuleSettings, result: BatchResult, *, floor: bool = True) -> np.ndarray | None:
    """Which of `result`'s detections may open an incident (None: all): no data gap unless the rule has
    `alert_on_gaps`, and with `floor`, only those that moved as far as its `min_delta` and `min_change`."""
    masks = [] if rule.alert_on_gaps else [~result.table.gaps()]
    if floor and (moved := result.beyond_floor(rule.min_delta, rule.min_change)) is not None:
        masks.append(moved)
    return np.logical_and.reduce(masks) if masks else None


def latest_counted(
    rule: RuleSettings, result: BatchResult, since: float, *, floor: bool = True
) -> np.ndarray:
    """Entries of `result.table` that are each series' latest `counted` detection at or after `since`."""
    return result.table.latest_per_series(since, counted(rule, result, floor=floor))


def fresh_findings(
    rule: RuleSettings,
    names: Sequence[str],
    labels: Sequence[Mapping[str, str]],
    result: BatchResult,
    since: float,
) -> list[DetectorFinding]:
    """One finding per series: its latest detection at or after `since` (older ones were seen before) that
    may open an incident (`counted`: no data gap unless the rule asks, as far as `min_delta` and
    `min_change` ask)."""
    by_name = dict(zip(names, labels, strict=True))
    findings = []
    for detection in result.table.records(latest_counted(rule, result, since)):
        series_labels = dict(by_name.get(detection.series, {}))
        findings.append(
            DetectorFinding(
                rule=rule,
                series_labels=series_labels,
                detection=detection,
                fingerprint=finding_fingerprint(rule.name, series_labels or {"series": detection.series}),
                starts_at=float(detection.onset if detection.onset is not None else detection.timestamp),
            )
        )
    return findings


def _detection_executor(settings: DetectionSettings) -> Executor:
    if settings.pool == "process":
        return ProcessPoolExecutor(settings.workers, mp_context=multiprocessing.get_context("spawn"))
    return ThreadPoolExecutor(settings.workers, thread_name_prefix="detect")


class DetectionScheduler:
    """Runs detection rules on a timer; rules come from the config file (read-only) and the API (SQLite)."""

    def __init__(
        self,
        store: Store,
        source: MetricSource,
        settings: DetectionSettings,
        *,
        on_anomaly: Callable[[DetectorFinding], Awaitable[str | None]],
        on_resolved: Callable[[list[str]], None] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.settings = settings
        self.on_anomaly = on_anomaly
        self.on_resolved = on_resolved
        self._config_rules = {r.name: r for r in settings.rules}
        self._executor = _detection_executor(settings)
        self._task: asyncio.Task[None] | None = None
        self._exported: dict[str, set[str]] = {}
        self._status: dict[str, RuleStatus] = {}
        self._unseen: dict[str, float] = {}  # rules whose cycles failed: where the first one's window began
        self._down: dict[str, float] = {}  # up to when a previous run evaluated each rule (until this does)
        self._unseen_loaded = False  # the first cycle reads what a previous run left in SQLite
        self._scores = (
            Gauge(
                "alert_analyst_anomaly_score",
                "Latest anomaly score in [0, 1] of each series of each detection rule.",
                ["rule", "series"],
                registry=registry,
            )
            if registry is not None
            else None
        )
        self._findings = (
            Counter(
                "alert_analyst_detector_findings",
                "Fresh anomalies of each detection rule, by outcome: opened (an incident), deduplicated"
                " (within the cooldown of one), below_floor (moved less than the rule's min_delta /"
                " min_change).",
                ["rule", "outcome"],
                registry=registry,
            )
            if registry is not None
            else None
        )

        self._rule_failures = (
            Counter(
                "alert_analyst_detection_rule_failures",
                "Cycles in which a detection rule could not be evaluated (its query failed, or detection"
                " raised); the error is on the workbench overview and in the detection_cycle log.",
                ["rule"],
                registry=registry,
            )
            if registry is not None
            else None
        )
        self._rule_evaluated = (
            Gauge(
                "alert_analyst_detection_rule_last_cycle_successful",
                "Whether the latest cycle evaluated a detection rule (1) or could not (0: its query failed,"
                " or detection raised).",
                ["rule"],
                registry=registry,
            )
            if registry is not None
            else None
        )
        self._cycle_done = (
            Gauge(
                "alert_analyst_detection_last_cycle_timestamp_seconds",
                "When the latest detection cycle finished (0: none yet); it stops moving when the loop"
                " hangs or every cycle raises.",
                registry=registry,
            )
            if registry is not None
            else None
        )
        self._interval = (
            Gauge(
                "alert_analyst_detection_interval_seconds",
                "detection.interval_seconds while scheduled detection runs (0: disabled).",
                registry=registry,
            )
            if registry is not None
            else None
        )
        self._rule_series = (
            Gauge(
                "alert_analyst_detection_rule_series",
                "Series a detection rule's query returned at its latest cycle (0: nothing to detect on).",
                ["rule"],
                registry=registry,
            )
            if registry is not None
            else None
        )

    async def start(self) -> None:
        if self._interval is not None:
            self._interval.set(self.settings.interval_seconds if self.settings.enabled else 0)
        if self.settings.enabled and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="detection-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def reconfigure(self, settings: DetectionSettings) -> None:
        """Run with new settings (a configuration reload): the loop stops, then starts again with the new
        config-file rules, interval and worker pool; rules added through the API stay. The incidents of
        config-file rules the reload removed resolve."""
        await self.stop()
        self.settings = settings
        changed = {r.name for r in settings.rules if self._config_rules.get(r.name) != r}
        self._config_rules = {r.name: r for r in settings.rules}
        for name in changed:  # a new definition has missed nothing yet
            self._unseen.pop(name, None)
            self._down.pop(name, None)
        if changed:
            await self.store.write(db_rules.clear_catch_up, sorted(changed))
        self._executor = _detection_executor(settings)
        await self.start()
        self._resolved(await self._resolve_removed(time.time()))

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                report = await self.run_cycle()
                log.info(
                    "detection_cycle",
                    rules=report.rules,
                    series=report.series,
                    incidents=len(report.incidents),
                    below_floor=report.below_floor,
                    errors=len(report.errors),
                    seconds=round(report.duration_seconds, 2),
                )
            except Exception:
                log.exception("detection_cycle_failed")
            await asyncio.sleep(max(0.0, self.settings.interval_seconds - (time.monotonic() - started)))

    async def rules(self) -> list[tuple[RuleSettings, RuleOrigin]]:
        """Config-file rules, then API rules (a stored rule that no longer validates is skipped, logged)."""
        out: list[tuple[RuleSettings, RuleOrigin]] = [(r, "config") for r in self._config_rules.values()]
        for body in await self.store.run(db_rules.load_api_rules):
            try:
                rule = RuleSettings.model_validate(body)
            except ValidationError as exc:
                log.error("stored_rule_invalid", rule=body.get("name"), error=str(exc))
                continue
            if rule.name not in self._config_rules:
                out.append((rule, "api"))
        return out

    async def add_rule(self, rule: RuleSettings) -> None:
        if rule.name in self._config_rules:
            raise RuleConflict(f"a rule named {rule.name!r} exists already (in the configuration file)")
        await self.store.write(db_rules.insert_api_rule, rule.name, rule.model_dump(mode="json"))

    async def replace_rule(self, rule: RuleSettings) -> None:
        """New fields for an API rule of the same name; what it opened, and its cooldowns, stay."""
        if rule.name in self._config_rules:
            raise RuleConflict(f"rule {rule.name!r} comes from the configuration file; change it there")
        await self.store.write(db_rules.replace_api_rule, rule.name, rule.model_dump(mode="json"))
        self._drop_scores(rule.name, keep=set())  # a new query may read other series; the counts go on
        self._status.pop(rule.name, None)
        self._unseen.pop(rule.name, None)  # nor has it missed anything (replace_api_rule cleared SQLite's)
        self._down.pop(rule.name, None)

    async def delete_rule(self, name: str) -> None:
        """Delete an API rule; the incidents it has firing resolve (their resolution is delivered)."""
        if name in self._config_rules:
            raise RuleConflict(f"rule {name!r} comes from the configuration file; remove it there")
        self._resolved(await self.store.write(db_rules.delete_api_rule, name, time.time()))
        self._forget_rule(name)

    async def probe(self, rule: RuleSettings, *, now: float | None = None) -> list[str]:
        """Notes on what the rule's query returns over the last hour (no series, counters), for whoever
        writes the rule; InvalidRuleField on `query` when the backend rejects it as PromQL. A backend that
        fails otherwise, or does not answer within PROBE_SECONDS, leaves it unjudged (a note says so)."""
        now = time.time() if now is None else now
        step = self.settings.effective_step
        asked = self.source.query_range(rule.query, now - PROBE_SPAN, now, step)
        try:
            series = await asyncio.wait_for(asked, PROBE_SECONDS)
        except MetricSourceError as exc:
            if exc.kind == "bad_query":
                raise InvalidRuleField(f"the backend rejects it: {exc}", "query") from None
            return [f"the query could not be tried ({exc}); the cycles will report it until it can"]
        except TimeoutError:
            return [f"the query was not answered within {PROBE_SECONDS:g} s; the cycles will try it"]
        return query_notes(rule.query, series, "the last hour")

    async def store_rule(self, rule: RuleSettings, *, replace: bool) -> list[str]:
        """Try the rule's query (`probe`), then add it or replace the API rule of its name; the probe's
        notes. Raises as `probe` (rejected PromQL: nothing is stored), `add_rule` and `replace_rule` do."""
        problem = unreachable_min_samples(rule, self.settings.lookback_points)
        if problem is not None:
            raise InvalidRuleField(problem, "min_samples")
        notes = await self.probe(rule)
        await (self.replace_rule(rule) if replace else self.add_rule(rule))
        return notes + shape_notes(rule, self.settings.lookback_points)

    async def run_in_pool(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` on the detection pool (threads or processes, as `detection.pool` says)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def run_cycle(self, *, now: float | None = None) -> CycleReport:
        """Fetch, detect, dedupe and report once (the timer calls this; tests call it directly)."""
        clock = time.monotonic()
        now = time.time() if now is None else now
        report = CycleReport(started_at=now)
        rules = [rule for rule, _ in await self.rules()]
        report.rules = len(rules)
        await self._load_unseen(rules)
        step = self.settings.effective_step
        start, end = align_range(now - self.settings.lookback_seconds, now, step, now)
        outcomes = await self._fetch_and_detect(rules, start, end, step, report)
        fresh = now - self.settings.effective_freshness
        findings: list[DetectorFinding] = []
        self._note_status(rules, outcomes, report, now)
        for rule, series, names, result in outcomes:
            report.series += len(series)
            report.detections += result.detection_count
            self._export_scores(rule.name, names, result.scores)
            since = self._since(rule.name, fresh, start)
            found = fresh_findings(rule, names, [s.labels for s in series], result, since)
            if rule.min_delta > 0 or rule.min_change > 0:
                below = len(latest_counted(rule, result, since, floor=False)) - len(found)
                report.below_floor += below
                self._count(rule.name, "below_floor", below)
            findings += found
        report.fresh = len(findings)
        for finding in findings:
            await self._open_incident(finding, now, report)
        report.resolved = await self.store.write(
            db_incidents.resolve_quiet_detector_incidents,
            evaluated_rules=sorted({r.name for r in rules} - set(report.errors)),
            active=sorted({f.fingerprint for f in findings}),
            opened_before=now - self.settings.cooldown_seconds,
            now=now,
        )
        report.resolved += await self._resolve_removed(now)
        self._resolved(report.resolved)
        await self._note_evaluated(rules, report, fresh)
        for name in (set(self._exported) | set(self._status)) - {r.name for r in rules}:
            self._forget_rule(name)
        report.duration_seconds = time.monotonic() - clock
        if self._cycle_done is not None:
            self._cycle_done.set(time.time())
        return report

    async def _fetch_and_detect(
        self, rules: Sequence[RuleSettings], start: float, end: float, step: float, report: CycleReport
    ) -> list[Outcome]:
        """Each query is fetched once; its rules are detected together as soon as its data arrives.

        Fetches are bounded, detection runs on the pool; outcomes come back in rule order.
        """
        slots = asyncio.Semaphore(self.settings.max_concurrency)
        loop = asyncio.get_running_loop()
        by_query: dict[str, list[int]] = {}
        for i, rule in enumerate(rules):
            by_query.setdefault(rule.query, []).append(i)

        async def one(query: str, members: list[int]) -> list[tuple[int, Outcome]]:
            group = [rules[i] for i in members]
            async with slots:
                try:
                    series = await self.source.query_range(query, start, end, step)
                except MetricSourceError as exc:
                    report.errors.update({rule.name: str(exc) for rule in group})
                    return []
            if not series:
                return []
            try:
                names, results, sampling = await loop.run_in_executor(
                    self._executor, detect_query, group, series, start, end, step
                )
                report.sampling.update({rule.name: sampling for rule in group})
            except Exception as exc:  # a detector bug must not stop the other rules
                log.exception("detection_failed", rules=[rule.name for rule in group])
                report.errors.update({rule.name: f"detection failed: {exc}" for rule in group})
                return []
            return [
                (i, (rules[i], series, names, result)) for i, result in zip(members, results, strict=True)
            ]

        done = await asyncio.gather(*(one(query, members) for query, members in by_query.items()))
        ordered = sorted((pair for group in done for pair in group), key=lambda pair: pair[0])
        return [outcome for _, outcome in ordered]

    def _since(self, rule: str, fresh: float, start: float) -> float:
        """Where the rule's new anomalies begin: `fresh`, or, after cycles that could not evaluate it, where
        the first of those would have begun, or, at the first cycle after a restart, where the previous
        run's last evaluation of it looked up to (not before the grid's `start`): what happened since is
        new."""
        unseen = min(self._unseen.get(rule, fresh), self._down.get(rule, fresh))
        return max(start, min(fresh, unseen))

    async def _load_unseen(self, rules: Sequence[RuleSettings]) -> None:
        """Once per scheduler: the windows a previous run's failing cycles left unseen, and up to when it
        evaluated each rule, of the rules still defined as they were then (SQLite forgets those of rules
        changed since)."""
        if self._unseen_loaded:
            return
        definitions = {rule.name: rule_definition(rule) for rule in rules}
        self._unseen = await self.store.write(db_rules.resume_catch_up, definitions)
        self._down = await self.store.write(db_rules.resume_seen, definitions)
        self._unseen_loaded = True

    async def _note_evaluated(self, rules: Sequence[RuleSettings], report: CycleReport, fresh: float) -> None:
        """Remember, per rule this cycle could not evaluate (or act on), the window it left unseen; forget
        it once a cycle evaluates the rule. Kept in SQLite too (only the changes are written), so a restart
        during an outage loses nothing; a removed rule's row goes with its firing state. And, per rule it
        evaluated, that it looked up to this cycle's time: a restart after the service was down (a
        redeploy, an OOM kill) looks back over the time it was down."""
        failed = {
            rule.name: rule_definition(rule)
            for rule in rules
            if rule.name in report.errors and rule.name not in self._unseen
        }
        caught_up = [
            rule.name for rule in rules if rule.name not in report.errors and rule.name in self._unseen
        ]
        if failed:
            await self.store.write(db_rules.save_catch_up, failed, fresh)
        if caught_up:
            await self.store.write(db_rules.clear_catch_up, caught_up)
        self._unseen.update(dict.fromkeys(failed, fresh))
        for name in caught_up:
            del self._unseen[name]
        evaluated = {rule.name: rule_definition(rule) for rule in rules if rule.name not in report.errors}
        if evaluated:
            await self.store.write(db_rules.save_seen, evaluated, report.started_at)
        for name in evaluated:
            self._down.pop(name, None)

    async def _defined(self, rule: str) -> bool:
        """Whether a rule of this name is still configured or stored (a cycle may outlive a DELETE)."""
        return rule in self._config_rules or await self.store.run(db_rules.api_rule_exists, rule)

    async def _resolve_removed(self, now: float) -> list[str]:
        """Resolve the firing incidents of rules deleted or gone from the configuration; their ids."""
        configured = list(self._config_rules)
        return await self.store.write(db_rules.resolve_removed_rules, configured=configured, now=now)

    def _resolved(self, incident_ids: list[str]) -> None:
        """Hand resolved incidents to the pipeline (their resolutions are delivered)."""
        if incident_ids and self.on_resolved is not None:
            self.on_resolved(incident_ids)

    def statuses(self) -> dict[str, RuleStatus]:
        """Per rule, how its latest cycle went (rules not evaluated yet are absent)."""
        return dict(self._status)

    def _note_status(
        self, rules: Sequence[RuleSettings], outcomes: Sequence[Outcome], report: CycleReport, now: float
    ) -> None:
        span = "the lookback"
        fetched = {rule.name: (len(series), result) for rule, series, _, result in outcomes}
        points = self.settings.lookback_points
        for rule in rules:
            if rule.name in report.errors:
                self._status[rule.name] = RuleStatus(now, 0, report.errors[rule.name])
                if self._rule_failures is not None:
                    self._rule_failures.labels(rule.name).inc()
                if self._rule_evaluated is not None:
                    self._rule_evaluated.labels(rule.name).set(0)
                continue
            count, result = fetched.get(rule.name, (0, None))
            sampling = report.sampling.get(rule.name, Sampling())
            notes = rule_notes(rule.query, count, sampling.counters, span)
            notes += sampling_notes(sampling, count, self.settings.effective_step)
            notes += shape_notes(rule, points)
            if result is not None and not rule.alert_on_gaps:
                notes += gap_notes(*result.table.gap_summary(), count, span)
            self._status[rule.name] = RuleStatus(now, count, None, tuple(notes))
            if self._rule_series is not None:
                self._rule_series.labels(rule.name).set(count)
            if self._rule_evaluated is not None:
                self._rule_evaluated.labels(rule.name).set(1)

    async def _open_incident(self, finding: DetectorFinding, now: float, report: CycleReport) -> None:
        if not await self._defined(finding.rule.name):
            log.info("detector_finding_dropped", rule=finding.rule.name, reason="the rule was deleted")
            return
        state = await self.store.run(db_rules.load_state, finding.fingerprint)
        if state is not None and (
            now - state["last_fired_at"] < self.settings.cooldown_seconds
            or state["last_onset"] == finding.starts_at
        ):
            report.deduplicated += 1
            self._count(finding.rule.name, "deduplicated")
            return
        try:
            incident_id = await self.on_anomaly(finding)
        except Exception as exc:
            log.exception("on_anomaly_failed", rule=finding.rule.name)
            report.errors[finding.rule.name] = f"on_anomaly failed: {exc}"
            return
        await self.store.write(
            db_rules.save_state,
            fingerprint=finding.fingerprint,
            rule=finding.rule.name,
            series_labels=finding.series_labels,
            fired_at=now,
            onset=finding.starts_at,
            incident_id=incident_id,
        )
        if incident_id is not None:
            report.incidents.append(incident_id)
            self._count(finding.rule.name, "opened")

    def _count(self, rule: str, outcome: str, n: int = 1) -> None:
        if self._findings is not None and n > 0:
            self._findings.labels(rule, outcome).inc(n)

    def _export_scores(self, rule: str, names: Sequence[str], scores: np.ndarray) -> None:
        if self._scores is None:
            return
        current = set()
        for name, score in zip(names, scores, strict=True):
            if np.isfinite(score):
                self._scores.labels(rule, name).set(float(score))
                current.add(name)
        self._drop_scores(rule, keep=current)
        self._exported[rule] = current

    def _forget_rule(self, rule: str) -> None:
        """The rule is gone: so are its scores and counts on /metrics, its status and its last cycles."""
        self._drop_scores(rule, keep=set())
        self._status.pop(rule, None)
        self._unseen.pop(rule, None)
        self._down.pop(rule, None)
        for family in (self._rule_failures, self._rule_evaluated, self._rule_series):
            if family is not None:
                with contextlib.suppress(KeyError):
                    family.remove(rule)
        if self._findings is not None:
            for outcome in FINDING_OUTCOMES:
                with contextlib.suppress(KeyError):
                    self._findings.remove(rule, outcome)

    def _drop_scores(self, rule: str, keep: set[str]) -> None:
        if self._scores is None:
            return
        for name in self._exported.get(rule, set()) - keep:
            with contextlib.suppress(KeyError):
                self._scores.remove(rule, name)
        if not keep:
            self._exported.pop(rule, None)
