"""Detector speed: batch (2-D, vectorised) against a naive per-series loop of the same library calls.

    python -m bench.detect [--series 10000] [--points 1440] [--naive-sample 200] [--forest-sample 50]
                           [--repeat 3]

Synthetic one-minute series (one day each) with injected spikes, level shifts and gaps. Every method
runs once in batch over all series; the naive loop calls `detect_series` series by series on a random
subsample (the same rows for every method) and is extrapolated linearly to all series (printed as such).
Before timing anything the batch records of the subsample are checked equal to the naive loop's.

The cycle is what the scheduler runs each interval for five rules (the default level_step_tail, zscore, iqr,
changepoint, ensemble)
over the same series: one `detect_rules` call, then each rule's `latest_per_series` (the only records
the service builds). Batch times are given without building records ("columnar"), with the records the
service builds, and with every record built, so nothing is hidden.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np

from detectors import (
    DEFAULT_METHOD,
    AnomalyDetection,
    BatchResult,
    DetectionRule,
    detect_batch,
    detect_rules,
    detect_series,
)

BATCH_METHODS = (DEFAULT_METHOD, "zscore", "robust_zscore", "iqr", "changepoint", "ensemble")
CYCLE_METHODS = (DEFAULT_METHOD, "zscore", "iqr", "changepoint", "ensemble")
FRESHNESS_SECONDS = 600.0  # the scheduler's default: 2 x the 300 s interval
T = TypeVar("T")


@dataclass(frozen=True)
class Workload:
    """Series on a shared grid and what was injected where."""

    timestamps: np.ndarray
    values: np.ndarray
    names: list[str]
    spikes: dict[int, int]
    shifts: dict[int, int]


def make_workload(k: int, n: int, seed: int = 0) -> Workload:
    """Noisy daily-shaped series; 10% get a spike, 10% a level shift, 2% a 30-point gap."""
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000.0 + 60.0 * np.arange(n)
    level = rng.uniform(10, 1000, size=(k, 1))
    noise = rng.uniform(0.01, 0.05, size=(k, 1)) * level
    shape = 1 + 0.2 * np.sin(2 * np.pi * np.arange(n) / n + rng.uniform(0, 6.3, size=(k, 1)))
    values = level * shape + noise * rng.standard_normal((k, n))
    rows = rng.permutation(k)
    spike_rows, shift_rows, gap_rows = (
        rows[: k // 10],
        rows[k // 10 : k // 5],
        rows[k // 5 : k // 5 + k // 50],
    )
    spikes = {int(r): int(rng.integers(200, n)) for r in spike_rows}
    shifts = {int(r): int(rng.integers(200, n - 100)) for r in shift_rows}
    for r, i in spikes.items():
        values[r, i] += rng.choice([-1, 1]) * 8 * noise[r, 0]
    for r, i in shifts.items():
        values[r, i:] += rng.choice([-1, 1]) * 6 * noise[r, 0]
    for r in gap_rows:
        start = int(rng.integers(100, n - 40))
        values[r, start : start + 30] = np.nan
    return Workload(ts, values, [f"series_{i}" for i in range(k)], spikes, shifts)


def recall(
    work: Workload, detections: Sequence[AnomalyDetection], injected: dict[int, int], tolerance: int = 3
) -> float:
    """Share of injected anomalies with a detection (onset or peak) within `tolerance` points."""
    found: dict[str, list[float]] = {}
    for d in detections:
        found.setdefault(d.series, []).extend([d.timestamp, d.onset if d.onset is not None else d.timestamp])
    step = float(work.timestamps[1] - work.timestamps[0])
    hits = sum(
        any(abs(t - work.timestamps[i]) <= tolerance * step for t in found.get(work.names[r], []))
        for r, i in injected.items()
    )
    return hits / max(len(injected), 1)


@dataclass(frozen=True)
class Timing:
    """Wall time and CPU time (all threads of the process) of one call."""

    wall: float
    cpu: float


def timed(call: Callable[[], T]) -> tuple[Timing, T]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = call()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), out


def naive_loop(rule: DetectionRule, work: Workload, rows: np.ndarray) -> dict[str, list[AnomalyDetection]]:
    """The same library call, one series at a time (returns each series' records)."""
    out = {}
    for i in rows.tolist():
        found = detect_series(rule, work.timestamps, work.values[i], work.names[i])
        out[work.names[i]] = found if isinstance(found, list) else []
    return out


def check_same(method: str, result: BatchResult, naive: dict[str, list[AnomalyDetection]]) -> None:
    """The batch's records of the sampled series equal the naive loop's, record for record."""
    batch: dict[str, list[AnomalyDetection]] = {name: [] for name in naive}
    for d in result.detections:
        if d.series in batch:
            batch[d.series].append(d)
    if batch != naive:
        raise SystemExit(f"{method}: batch and naive detections differ: the benchmark would be meaningless")


def all_detections(results: Sequence[BatchResult]) -> list[AnomalyDetection]:
    """Every record of every result (what building all records costs)."""
    return [d for r in results for d in r.detections]


def service_records(results: Sequence[BatchResult], since: float) -> int:
    """What the scheduler builds per rule and cycle: each series' latest fresh detection."""
    return sum(len(r.latest_per_series(since)) for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.detect", description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_440)
    parser.add_argument("--naive-sample", type=int, default=200)
    parser.add_argument("--forest-sample", type=int, default=50, help="0 skips isolation_forest")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of the cycle comparison")
    args = parser.parse_args()
    work = make_workload(args.series, args.points)
    k, n = work.values.shape
    sample = np.random.default_rng(1).choice(k, size=min(args.naive_sample, k), replace=False)
    load = os.getloadavg()[0]
    print(f"{k} series x {n} points = {k * n:,} points; load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"naive loop: detect_series on {sample.size} random series, times x {k / sample.size:g} to all {k}")
    print(f"{'method':16s}{'columnar s':>11s}{'+all records':>13s}{'Mpts/s':>8s}{'naive s':>9s}"
          f"{'speed-up':>9s}{'(all rec.)':>11s}{'detections':>11s}  spike / shift recall")  # fmt: skip
    columnar: dict[str, float] = {}
    for method in BATCH_METHODS:
        rule = DetectionRule(f"bench-{method}", method=method)
        batch, result = timed(partial(detect_batch, rule, work.timestamps, work.values, work.names))
        records, dets = timed(partial(all_detections, [result]))
        loop, naive = timed(partial(naive_loop, rule, work, sample))
        check_same(method, result, naive)
        columnar[method] = batch.wall
        naive_s, total = loop.wall * k / sample.size, batch.wall + records.wall
        print(f"{method:16s}{batch.wall:11.2f}{total:13.2f}{k * n / batch.wall / 1e6:8.2f}{naive_s:9.1f}"
              f"{naive_s / batch.wall:8.1f}x{naive_s / total:10.1f}x{len(dets):11d}"
              f"  {recall(work, dets, work.spikes):.2f} / {recall(work, dets, work.shifts):.2f}")  # fmt: skip
    if args.forest_sample > 0:
        forest = DetectionRule("bench-forest", method="isolation_forest")
        rows = sample[: args.forest_sample]
        elapsed, _ = timed(
            lambda: detect_batch(forest, work.timestamps, work.values[rows], [work.names[i] for i in rows])
        )
        print(f"{'isolation_forest':16s}{elapsed.wall * k / rows.size:11.1f}   (measured on {rows.size} "
              "series, extrapolated: one forest per call, fitted on pooled features)")  # fmt: skip
    cycle(work, sample, columnar, args.repeat)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def cycle(work: Workload, sample: np.ndarray, columnar: dict[str, float], repeat: int) -> None:
    """The scheduler's cycle over five rules on the same series against the naive loops, interleaved
    `repeat` times (medians printed: the box is shared, single runs vary by +-30 %)."""
    k, n = work.values.shape
    since = float(work.timestamps[-1]) - FRESHNESS_SECONDS
    rules = [DetectionRule(f"bench-{m}", method=m) for m in CYCLE_METHODS]
    scale = k / sample.size
    runs: dict[str, list[Timing]] = {}
    for _ in range(repeat):
        batch, results = timed(lambda: detect_rules(rules, work.timestamps, work.values, work.names))
        fresh, built = timed(partial(service_records, results, since))
        every, _ = timed(partial(all_detections, results))
        four, naive = timed(lambda: [naive_loop(rule, work, sample) for rule in rules])
        for rule, result, found in zip(rules, results, naive, strict=True):
            check_same(f"cycle {rule.method}", result, found)
        shared, _ = timed(
            lambda: [
                detect_rules(rules, work.timestamps, work.values[i : i + 1], [work.names[i]], workers=1)
                for i in sample
            ]
        )
        measured = {
            "columnar": batch,
            "service": Timing(batch.wall + fresh.wall, batch.cpu + fresh.cpu),
            "all": Timing(batch.wall + every.wall, batch.cpu + every.cpu),
            "four": Timing(four.wall * scale, four.cpu * scale),
            "shared": Timing(shared.wall * scale, shared.cpu * scale),
        }
        for key, t in measured.items():
            runs.setdefault(key, []).append(t)
    median = {key: Timing(*np.median([(t.wall, t.cpu) for t in ts], axis=0)) for key, ts in runs.items()}
    total = sum(r.detection_count for r in results)
    print(f"\ncycle: {' + '.join(CYCLE_METHODS)} rules over the same {k} series x {n} points "
          f"(median of {repeat} interleaved runs)")  # fmt: skip
    print(f"{'':60s}{'wall s':>8s}{'cpu s':>8s}{'vs naive':>13s}{'vs naive shared':>17s}")
    lines = (
        ("one detect_rules call, columnar", median["columnar"]),
        (f"+ {built} latest fresh records: the service's cycle (target)", median["service"]),
        (f"+ all {total} records instead", median["all"]),
        ("each rule as its own detect_batch call, columnar (1 run)",
         Timing(sum(columnar[m] for m in CYCLE_METHODS), float("nan"))),
        (f"naive: detect_series x {len(rules)} rules per series (extrapolated)", median["four"]),
        ("naive: detect_rules per series, shared stats (extrapolated)", median["shared"]),
    )  # fmt: skip
    for label, t in lines:
        print(f"{label:60s}{t.wall:8.2f}{t.cpu:8.2f}{median['four'].wall / t.wall:12.1f}x"
              f"{median['shared'].wall / t.wall:16.1f}x")  # fmt: skip
    ratios = [f.wall / s.wall for f, s in zip(runs["four"], runs["service"], strict=True)]
    print(
        f"service cycle vs naive, per run: {', '.join(f'{r:.1f}x' for r in ratios)}; "
        f"service cycle wall per run: {', '.join(f'{t.wall:.2f}' for t in runs['service'])} s"
    )


if __name__ == "__main__":
    main()
