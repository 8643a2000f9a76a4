"""Detector speed: batch (2-D, vectorised) against a naive per-series loop of the same library calls.

    python -m bench.detect [--series 10000] [--points 1440] [--naive-sample 200]

Synthetic one-minute series (one day each) with injected spikes, level shifts and gaps. Every method
runs once in batch over all series; the naive loop calls `detect_series` series by series on a random
subsample and is extrapolated linearly to all series (printed as such). The "cycle" line is one
`ensemble` call, which computes zscore, robust zscore, iqr and changepoint and combines them: what the
service runs each cycle.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from detectors import DetectionRule, detect_batch, detect_series

BATCH_METHODS = ("zscore", "robust_zscore", "iqr", "changepoint", "ensemble")


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


def recall(work: Workload, detections: list, injected: dict[int, int], tolerance: int = 3) -> float:
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


def naive_loop(rule: DetectionRule, work: Workload, rows: np.ndarray) -> list[object]:
    """The same library call, one series at a time."""
    return [detect_series(rule, work.timestamps, work.values[i], work.names[i]) for i in rows]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.detect", description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_440)
    parser.add_argument("--naive-sample", type=int, default=200)
    parser.add_argument("--forest-sample", type=int, default=50)
    args = parser.parse_args()
    work = make_workload(args.series, args.points)
    k, n = work.values.shape
    sample = np.random.default_rng(1).choice(k, size=min(args.naive_sample, k), replace=False)
    print(f"{k} series x {n} points = {k * n:,} points")
    print(f"naive loop: detect_series per series on {sample.size} random series, extrapolated to {k}")
    print(f"{'method':16s} {'batch s':>9s} {'Mpts/s':>8s} {'naive s (extrap.)':>18s} {'speed-up':>9s} "
          f"{'detections':>10s} {'spike recall':>12s} {'shift recall':>12s}")  # fmt: skip
    separate: dict[str, float] = {}
    for method in BATCH_METHODS:
        rule = DetectionRule(f"bench-{method}", method=method)
        start = time.perf_counter()
        result = detect_batch(rule, work.timestamps, work.values, work.names)
        batch_s = time.perf_counter() - start
        start = time.perf_counter()
        naive_loop(rule, work, sample)
        naive_all = (time.perf_counter() - start) * k / sample.size
        dets = result.detections
        rate, speedup = k * n / batch_s / 1e6, naive_all / batch_s
        print(
            f"{method:16s} {batch_s:9.2f} {rate:8.2f} {naive_all:18.1f} {speedup:8.1f}x {len(dets):10d} "
            f"{recall(work, dets, work.spikes):12.2f} {recall(work, dets, work.shifts):12.2f}"
        )
        separate[method] = batch_s
    forest = DetectionRule("bench-forest", method="isolation_forest")
    rows = sample[: args.forest_sample]
    start = time.perf_counter()
    detect_batch(forest, work.timestamps, work.values[rows], [work.names[i] for i in rows])
    forest_all = (time.perf_counter() - start) * k / rows.size
    print(f"{'isolation_forest':16s} {forest_all:9.1f} {k * n / forest_all / 1e6:8.2f}   "
          f"(measured on {rows.size} series and extrapolated: one forest is fitted per series)")  # fmt: skip
    four = sum(separate[m] for m in ("zscore", "iqr", "changepoint", "ensemble"))
    print(f"cycle = one ensemble call (zscore + robust zscore + iqr + changepoint, combined): "
          f"{separate['ensemble']:.2f} s for {k} series x {n} points")  # fmt: skip
    print(f"zscore + iqr + changepoint + ensemble as four separate calls: {four:.2f} s")


if __name__ == "__main__":
    main()
