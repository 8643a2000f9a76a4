"""`alert-analyst backtest`: replay a detection rule over history and print what would have fired.

The range [from - lookback, to] is fetched once; then, every `interval` from `from` to `to`, the rule
is detected on the trailing `lookback` window exactly as the scheduler would, with the same
freshness and cooldown, so the output is what the live scheduler would have opened.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from pydantic import ValidationError
from tqdm import tqdm

from detectors import detect_batch
from detectors.grid import align, align_range, grid
from receiver.errors import ConfigError
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.promql import series_id
from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import MetricSourceError, SeriesData
from receiver.scheduled.rules import to_detection_rule
from receiver.scheduled.scheduler import DetectorFinding, default_step, fresh_findings
from receiver.scheduled.settings import DetectionSettings, RuleSettings

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> float:
    """`90s`, `5m`, `1h30m`, `2d` → seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 5m, 6h, 2d")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parse_time(text: str, now: float) -> float:
    """RFC 3339, Unix seconds, `now`, or relative to now: `-6h`, `now-6h`."""
    text = text.strip()
    if text == "now":
        return now
    relative = re.fullmatch(r"(?:now)?-(.+)", text)
    if relative:
        return now - parse_duration(relative.group(1))
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid time {text!r}: use RFC 3339, Unix seconds, now or -6h") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alert-analyst backtest",
        description="Replay a detection rule over history; print what would fire.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--rule", help="name of a rule in detection.rules of --config.file")
    what.add_argument("--query", help="ad-hoc PromQL to detect on")
    parser.add_argument("--from", dest="start", required=True, help="RFC 3339, Unix seconds, or -6h")
    parser.add_argument(
        "--to", dest="end", default="now", help="RFC 3339, Unix seconds, now (default) or -1h"
    )
    parser.add_argument("--config.file", dest="config_file", help="alert-analyst YAML configuration")
    parser.add_argument("--prometheus.url", dest="prometheus_url", help="overrides prometheus.url")
    parser.add_argument("--method", help="detection method (overrides the rule's)")
    parser.add_argument("--lookback", help="history per evaluation (default detection.lookback_seconds)")
    parser.add_argument("--step", help="query step (default detection.step_seconds or auto)")
    parser.add_argument("--interval", help="time between evaluations (default detection.interval_seconds)")
    return parser


def _plan(args: argparse.Namespace, now: float) -> BacktestPlan:
    from receiver.config import load_settings

    overrides = {"prometheus": {"url": args.prometheus_url}} if args.prometheus_url else {}
    settings = load_settings(args.config_file, overrides=overrides)
    detection = settings.detection
    if args.rule:
        rule = next((r for r in detection.rules if r.name == args.rule), None)
        if rule is None:
            raise ConfigError(f"no rule named {args.rule!r} in detection.rules")
    else:
        rule = RuleSettings(name="backtest", query=args.query)
    if args.method:
        rule = RuleSettings.model_validate({**rule.model_dump(), "method": args.method})
    lookback = parse_duration(args.lookback) if args.lookback else detection.lookback_seconds
    step = parse_duration(args.step) if args.step else detection.step_seconds or default_step(lookback)
    interval = parse_duration(args.interval) if args.interval else detection.interval_seconds
    start, end = parse_time(args.start, now), parse_time(args.end, now)
    if end <= start:
        raise ValueError(f"--to ({args.end}) must be after --from ({args.start})")
    return BacktestPlan(rule, settings.prometheus, detection, start, end, lookback, step, interval)


def replay(plan: BacktestPlan, series: Sequence[SeriesData], fetched_start: float) -> list[DetectorFinding]:
    """Evaluate the rule every `interval` over its trailing window; fresh, cooled-down findings only."""
    timestamps = grid(fetched_start, plan.end, plan.step)
    values = align(series, timestamps, plan.step)
    names = [series_id(s.labels) for s in series]
    labels = [s.labels for s in series]
    rule = to_detection_rule(plan.rule)
    evaluations = plan.start + plan.interval * np.arange(
        math.floor((plan.end - plan.start) / plan.interval) + 1
    )
    last_fired: dict[str, float] = {}
    fired: list[DetectorFinding] = []
    for at in tqdm(evaluations, desc=f"backtest {plan.rule.name}", unit="eval", file=sys.stderr):
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


async def _fetch(plan: BacktestPlan) -> tuple[list[SeriesData], float]:
    source = PrometheusSource(plan.prometheus)
    try:
        start, end = align_range(plan.start - plan.lookback, plan.end, plan.step, plan.end)
        return await source.query_range(plan.rule.query, start, end, plan.step), start
    finally:
        await source.close()


def format_findings(findings: Sequence[DetectorFinding]) -> str:
    rows = [("TIME (UTC)", "SERIES", "TYPE", "SEVERITY", "CONFIDENCE")]
    for f in findings:
        when = datetime.fromtimestamp(f.starts_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        d = f.detection
        rows.append((when, d.series, str(d.anomaly_type), str(d.severity), f"{d.confidence:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows
    )


def run_backtest(argv: list[str]) -> int:
    """Entry point of `alert-analyst backtest ...`: 0 on success, 1 on a backend error, 2 on bad usage."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        plan = _plan(args, time.time())
    except (ConfigError, ValueError, ValidationError) as exc:
        print(f"alert-analyst backtest: {exc}", file=sys.stderr)
        return 2
    try:
        series, fetched_start = asyncio.run(_fetch(plan))
    except MetricSourceError as exc:
        print(f"alert-analyst backtest: cannot fetch {plan.rule.query!r}: {exc}", file=sys.stderr)
        return 1
    findings = replay(plan, series, fetched_start)
    print(format_findings(findings))
    span = f"{_iso(plan.start)} .. {_iso(plan.end)}"
    print(
        f"\n{len(findings)} anomalies would have fired for rule {plan.rule.name!r} over {span} "
        f"({len(series)} series, lookback {plan.lookback:g}s, step {plan.step:g}s, every {plan.interval:g}s)"
    )
    return 0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
