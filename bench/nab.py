"""NAB benchmark: run a detector in streaming mode over NAB-layout data, and score result folders.

    python -m bench.nab run --data ../shared/nab/data --out /tmp/nab [--detector alert_analyst]
    python -m bench.nab score --results /tmp/nab/alert_analyst \\
        --labels ../shared/nab/labels/combined_windows.json \\
        --profiles ../shared/nab/config/profiles.json \\
        [--thresholds ../shared/nab/config/thresholds.json]

`score` picks, per profile, the threshold that maximises the corpus score (NAB's current exhaustive sweep),
or, with --thresholds, the stored threshold of that detector when the file has one (to reproduce the
published scoreboard, whose thresholds came from NAB's older hill-climbing optimiser). `--baseline DIR`
scores another result folder the same way in the same run, e.g. NAB's own `results/numenta`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from bench.csv_cells import number
from bench.inputs import (
    BenchArgumentParser,
    BenchInputError,
    existing_dir,
    existing_file,
    output_dir,
    require_files,
)
from bench.nab_detectors import DETECTORS, make_detector
from bench.nab_scoring import best_threshold, load_file, load_profiles, normalised, raw_score
from detectors import StreamingDetector

NAB_ROOT_FILES = ("labels/combined_labels.json", "labels/combined_windows.json", "config/profiles.json")


def data_files(data: Path) -> list[Path]:
    return sorted(p for p in data.glob("*/*.csv"))


def nab_root(text: str) -> Path | None:
    """argparse type of `--nab`: a NAB root (labels/, config/, data/), or None for ''."""
    if not text:
        return None
    root = existing_dir(text)
    try:
        require_files(root, NAB_ROOT_FILES, "a NAB root; --nab '' leaves NAB out")
    except BenchInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return root


def detector_scores(detector: str, stamps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """What `run` writes for one series: a fresh `detector` fed every point in time order (the buffer
    methods replay in columnar passes, with the same scores)."""
    scorer = make_detector(detector)
    if isinstance(scorer, StreamingDetector):
        return scorer.replay(stamps, values)
    return np.array([scorer.update(ts, v) for ts, v in zip(stamps.tolist(), values.tolist(), strict=True)])


def parse_stamp(cell: str | None) -> float:
    """A NAB timestamp (`2014-04-01 00:00:00` or any ISO form; UTC unless it says otherwise) or Unix
    seconds; NaN for anything else."""
    text = (cell or "").strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return math.nan
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def file_scores(detector: str, stamps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Scores in the file's row order: the points go to the detector in time order (ties in file order);
    a row without a usable timestamp scores 0."""
    timed = np.flatnonzero(np.isfinite(stamps))
    order = timed[np.argsort(stamps[timed], kind="stable")]
    scores = np.zeros(stamps.size)
    if order.size:
        scores[order] = detector_scores(detector, stamps[order], values[order])
    return scores


def _columns(row: dict[str, str]) -> tuple[str, str]:
    """The keys of a file's `timestamp` and `value` columns, in any case, spaces around ignored
    (ValueError naming the columns there are if one is missing)."""
    keys = {str(k).strip().lower(): k for k in row}
    missing = [c for c in ("timestamp", "value") if c not in keys]
    if row and missing:
        raise ValueError(f"no {' or '.join(missing)} column (columns: {', '.join(map(str, row))})")
    return keys.get("timestamp", "timestamp"), keys.get("value", "value")


def _run_one(job: tuple[str, str, str]) -> tuple[str, str | None]:
    """Score one file; (its output path, None) or (its output path, the error) when it could not be
    scored (every row then scores 0, so the scorer still finds the file)."""
    detector, src, dst = job
    with open(src, newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row]
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    error = None
    stamp_key, value_key = "timestamp", "value"
    try:
        stamp_key, value_key = _columns(rows[0] if rows else {})
        stamps = np.array([parse_stamp(row.get(stamp_key)) for row in rows], dtype=np.float64)
        values = np.array([number(row.get(value_key)) for row in rows], dtype=np.float64)
        scores = file_scores(detector, stamps, values)
    except Exception:  # reported with its traceback; the run goes on with the other files
        error = traceback.format_exc()
        scores = np.zeros(len(rows))
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value", "anomaly_score"])
        for row, score in zip(rows, scores, strict=True):
            writer.writerow([row.get(stamp_key), row.get(value_key), f"{score:.6f}"])
    return dst, error


