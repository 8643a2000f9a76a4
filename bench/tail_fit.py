"""An experiment on the default detector: rank each feature by a fitted tail, not its earlier points alone.

    python -m bench.tail_fit [--nab ../shared/nab] [--seed 0]

The default (`level_step_tail`) ranks a feature among the same feature's earlier values: p = (earlier
points as high + 1) / (earlier points + 1). A value far beyond the bulk that has occurred once or twice
before ranks like a noise value just past the bulk's edge (both are rare among the earlier points), and no
p goes much below 1 / n. The variant here also fits a Pareto tail to each feature's earlier tail points
(those >= TAIL_BASE, index from their median log-excess, robust to a minority of past anomalies) and takes
the larger of the two surprises, so a far value stays far however often it was seen. The rest (the
excursion rule, the score's scaling, the alert layer) is the default's.

Printed for each variant and threshold, scored as `bench.ops` scores (second halves, best F1 with point
adjustment and a 7-point delay, top score on an anomaly, found at 0.5 and false-alarm episodes per 1,000
normal points): the three synthetic families of seed `--seed`, NAB's real files (10-point segments), alarm
episodes per series-day on quiet series (the second day of two, batch, 10 of each `bench.quiet` kind),
and NAB's standard / low-FP / low-FN scores through the scheduler's alert layer (`bench.nab`'s
`alert_analyst` protocol, here in batch, which equals streaming for the default).
"""

from __future__ import annotations

import dataclasses
import io
import math
import tempfile
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np

from bench import nab as nab_bench
from bench.inputs import SHARED, BenchArgumentParser
from bench.nab_detectors import AlertLayer
from bench.ops import evaluate, nab_real
from bench.ops_data import LabelledSeries, make_corpus, make_kpi_corpus, make_smooth_kpi_corpus
from bench.ops_scoring import summarise
from bench.quiet import KINDS, quiet_series
from detectors import DEFAULT_RULE
from detectors.level_step_tail import (
    LOG_BIN_RATIO,
    TAIL_BASE,
    TailRank,
    _bins_of,
    level_step_tail_points,
    tail_surprise,
)
from detectors.rules import DetectionRule
from detectors.sampling_interval import day_points_of

DAY = 1440
Scorer = Callable[[np.ndarray, int], np.ndarray]


def earlier_quantile_bin(bins: np.ndarray, quantile: float) -> np.ndarray:
    """Per tail point of one row (in time order), the `quantile` bin of the earlier tail points (-1: none)."""
    earlier = np.arange(bins.size)
    need = np.maximum(np.ceil(earlier * quantile), 1)
    out = np.full(bins.size, -1.0)
    open_ = earlier > 0
    for level in range(int(bins.max(initial=-1)) + 1):
        at_most: np.ndarray = np.cumsum(bins <= level) - (bins <= level)
        hit = open_ & (at_most >= need)
        out[hit] = level
        open_ &= ~hit
        if not open_.any():
            break
    return out


