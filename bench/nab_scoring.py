"""NAB scoring, reimplemented from /work/shared/nab/SCORING.md (no NAB code).

Per file: probationary period P = min(floor(0.15 n), 750); every scorable row gets the value a detection
there would be worth (scaled sigmoid of its position relative to the windows); a window scores its
earliest detection or -A_FN; detections outside windows add their (negative) value. The corpus score is
normalised between the null detector (every window missed) and a perfect one (every window hit first).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

NO_DETECTION = 1.1


@dataclass(frozen=True)
class Profile:
    """Weights of one NAB scoring profile."""

    name: str
    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class FileScores:
    """One result file: scorable rows' anomaly scores, window ids (-1 outside) and per-profile row values."""

    key: str
    scores: np.ndarray
    window: np.ndarray
    values: Mapping[str, np.ndarray]
    n_windows: int


def sigma(y: np.ndarray) -> np.ndarray:
    """NAB's scaled sigmoid 2 / (1 + exp(5 y)) - 1."""
    return 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0


def load_profiles(path: Path) -> list[Profile]:
    raw = json.loads(path.read_text())
    return [
        Profile(name, m["CostMatrix"]["tpWeight"], m["CostMatrix"]["fpWeight"], m["CostMatrix"]["fnWeight"])
        for name, m in raw.items()
    ]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def probation(n: int) -> int:
    return min(math.floor(0.15 * n), 750)


def row_values(n: int, windows: Sequence[tuple[int, int]], profile: Profile) -> np.ndarray:
    """Value of a detection at each row (probationary rows included; callers drop them)."""
    i = np.arange(n, dtype=float)
    values = np.full(n, -profile.fp)
    last_end = None
    for l, r in windows:  # noqa: E741
        if last_end is not None:
            ln, rn = last_end
            after = (i > rn) & (i < l)
            y = (i[after] - rn) / (rn - ln)
            values[after] = np.where(y <= 3, profile.fp * sigma(y), -profile.fp)
        w = r - l + 1
        inside = slice(l, r + 1)
        values[inside] = profile.tp * sigma(-(r - i[inside] + 1) / w) / sigma(np.array(-1.0))
        last_end = (l, r)
    if last_end is not None:
        ln, rn = last_end
        after = i > rn
        y = (i[after] - rn) / (rn - ln) if rn > ln else np.full(after.sum(), 4.0)
        values[after] = np.where(y <= 3, profile.fp * sigma(y), -profile.fp)
    return values


def _row_of(stamps: Sequence[str], boundary: str) -> int:
    """Row whose timestamp equals `boundary` (compared as datetimes; first occurrence)."""
    wanted = parse_time(boundary)
    text = wanted.strftime("%Y-%m-%d %H:%M:%S")
    try:
        return stamps.index(text)
    except ValueError:
        return next(i for i, s in enumerate(stamps) if parse_time(s) == wanted)


def read_result(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["timestamp"] for r in rows], np.array([float(r["anomaly_score"]) for r in rows])


def load_file(
    key: str, path: Path, label_windows: Sequence[Sequence[str]], profiles: Sequence[Profile]
) -> FileScores:
    stamps, scores = read_result(path)
    n = len(stamps)
    windows = [(_row_of(stamps, a), _row_of(stamps, b)) for a, b in label_windows]
    p = probation(n)
    window = np.full(n, -1)
    counted = [(l, r) for l, r in windows if r >= p]  # noqa: E741
    for w_id, (l, r) in enumerate(counted):  # noqa: E741
        window[l : r + 1] = w_id
    values = {prof.name: row_values(n, windows, prof)[p:] for prof in profiles}
    return FileScores(key, scores[p:], window[p:], values, len(counted))


def raw_score(files: Sequence[FileScores], profile: Profile, threshold: float) -> float:
    total = 0.0
    for f in files:
        hit = f.scores >= threshold
        v = f.values[profile.name]
        total += float(v[hit & (f.window < 0)].sum())
        for w in range(f.n_windows):
            rows = hit & (f.window == w)
            total += float(v[rows].max()) if rows.any() else -profile.fn
    return total


def best_threshold(files: Sequence[FileScores], profile: Profile) -> tuple[float, float]:
    """Exhaustive sweep over every distinct score (and 'no detection'); highest threshold wins ties."""
    scores = np.concatenate([f.scores for f in files])
    values = np.concatenate([f.values[profile.name] for f in files])
    offsets = np.cumsum([0] + [f.n_windows for f in files[:-1]])
    windows = np.concatenate(
        [np.where(f.window >= 0, f.window + o, -1) for f, o in zip(files, offsets, strict=True)]
    )
    n_windows = sum(f.n_windows for f in files)
    order = np.argsort(-scores, kind="stable")
    scores, values, windows = scores[order], values[order], windows[order]
    best_in: dict[int, float] = {}
    total = -profile.fn * n_windows
    best = (total, NO_DETECTION)
    for i in range(scores.size):
        w = int(windows[i])
        if w < 0:
            total += values[i]
        else:
            old = best_in.get(w)
            if old is None:
                total += values[i] + profile.fn
                best_in[w] = values[i]
            elif values[i] > old:
                total += values[i] - old
                best_in[w] = values[i]
        last_of_value = i + 1 == scores.size or scores[i + 1] != scores[i]
        if last_of_value and total > best[0] + 1e-12:
            best = (total, float(scores[i]))
    return best[1], best[0]


def normalised(raw: float, n_windows: int, profile: Profile) -> float:
    null = -profile.fn * n_windows
    perfect = profile.tp * n_windows
    return 100.0 * (raw - null) / (perfect - null)
