"""Backtest: replay a detection rule over history and find what would have fired (the CLI is
`receiver.cli.backtest`).

The range [from - lookback, to] is fetched once; then, every `interval` from `from` to `to`, the rule
is detected on the trailing `lookback` window exactly as the scheduler would, with the same
freshness and cooldown, so the output is what the live scheduler would have opened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors import detect_batch
from detectors.grid import align, align_range, grid
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.promql import series_id
from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import SeriesData
from receiver.scheduled.scheduler import DetectorFinding, fresh_findings
from receiver.scheduled.settings import DetectionSettings, RuleSettings, to_detection_rule


@dataclass(frozen=True)
class BacktestPlan:
    rule: RuleSettings
    prometheus: PrometheusSettings
    detection: DetectionSettings
    start: float
    end: float
    lookback: float
    step: float
    interval: float


def evaluation_times(plan: BacktestPlan) -> np.ndarray:
    """Every `interval` from `start` to `end` (both included when they fall on the grid)."""
    return plan.start + plan.interval * np.arange(math.floor((plan.end - plan.start) / plan.interval) + 1)


def replay(plan: BacktestPlan, series: Sequence[SeriesData], fetched_start: float) -> list[DetectorFinding]:
    """Evaluate the rule every `interval` over its trailing window; fresh, cooled-down findings only."""
    timestamps = grid(fetched_start, plan.end, plan.step)
    values = align(series, timestamps, plan.step)
    names = [series_id(s.labels) for s in series]
    labels = [s.labels for s in series]
    rule = to_detection_rule(plan.rule)
    last_fired: dict[str, float] = {}
    fired: list[DetectorFinding] = []
    for at in evaluation_times(plan):
        window = (timestamps > at - plan.lookback) & (timestamps <= at)
        if window.sum() < 3:
            continue
        result = detect_batch(rule, timestamps[window], values[:, window], names)
        for finding in fresh_findings(plan.rule, names, labels, result, at - plan.interval):
            previous = last_fired.get(finding.fingerprint)
            if previous is not None and at - previous < plan.detection.cooldown_seconds:
                continue
            last_fired[finding.fingerprint] = at
            fired.append(finding)
    return fired


async def fetch_history(plan: BacktestPlan) -> tuple[list[SeriesData], float]:
    """The rule's series over [start - lookback, end] and the aligned start of that range."""
    source = PrometheusSource(plan.prometheus)
    try:
        start, end = align_range(plan.start - plan.lookback, plan.end, plan.step, plan.end)
        return await source.query_range(plan.rule.query, start, end, plan.step), start
    finally:
        await source.close()
