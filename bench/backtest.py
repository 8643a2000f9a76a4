"""Backtest speed: the replay behind `alert-analyst backtest` and `POST /api/v1/backtest`, all series at once
against the same replay run series by series.

    python -m bench.backtest [--series 50] [--days 1] [--naive-sample 5] [--repeat 3]

One-minute noisy daily-shaped series with a few spikes and level shifts, a day of history before the range;
the default rule replayed every 5 minutes over a day's lookback (the scheduler's defaults). The per-series
loop runs on a random subsample and is extrapolated linearly (printed as such); before timing, its
findings on the subsample are checked equal to the batched replay's. The figure that sets the API's budget
(`receiver.web.backtest.MAX_POINT_SCORES`) is the point-scores per second: series x evaluations x points
per lookback, over the wall time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import numpy as np

from receiver.evidence.promql import series_id
from receiver.evidence.source import SeriesData
from receiver.scheduled.backtest import BacktestPlan, evaluation_count, plan_backtest, replay, work
from receiver.scheduled.scheduler import DetectorFinding
from receiver.scheduled.settings import DetectionSettings, RuleSettings

DAY = 86400.0
STEP = 60.0


def make_series(count: int, days: float, seed: int = 0) -> list[SeriesData]:
    """`count` series of 1 + `days` days at one minute: a daily cycle, noise, and per series a spike and a
    level shift at random places."""
    rng = np.random.default_rng(seed)
    n = int((1 + days) * DAY / STEP) + 1
    ts = np.arange(n) * STEP
    out = []
    for i in range(count):
        x = 100 + 10 * np.sin(2 * np.pi * ts / DAY + rng.uniform(0, 6.3)) + rng.normal(0, 1, n)
        spike = rng.integers(n // 2, n - 10)
        x[spike : spike + 5] += rng.uniform(8, 20)
        shift = rng.integers(n // 2, n)
        x[shift:] += rng.uniform(5, 15)
        out.append(SeriesData({"__name__": "bench", "i": str(i)}, ts, x))
    return out


def timed(fn: Callable[[], list[DetectorFinding]], repeat: int) -> tuple[float, list[DetectorFinding]]:
    """Best wall time of `repeat` runs, and the last run's findings."""
    best, found = float("inf"), []
    for _ in range(repeat):
        clock = time.perf_counter()
        found = fn()
        best = min(best, time.perf_counter() - clock)
    return best, found


def keyed(findings: Sequence[DetectorFinding]) -> list[tuple[str, float]]:
    return sorted((f.detection.series, f.starts_at) for f in findings)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backtest", description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument(
        "--days", type=float, default=1.0, help="the backtest's range, after a day of history"
    )
    parser.add_argument("--naive-sample", type=int, default=5, help="series the per-series loop runs on")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    series = make_series(args.series, args.days, args.seed)
    end = float(series[0].timestamps[-1])
    plan: BacktestPlan = plan_backtest(
        RuleSettings(name="bench", query="bench"), DetectionSettings(), DAY, end
    )
    sample = sorted(np.random.default_rng(args.seed).choice(len(series), args.naive_sample, replace=False))
    picked = [series[i] for i in sample]

    def batched() -> list[DetectorFinding]:
        return replay(plan, series, 0.0)

    def one_by_one() -> list[DetectorFinding]:
        return [f for s in picked for f in replay(plan, [s], 0.0)]

    _, all_found = timed(batched, 1)
    _, naive_found = timed(one_by_one, 1)
    names = {series_id(s.labels) for s in picked}
    assert keyed([f for f in all_found if f.detection.series in names]) == keyed(naive_found), "differ"

    seconds, found = timed(batched, args.repeat)
    naive_seconds, _ = timed(one_by_one, args.repeat)
    naive_all = naive_seconds * len(series) / len(picked)
    scores = work(plan, len(series))
    evaluations = evaluation_count(plan)
    print(
        f"backtest of the default rule: {len(series)} series, {evaluations} evaluations every"
        f" {plan.interval:g} s over {plan.lookback:g} s at {plan.step:g} s:"
        f" {scores / 1e6:.1f} M point-scores, {len(found)} incidents"
    )
    print(f"  all series at once (best of {args.repeat}): {seconds:.2f} s = {scores / seconds / 1e6:.2f} M/s")
    print(
        f"  series by series ({len(picked)} run, extrapolated to {len(series)}): {naive_all:.2f} s"
        f" -> x{naive_all / seconds:.1f}"
    )


if __name__ == "__main__":
    main()
