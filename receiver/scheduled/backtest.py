"""Backtest: replay a detection rule over history and find what would have fired (the CLI is
`receiver.cli.backtest`, the API and the workbench page `receiver.web.backtest`).

The range [from - lookback, to] is fetched once; then, every `interval` from `from` to `to`, the rule
is detected on the trailing `lookback` window exactly as the scheduler would, with the same
freshness and cooldown, so the output is what the live scheduler would have opened.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.grid import align, align_range, grid
from receiver.errors import ReceiverError
from receiver.evidence.promql import series_id
from receiver.evidence.source import MetricSource, SeriesData
from receiver.scheduled.native_sampling import detect_native, native_grid
from receiver.scheduled.probe import Sampling, rule_notes, sampling_notes, sampling_of
from receiver.scheduled.scheduler import DetectorFinding, fresh_findings
from receiver.scheduled.settings import (
    DetectionSettings,
    RuleSettings,
    default_step,
    grid_points,
    to_detection_rule,
    unreachable_min_samples,
)

DAY = 86400.0


class BacktestError(ReceiverError, ValueError):
    """A backtest that cannot run as asked (`field`: the parameter to change)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class BacktestPlan:
    rule: RuleSettings
    detection: DetectionSettings
    start: float
    end: float
    lookback: float
    step: float
    interval: float


def plan_backtest(
    rule: RuleSettings,
    detection: DetectionSettings,
    start: float,
    end: float,
    *,
    lookback: float | None = None,
    step: float | None = None,
    interval: float | None = None,
) -> BacktestPlan:
    """The plan the scheduler's settings give, with any of lookback, step and interval overridden."""
    if not end > start:
        raise BacktestError("the end of the range must be after its start", "to")
    for name, value in (("lookback", lookback), ("step", step), ("interval", interval)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise BacktestError(f"{name} must be a positive duration", name)
    lookback = lookback or detection.lookback_seconds
    step = step or detection.step_seconds or default_step(lookback)
    if step > lookback / 3:
        raise BacktestError(f"step ({step:g} s) leaves fewer than 3 points in the lookback", "step")
    never = unreachable_min_samples(rule, grid_points(lookback, step))
    if never is not None:
        raise BacktestError(never, "rule.min_samples")
    return BacktestPlan(rule, detection, start, end, lookback, step, interval or detection.interval_seconds)


def evaluation_count(plan: BacktestPlan) -> int:
    """How many evaluations the plan makes (without listing them: a range may be asked for by mistake)."""
    return math.floor((plan.end - plan.start) / plan.interval) + 1


def evaluation_times(plan: BacktestPlan) -> np.ndarray:
    """Every `interval` from `start` to `end` (both included when they fall on the grid)."""
    return plan.start + plan.interval * np.arange(evaluation_count(plan))


def fetched_points(plan: BacktestPlan) -> int:
    """Points fetched per series: the range and one lookback before it, at the step."""
    return math.floor((plan.end - plan.start + plan.lookback) / plan.step) + 1


def window_points(plan: BacktestPlan) -> int:
    """Points in each evaluation's trailing window."""
    return int(plan.lookback // plan.step)


def work(plan: BacktestPlan, series: int) -> int:
    """Point-scores a replay computes: series x evaluations x points per window (its cost is about linear
    in this: about 0.3 s per 1 M on one core with the default detector)."""
    return series * evaluation_count(plan) * window_points(plan)


def replay(plan: BacktestPlan, series: Sequence[SeriesData], fetched_start: float) -> list[DetectorFinding]:
    """Evaluate the rule every `interval` over its trailing window; fresh, cooled-down findings only."""
    timestamps = grid(fetched_start, plan.end, plan.step)
    return _replay(plan, series, timestamps, align(series, timestamps, plan.step))


def replay_counting(
    plan: BacktestPlan, series: Sequence[SeriesData], fetched_start: float
) -> tuple[list[DetectorFinding], Sampling]:
    """`replay`, and how the series sit on the grid it aligns them to (counters, slow samples: pure; the
    API runs it on the detection pool)."""
    timestamps = grid(fetched_start, plan.end, plan.step)
    values = align(series, timestamps, plan.step)
    return _replay(plan, series, timestamps, values), sampling_of(values, native_grid(timestamps, values))


def _replay(
    plan: BacktestPlan, series: Sequence[SeriesData], timestamps: np.ndarray, values: np.ndarray
) -> list[DetectorFinding]:
    names = [series_id(s.labels) for s in series]
    labels = [s.labels for s in series]
    rule = to_detection_rule(plan.rule)
    last_fired: dict[str, float] = {}
    fired: list[DetectorFinding] = []
    for at in evaluation_times(plan):
        window = (timestamps > at - plan.lookback) & (timestamps <= at)
        if window.sum() < 3:
            continue
        [result] = detect_native([rule], timestamps[window], values[:, window], names)
        for finding in fresh_findings(plan.rule, names, labels, result, at - plan.interval):
            previous = last_fired.get(finding.fingerprint)
            if previous is not None and at - previous < plan.detection.cooldown_seconds:
                continue
            last_fired[finding.fingerprint] = at
            fired.append(finding)
    return fired


@dataclass(frozen=True)
class BacktestReport:
    """What a replay found: the incidents the scheduler would have opened, and over how much."""

    plan: BacktestPlan
    series: list[SeriesData]
    findings: list[DetectorFinding]
    seconds: float = 0.0
    sampling: Sampling = field(default_factory=Sampling)  # counters, series holding samples for several steps

    @property
    def per_series(self) -> Counter[str]:
        """Incidents per series."""
        return Counter(f.detection.series for f in self.findings)

    @property
    def evaluations(self) -> int:
        return evaluation_count(self.plan)

    @property
    def series_days(self) -> float:
        return len(self.series) * (self.plan.end - self.plan.start) / DAY

    @property
    def per_series_day(self) -> float | None:
        """Incidents per series and day of the range (None without series)."""
        return len(self.findings) / self.series_days if self.series_days else None


def report_notes(report: BacktestReport) -> list[str]:
    """What the user should know about a backtest beside its findings (no series, counters, slow samples)."""
    series = len(report.series)
    notes = rule_notes(report.plan.rule.query, series, report.sampling.counters, "the range")
    return notes + sampling_notes(report.sampling, series, report.plan.step, "the range")


async def fetch_history(plan: BacktestPlan, source: MetricSource) -> tuple[list[SeriesData], float]:
    """The rule's series over [start - lookback, end] and the aligned start of that range."""
    start, end = align_range(plan.start - plan.lookback, plan.end, plan.step, plan.end)
    return await source.query_range(plan.rule.query, start, end, plan.step), start
