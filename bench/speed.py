"""Per-detector time on one long series: batch (`detect_series`) and streaming (`StreamingDetector`).

    python -m bench.speed [--points 40000] [--repeat 3] [--stream-sample 2000] [--counts] [--wander]
                          [--stream-repeat 1] [--methods level_step_tail,novelty]

One-minute synthetic series (daily cycle, noise, a level shift and spikes); `--counts` rounds it to
integers, the slowest path of level_step_tail (a second scorer follows the stabilised counts); `--wander`
adds an AR(1) drift (phi 0.999, as real gauges wander), where Pelt finds change points in most buffers
(the slowest path of changepoint and ensemble). Batch
times are the median of `--repeat` runs after one warm-up call (imports). Streaming is timed over every
point for the natively incremental methods (level_step_tail, level_step, novelty) and over the first
`--stream-sample` points for the others, which re-run the batch code over a 3 x window buffer per point;
those are extrapolated linearly and marked so (for isolation_forest that overstates: its refits, about
log2(n) of them, crowd the first points). Streaming is the best of `--stream-repeat` runs, wall and CPU
(`time.process_time`: on a shared box the CPU time moves less than the wall time). Replay is
`StreamingDetector.replay` over the whole recorded series (the same scores as streaming; the buffer methods
score every buffer in columnar passes), as `bench.nab run` uses it; also the best of `--stream-repeat` runs.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from bench.ops_data import ar1
from detectors import DetectionRule, StreamingDetector, detect_series
from detectors.rules import METHODS

NATIVE_STREAMING = ("level_step", "level_step_tail", "novelty")


# OpenBLAS's worker threads spin for about 0.1 s after a parallel call (the batch timing makes some): that
# tail would be counted, and extrapolated, as streaming time (2x the CPU on a 100-point sample).
BLAS_PARK = 0.5


def make_series(
    n: int, seed: int = 0, counts: bool = False, wander: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 100 + 10 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 2, n)
    if wander:
        x += ar1(rng, 0.999, 1.0, n)
    x[n // 2 :] += 15
    x[rng.integers(0, n, 20)] += 40
    return 1.7e9 + 60.0 * t, np.round(x) if counts else x


def _median_time(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def stream_time(rule: DetectionRule, ts: np.ndarray, x: np.ndarray, repeat: int = 1) -> tuple[float, float]:
    """Wall and CPU seconds of one StreamingDetector over the series, each the best of `repeat` runs."""
    wall, cpu = math.inf, math.inf
    for _ in range(repeat):
        detector = StreamingDetector(rule)
        start, start_cpu = time.perf_counter(), time.process_time()
        for t, v in zip(ts.tolist(), x.tolist(), strict=True):
            detector.update(t, v)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def replay_time(rule: DetectionRule, ts: np.ndarray, x: np.ndarray, repeat: int = 1) -> float:
    """Wall seconds of `StreamingDetector.replay` over the whole series (a fresh detector each run), the
    best of `repeat` runs."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        StreamingDetector(rule).replay(ts, x)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stream-sample", type=int, default=2_000)
    parser.add_argument("--counts", action="store_true", help="round the series to integers (counts)")
    parser.add_argument("--wander", action="store_true", help="add an AR(1) drift (phi 0.999)")
    parser.add_argument(
        "--stream-repeat", type=int, default=1, help="streaming and replay: best of this many runs"
    )
    parser.add_argument(
        "--methods", default="", help="comma-separated methods (default: all but multivariate)"
    )
    args = parser.parse_args(argv)
    methods = args.methods.split(",") if args.methods else [m for m in METHODS if m != "multivariate"]
    ts, x = make_series(args.points, counts=args.counts, wander=args.wander)
    kind = ("integer " if args.counts else "") + ("wandering " if args.wander else "")
    print(f"one {kind}series of {args.points:,} points; batch: median of {args.repeat} runs after a warm-up;")
    print(f"streaming and replay: best of {args.stream_repeat} run(s); streaming wall and CPU")
    print(f"{'method':18s}{'batch s':>9s}{'streaming s':>13s}{'CPU s':>8s}{'replay s':>10s}")
    for method in methods:
        rule = DetectionRule(f"speed-{method}", method=method)
        detect_series(rule, ts[:2000], x[:2000])
        batch = _median_time(partial(detect_series, rule, ts, x), args.repeat)
        m, note = x.size, ""
        if method not in NATIVE_STREAMING:
            m = min(args.stream_sample, x.size)
            note = f"  (first {m:,} points, extrapolated)"
        time.sleep(BLAS_PARK)
        wall, cpu = (t * x.size / m for t in stream_time(rule, ts[:m], x[:m], args.stream_repeat))
        replay = (
            replay_time(rule, ts, x, args.stream_repeat)
            if method not in NATIVE_STREAMING
            else math.nan  # replay is the per-point loop for these: the streaming column
        )
        print(f"{method:18s}{batch:9.2f}{wall:13.2f}{cpu:8.2f}{replay:10.2f}{note}", flush=True)


if __name__ == "__main__":
    main()
