"""Operations benchmark: the default detector against two simple baselines on point-labelled series.

    python -m bench.ops [--series 60] [--seed 0] [--nab ../shared/nab] [--methods zscore,ensemble]

Four parts, scored the same way (`bench.ops_scoring`: best F1 with point adjustment and a 7-point delay,
composite F1, share of series whose highest score is on a labelled anomaly; and at the library's alarm
threshold, score >= 0.5, the share of anomalies found and the false-alarm episodes per 1,000 normal
points, what a rule would page on; second half of each series, the first being warm-up):
- synthetic: `bench.ops_data`, a seeded corpus of operations-like one-minute series with known labels;
- synthetic KPI-like: the same module's second family (smooth daily cycles, short anomalies, level
  changes that persist after their labelled first points), two weeks each;
- synthetic smooth KPI-like: the KPI-like cycle with an autocorrelated wander (AR(1), phi 0.5-0.995)
  instead of independent noise, each anomaly labelled until the series is back. The one family on which
  the two baselines rank as on the held-out web-service KPIs (one-step difference above the windowed
  z-score, both with their top score on an anomaly in >= 90 % of series);
- NAB real: the 45 real-world NAB files (realAWSCloudwatch, realAdExchange, realKnownCause, realTraffic,
  realTweets); each labelled timestamp starts a 10-point segment (the median length of labelled
  segments in web-service KPI data) and the rest of its NAB window counts neither way.
Every detector sees only the past (the default runs in batch, which equals streaming for it) and is told
the series' points per day, as timestamps tell the service (1,440 for the synthetic one-minute series,
from the timestamps for NAB). The two baselines are always printed: a windowed z-score (|x - mean| / std
of the previous 60 points) and the one-step difference magnitude |x - previous x|. A further row scores
what `python -m bench.nab run --detector alert_analyst` writes for each series (the default streaming
over timestamps, through the scheduler's alert layer: alerts first, then every other point in the
detector's order), the protocol of a benchmark run through the NAB runner.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.inputs import SHARED, BenchArgumentParser, require_files
from bench.nab import detector_scores, nab_root
from bench.ops_data import LabelledSeries, make_corpus, make_kpi_corpus, make_smooth_kpi_corpus
from bench.ops_scoring import SeriesScore, Summary, score_series, summarise
from detectors.batch import BlockStats, score_points
from detectors.rolling import forward_fill, trailing_mean_std
from detectors.rules import DetectionRule
from detectors.sampling_interval import day_points_of

NAB_REAL = ("realAWSCloudwatch", "realAdExchange", "realKnownCause", "realTraffic", "realTweets")
NAB_SEGMENT = 10
BASELINE_WINDOW = 60
Scorer = Callable[[np.ndarray, int], np.ndarray]  # (values, points per day) -> per-point scores


def windowed_zscore(values: np.ndarray, day_points: int = 0) -> np.ndarray:
    """Baseline: |x - mean| / std of the previous 60 points."""
    mean, std = trailing_mean_std(values[None, :], BASELINE_WINDOW, 10)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(values - mean[0]) / np.maximum(std[0], 1e-12)


def step_magnitude(values: np.ndarray, day_points: int = 0) -> np.ndarray:
    """Baseline: |x - previous finite x|."""
    filled = forward_fill(values[None, :])[0]
    return np.abs(values - np.concatenate([[np.nan], filled[:-1]]))


def rule_scorer(rule: DetectionRule) -> Scorer:
    """Per-point scores of a library rule (no seasonal profile: that one would look ahead)."""

    def run(values: np.ndarray, day_points: int) -> np.ndarray:
        block = values[None, :]
        return np.asarray(score_points(block, rule, stats=BlockStats(block, day_points))[0].score[0])

    return run


def runner_scorer(name: str) -> Scorer:
    """What `bench.nab run --detector NAME` writes for a series: one streaming pass over its timestamps
    (a point every day / points-per-day seconds; a minute when unknown)."""

    def run(values: np.ndarray, day_points: int) -> np.ndarray:
        step = 86_400.0 / day_points if day_points else 60.0
        return detector_scores(name, step * np.arange(values.size), values)

    return run


def nab_real(root: Path) -> list[tuple[LabelledSeries, np.ndarray]]:
    """The real-world NAB files as labelled series (10-point segments) and their ignore masks (windows)."""
    points = json.loads((root / "labels" / "combined_labels.json").read_text())
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    real = [key for key in points if key.split("/")[0] in NAB_REAL]
    require_files(root / "data", real, "a NAB data file named in labels/combined_labels.json")
    out = []
    for key in sorted(points):
        if key.split("/")[0] not in NAB_REAL:
            continue
        with (root / "data" / key).open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        stamps = [r["timestamp"] for r in rows]
        values = np.array([float(r["value"]) for r in rows])
        seconds = np.array([datetime.fromisoformat(t).replace(tzinfo=UTC).timestamp() for t in stamps])
        labels = np.zeros(values.size, dtype=bool)
        ignore = np.zeros(values.size, dtype=bool)
        for stamp in points[key]:
            i = stamps.index(stamp.split(".")[0])
            labels[i : i + NAB_SEGMENT] = True
        for a, b in windows[key]:
            ignore[stamps.index(a.split(".")[0]) : stamps.index(b.split(".")[0]) + 1] = True
        out.append((LabelledSeries(key, values, labels, day_points_of(seconds)), ignore & ~labels))
    return out


def evaluate(
    scorer: Scorer, corpus: Sequence[LabelledSeries], ignores: Sequence[np.ndarray | None]
) -> list[SeriesScore]:
    return [
        score_series(scorer(s.values, s.day_points), s.labels, ig)
        for s, ig in zip(corpus, ignores, strict=True)
    ]


def detectors(extra: Sequence[str]) -> dict[str, Scorer]:
    found: dict[str, Scorer] = {
        "alert_analyst (default)": rule_scorer(DetectionRule("default")),
        "baseline: windowed z-score": windowed_zscore,
        "baseline: step magnitude": step_magnitude,
        "alert_analyst via bench.nab run": runner_scorer("alert_analyst"),
    }
    for method in extra:
        found[method] = rule_scorer(DetectionRule(method, method=method))
    return found


def _line(name: str, summary: Summary) -> str:
    at_alarm = (  # the baselines' scores are not on the library's 0-1 scale: no alarm threshold
        f"{100 * summary.event_recall:9.0f} %{summary.false_alarms_per_1000:9.2f}"
        if not name.startswith("baseline")
        else f"{'-':>11s}{'-':>9s}"
    )
    return (
        f"  {name:32s}{summary.best_f1:9.3f}{summary.composite_f1:11.3f}"
        f"{100 * summary.top_share:8.0f} %{at_alarm}   ({summary.series} series)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = BenchArgumentParser(prog="python -m bench.ops", description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=60, help="synthetic series")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--nab", type=nab_root, default=str(SHARED / "nab"), help="NAB root ('' skips the NAB part)"
    )
    parser.add_argument("--methods", default="", help="more library methods, comma-separated")
    args = parser.parse_args(argv)
    real: list[tuple[LabelledSeries, np.ndarray]] = []
    if args.nab is not None:
        with parser.input_errors():
            real = nab_real(args.nab)
    parts: list[tuple[str, list[LabelledSeries], list[np.ndarray | None]]] = []
    synthetic = make_corpus(args.series, args.seed)
    parts.append((f"synthetic ({args.series} series, seed {args.seed})", synthetic, [None] * len(synthetic)))
    kpi = make_kpi_corpus(args.series, args.seed)
    parts.append((f"synthetic KPI-like ({args.series} series, seed {args.seed})", kpi, [None] * len(kpi)))
    smooth = make_smooth_kpi_corpus(args.series, args.seed)
    title = f"synthetic smooth KPI-like ({args.series} series, seed {args.seed})"
    parts.append((title, smooth, [None] * len(smooth)))
    if args.nab is not None:
        parts.append((f"NAB real ({len(real)} files)", [s for s, _ in real], [ig for _, ig in real]))
    extra = [m for m in args.methods.split(",") if m]
    for title, corpus, ignores in parts:
        print(
            f"{title}:\n  {'detector':32s}{'best F1':>9s}{'composite':>11s}{'top on':>10s}"
            f"{'at 0.5: found':>15s}{'FA/1000':>9s}\n  {'':32s}{'':9s}{'':11s}{'anomaly':>10s}"
        )
        for name, scorer in detectors(extra).items():
            print(_line(name, summarise(evaluate(scorer, corpus, ignores))), flush=True)


if __name__ == "__main__":
    main()