def run(data: Path, out: Path, detector: str, processes: int) -> None:
    sources = data_files(data)
    if not sources:
        raise BenchInputError(f"{data}: no <category>/<name>.csv files (NAB's data/ folder is expected)")
    jobs = [
        (detector, str(src), str(out / detector / src.parent.name / f"{detector}_{src.name}"))
        for src in sources
    ]
    jobs.sort(key=lambda j: -os.path.getsize(j[1]))
    failed = 0
    with Pool(processes) as pool:
        for done, error in pool.imap_unordered(_run_one, jobs):
            print(done if error is None else f"{done}: FAILED, scored 0\n{error}", file=sys.stderr)
            failed += error is not None
    if failed:
        print(f"{failed} of {len(jobs)} files could not be scored (see above)", file=sys.stderr)


def score(
    results: Path, labels: Path, profiles_path: Path, thresholds: Path | None, indent: str = ""
) -> dict[str, float]:
    detector = results.name
    windows = json.loads(labels.read_text())
    profiles = load_profiles(profiles_path)
    stored = json.loads(thresholds.read_text()).get(detector, {}) if thresholds else {}
    paths = {key: results / key.split("/")[0] / f"{detector}_{key.split('/')[1]}" for key in windows}
    missing = [path for path in paths.values() if not path.is_file()]
    if missing:
        raise BenchInputError(
            f"{missing[0]}: no such file ({len(missing)} of the {len(paths)} result files the labels name"
            f" are missing under {results}: is it OUT/<detector> of a complete `bench.nab run`?)"
        )
    files = [load_file(key, paths[key], windows[key], profiles) for key in sorted(windows)]
    n_windows = sum(f.n_windows for f in files)
    out = {}
    for profile in profiles:
        if profile.name in stored:
            t = float(stored[profile.name]["threshold"])
            raw = raw_score(files, profile, t)
        else:
            t, raw = best_threshold(files, profile)
        out[profile.name] = normalised(raw, n_windows, profile)
        print(f"{indent}{profile.name}: {out[profile.name]:.1f}")
        print(f"{indent}  threshold {t:.6g}, raw {raw:.3f}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = BenchArgumentParser(prog="python -m bench.nab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a detector over every CSV under --data")
    r.add_argument("--data", type=existing_dir, required=True, help="NAB's data/ folder")
    r.add_argument("--out", type=output_dir, required=True, help="results go to OUT/<detector>")
    r.add_argument("--detector", default="alert_analyst", choices=sorted(DETECTORS))
    r.add_argument("--processes", type=int, default=2)
    s = sub.add_parser("score", help="print the normalised score per profile of one result folder")
    s.add_argument("--results", type=existing_dir, required=True, help="OUT/<detector> folder")
    s.add_argument("--labels", type=existing_file, required=True)
    s.add_argument("--profiles", type=existing_file, required=True)
    s.add_argument("--thresholds", type=existing_file, default=None)
    s.add_argument(
        "--baseline",
        type=existing_dir,
        action="append",
        default=[],
        help="also score this result folder the same way, e.g. ../shared/nab/results/numenta (repeatable)",
    )
    args = parser.parse_args(argv)
    with parser.input_errors():
        if args.command == "run":
            run(args.data, args.out, args.detector, args.processes)
        else:
            score(args.results, args.labels, args.profiles, args.thresholds)
            for baseline in args.baseline:
                print(f"baseline {baseline.name}, same labels, profiles and thresholds:")
                score(baseline, args.labels, args.profiles, args.thresholds, indent="  ")


if __name__ == "__main__":
    main()
