"""`alert-analyst backtest`: replay a detection rule over history and print what would have fired."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from pydantic import ValidationError

from receiver.cli.time_flags import join_relative_times
from receiver.config import load_settings, validation_summary
from receiver.errors import ConfigError
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import MetricSourceError, SeriesData
from receiver.scheduled.backtest import (
    BacktestPlan,
    BacktestReport,
    evaluation_count,
    fetch_history,
    plan_backtest,
    replay_counting,
    report_notes,
)
from receiver.scheduled.probe import Sampling
from receiver.scheduled.scheduler import DetectorFinding
from receiver.scheduled.settings import RuleSettings
from receiver.times import format_time, parse_duration, parse_time

TIME_FLAGS = ("--from", "--to")


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
    parser.add_argument(
        "--min-delta", type=float, help="smallest move from the baseline that counts, in the series' units"
    )
    parser.add_argument(
        "--min-change", type=float, help="smallest move from the baseline that counts, as a fraction of it"
    )
    parser.add_argument("--lookback", help="history per evaluation (default detection.lookback_seconds)")
    parser.add_argument("--step", help="query step (default detection.step_seconds or auto)")
    parser.add_argument("--interval", help="time between evaluations (default detection.interval_seconds)")
    return parser


def _plan(args: argparse.Namespace, now: float) -> tuple[BacktestPlan, PrometheusSettings]:
    overrides = {"prometheus": {"url": args.prometheus_url}} if args.prometheus_url else {}
    settings = load_settings(args.config_file, overrides=overrides)
    detection = settings.detection
    if args.rule:
        rule = next((r for r in detection.rules if r.name == args.rule), None)
        if rule is None:
            raise ConfigError(f"no rule named {args.rule!r} in detection.rules")
    else:
        rule = RuleSettings(name="backtest", query=args.query)
    given = {"method": args.method, "min_delta": args.min_delta, "min_change": args.min_change}
    if overridden := {field: value for field, value in given.items() if value is not None}:
        rule = RuleSettings.model_validate({**rule.model_dump(), **overridden})
    plan = plan_backtest(
        rule,
        detection,
        parse_time(args.start, now),
        parse_time(args.end, now),
        lookback=parse_duration(args.lookback) if args.lookback else None,
        step=parse_duration(args.step) if args.step else None,
        interval=parse_duration(args.interval) if args.interval else None,
    )
    return plan, settings.prometheus


async def _fetch(plan: BacktestPlan, settings: PrometheusSettings) -> tuple[list[SeriesData], float]:
    source = PrometheusSource(settings)
    try:
        return await fetch_history(plan, source)
    finally:
        await source.close()


def format_findings(findings: Sequence[DetectorFinding]) -> str:
    rows = [("TIME (UTC)", "SERIES", "TYPE", "SEVERITY", "CONFIDENCE")]
    for f in findings:
        when = format_time(f.starts_at)
        d = f.detection
        rows.append((when, d.series, str(d.anomaly_type), str(d.severity), f"{d.confidence:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows
    )


def run_backtest(argv: list[str]) -> int:
    """Entry point of `alert-analyst backtest ...`: 0 on success, 1 on a backend error, 2 on bad usage."""
    try:
        args = _parser().parse_args(join_relative_times(argv, TIME_FLAGS))
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        plan, prometheus = _plan(args, time.time())
    except ValidationError as exc:
        print(f"alert-analyst backtest: {validation_summary(exc, 'rule')}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError) as exc:
        print(f"alert-analyst backtest: {exc}", file=sys.stderr)
        return 2
    try:
        series, fetched_start = asyncio.run(_fetch(plan, prometheus))
    except MetricSourceError as exc:
        print(f"alert-analyst backtest: cannot fetch {plan.rule.query!r}: {exc}", file=sys.stderr)
        return 1
    total = evaluation_count(plan)
    print(f"backtest {plan.rule.name}: replaying {total} evaluations", file=sys.stderr)
    findings, sampling = replay_counting(plan, series, fetched_start) if series else ([], Sampling())
    report = BacktestReport(plan, series, findings, sampling=sampling)
    print(format_findings(findings))
    span = f"{format_time(plan.start)} .. {format_time(plan.end)}"
    print(
        f"\n{len(findings)} anomalies would have fired for rule {plan.rule.name!r} over {span} "
        f"({len(series)} series, lookback {plan.lookback:g}s, step {plan.step:g}s, every {plan.interval:g}s)"
    )
    for note in report_notes(report):
        print(f"note: {note}")
    return 0