def fitted_rank(quantile: float) -> TailRank:
    """`tail_surprise`, raised where a Pareto tail fitted to the earlier tail points finds the value rarer."""

    def rank(feature: np.ndarray, earlier: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, cols, s = tail_surprise(feature, earlier)
        x = feature[rows, cols]
        bins = _bins_of(x)
        fitted = np.zeros(s.size)
        for row in np.unique(rows):
            at = np.flatnonzero(rows == row)
            q = earlier_quantile_bin(bins[at], quantile)
            known = q >= 0
            alpha = -math.log(1 - quantile) / ((q[known] + 0.5) * LOG_BIN_RATIO)
            tail_points = np.arange(at.size)[known]
            p_tail = (tail_points + 1.0) / (earlier[row, cols[at[known]]] + 1.0)
            fitted[at[known]] = -np.log10(p_tail) + alpha * np.log10(x[at[known]] / TAIL_BASE)
        return rows, cols, np.where(s > 0, np.maximum(s, fitted), s)  # news where the excursion rule says

    return rank


def scorer(rule: DetectionRule, rank: TailRank) -> Scorer:
    def run(values: np.ndarray, day_points: int) -> np.ndarray:
        block = values[None, :]
        threshold = np.full(block.shape, rule.threshold)
        return np.asarray(level_step_tail_points(block, rule, threshold, None, day_points, rank).score[0])

    return run


def quiet_episodes(score: Scorer, seed: int) -> list[float]:
    """Alarm episodes (runs of score >= 0.5) per series on the second day of two quiet days, per kind."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in KINDS:
        episodes = 0
        for row in quiet_series(kind, 10, 2 * DAY, rng):
            alarm = score(row, DAY)[DAY:] >= 0.5
            episodes += int(alarm[0]) + int(np.sum(alarm[1:] & ~alarm[:-1]))
        out.append(episodes / 10)
    return out


class _Scored:
    """A detector that replays precomputed scores (for the alert layer)."""

    def __init__(self, scores: np.ndarray) -> None:
        self._scores = iter(np.nan_to_num(scores).tolist())

    def update(self, timestamp: float, value: float) -> float:
        return next(self._scores)


def nab_standard(score: Scorer, rule: DetectionRule, root: Path) -> dict[str, float]:
    """NAB's scores of `score` through the scheduler's alert layer (the `alert_analyst` protocol)."""

    def scores(detector: str, stamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        replayed = _Scored(score(values, day_points_of(stamps)))
        layer = AlertLayer(replayed, hole=max(3, rule.window_size // 10))  # type: ignore[arg-type]
        return np.array([layer.update(t, v) for t, v in zip(stamps.tolist(), values.tolist(), strict=True)])

    original = nab_bench.detector_scores
    nab_bench.detector_scores = scores
    try:
        with (
            tempfile.TemporaryDirectory() as out,
            redirect_stdout(io.StringIO()),
            redirect_stderr(io.StringIO()),
        ):
            nab_bench.run(root / "data", Path(out), "alert_analyst", 1)
            return nab_bench.score(
                Path(out) / "alert_analyst",
                root / "labels" / "combined_windows.json",
                root / "config" / "profiles.json",
                None,
            )
    finally:
        nab_bench.detector_scores = original


Families = dict[str, tuple[list[LabelledSeries], list[np.ndarray | None]]]


def report(
    name: str, score: Scorer, rule: DetectionRule, families: Families, root: Path | None, seed: int
) -> None:
    print(f"{name}:")
    for family, (corpus, ignores) in families.items():
        s = summarise(evaluate(score, corpus, ignores))
        print(
            f"  {family:24s} best F1 {s.best_f1:.3f}  top on anomaly {100 * s.top_share:3.0f} %  "
            f"found at 0.5 {100 * s.event_recall:3.0f} %  false alarms / 1,000 {s.false_alarms_per_1000:.2f}"
        )
    quiet = quiet_episodes(score, seed)
    print("  quiet series, alarm episodes per series-day: " + " / ".join(f"{q:.1f}" for q in quiet))
    if root is not None:
        nab = nab_standard(score, rule, root)
        print("  NAB " + " / ".join(f"{k} {v:.1f}" for k, v in nab.items()), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = BenchArgumentParser(prog="python -m bench.tail_fit", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--nab", type=nab_bench.nab_root, default=str(SHARED / "nab"), help="NAB root ('' skips NAB)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root: Path | None = args.nab
    families: Families = {
        f"synthetic seed {args.seed}": (make_corpus(60, args.seed), [None] * 60),
        "KPI-like": (make_kpi_corpus(60, args.seed), [None] * 60),
        "smooth KPI-like": (make_smooth_kpi_corpus(60, args.seed), [None] * 60),
    }
    if root is not None:
        with parser.input_errors():
            real = nab_real(root)
        families["NAB real"] = ([s for s, _ in real], [ig for _, ig in real])
    variants: list[tuple[str, float, TailRank]] = [
        ("earlier points (the default), threshold 3", 3.0, tail_surprise),
        ("earlier points, threshold 4", 4.0, tail_surprise),
        ("fitted tail (median), threshold 3", 3.0, fitted_rank(0.5)),
        ("fitted tail (median), threshold 4", 4.0, fitted_rank(0.5)),
        ("fitted tail (90th percentile), threshold 3", 3.0, fitted_rank(0.9)),
    ]
    for name, threshold, rank in variants:
        rule = dataclasses.replace(DEFAULT_RULE, threshold=threshold)
        report(name, scorer(rule, rank), rule, families, root, args.seed)


if __name__ == "__main__":
    main()
