"""False incidents of scheduled detection: what a rule opens on series where nothing happens.

    python -m bench.quiet [--series 10] [--days 1] [--methods level_step_tail,zscore,ensemble]
                          [--thresholds 3,4] [--min-changes 0] [--seed 0]

Synthetic one-minute series without anomalies, `--series` of each kind (white noise, AR(0.9), a daily
cycle with noise, Poisson counts, Student t(3) noise), go through the scheduler's own evaluation
(`receiver.scheduled.backtest.replay`: every `interval` over the trailing `lookback`, fresh findings
only, one incident per series per `cooldown`) with the service's default detection settings (interval
5 min, lookback 1 day at 60 s steps, cooldown 1 h), for `--days` days after a day of history. Prints
incidents per series-day per kind and method, for each `--thresholds` value of the rule's threshold
(3 is the default) and each `--min-changes` value of the rule's `min_change` (the smallest move from
the baseline that counts, as a fraction of it; 0, the default, is off). Every incident here is a false
one; zscore, the textbook rule, is the baseline.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from bench.ops_data import ar1
from receiver.evidence.source import SeriesData
from receiver.scheduled.backtest import BacktestPlan, replay
from receiver.scheduled.settings import DetectionSettings, RuleSettings

DAY = 86_400.0
STEP = 60.0
KINDS = ("white noise", "AR(0.9)", "daily cycle", "Poisson counts", "t(3) noise")


def quiet_series(kind: str, count: int, points: int, rng: np.random.Generator) -> np.ndarray:
    """(count, points) values of one kind, no anomaly."""
    t = np.arange(points) * STEP
    if kind == "white noise":
        return rng.normal(100.0, 1.0, (count, points))
    if kind == "AR(0.9)":
        return 100.0 + np.array([ar1(rng, 0.9, 1.0, points) for _ in range(count)])
    if kind == "daily cycle":
        return 100.0 + 10.0 * np.sin(2 * np.pi * t / DAY)[None, :] + rng.normal(0.0, 1.0, (count, points))
    if kind == "Poisson counts":
        return rng.poisson(20.0, (count, points)).astype(float)
    return 100.0 + rng.standard_t(3, (count, points))


def incidents_per_series_day(
    method: str,
    threshold: float,
    values: np.ndarray,
    days: float,
    detection: DetectionSettings,
    min_change: float = 0.0,
) -> float:
    """The scheduler's incidents over `days` after the first day, per series and day."""
    step = detection.effective_step  # as the scheduler picks it
    timestamps = np.arange(values.shape[1]) * step
    series = [SeriesData({"__name__": "quiet", "i": str(i)}, timestamps, row) for i, row in enumerate(values)]
    rule = RuleSettings(
        name="quiet", query="quiet", method=method, threshold=threshold, min_change=min_change
    )
    plan = BacktestPlan(
        rule=rule,
        detection=detection,
        start=detection.lookback_seconds,
        end=float(timestamps[-1]),
        lookback=detection.lookback_seconds,
        step=step,
        interval=detection.interval_seconds,
    )
    return len(replay(plan, series, 0.0)) / (values.shape[0] * days)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quiet", description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=10, help="series of each kind")
    parser.add_argument("--days", type=float, default=1.0, help="days evaluated after a day of history")
    parser.add_argument("--methods", default="level_step_tail,zscore,ensemble")
    parser.add_argument("--thresholds", default="3,4")
    parser.add_argument("--min-changes", default="0", help="values of the rules' min_change")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    detection = DetectionSettings()
    points = int((detection.lookback_seconds + args.days * DAY) / STEP) + 1
    rng = np.random.default_rng(args.seed)
    blocks = {kind: quiet_series(kind, args.series, points, rng) for kind in KINDS}
    print(
        f"{args.series} quiet series of each kind, {args.days:g} days after a day of history; scheduler: "
        f"every {detection.interval_seconds:g} s over {detection.lookback_seconds:g} s, cooldown "
        f"{detection.cooldown_seconds:g} s. False incidents per series-day:"
    )
    print(
        f"  {'method':16s}{'threshold':>10s}{'min_change':>11s}"
        + "".join(f"{k:>16s}" for k in KINDS)
        + f"{'seconds':>10s}"
    )
    changes = [float(c) for c in args.min_changes.split(",")]
    for method in args.methods.split(","):
        for threshold in (float(t) for t in args.thresholds.split(",")):
            for change in changes:
                started = time.perf_counter()
                rates = [
                    incidents_per_series_day(method, threshold, blocks[kind], args.days, detection, change)
                    for kind in KINDS
                ]
                cells = "".join(f"{r:16.2f}" for r in rates)
                seconds = time.perf_counter() - started
                print(f"  {method:16s}{threshold:10g}{change:11g}{cells}{seconds:10.1f}", flush=True)


if __name__ == "__main__":
    main()
