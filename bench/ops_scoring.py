"""Scoring of point-labelled series for `bench.ops`: the protocol of the web-service KPI benchmarks.

Per series only the second half is scored (the first half is warm-up for a streaming detector):
- best F1 with point adjustment and delay: a labelled segment counts as wholly found when any of its
  first `delay + 1` points scores at or above the threshold, else as wholly missed; points outside
  segments at or above it are false positives; the best threshold per series is taken;
- composite F1 (Garg et al. 2021): point-wise precision against event-wise recall (an event counts as
  found under the same delay rule), best threshold per series. Point adjustment flatters every method,
  since one early point buys a long segment; this one does not;
- whether the series' highest score lands on a labelled point (ranking, not thresholding);
- at the library's own alarm threshold (score >= 0.5, what a rule fires on): the share of segments found
  (same delay rule) and the false-alarm episodes (runs of alarms outside segments) per 1,000 normal points.
Points in `ignore` (e.g. the rest of a NAB window around a labelled point) count neither way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DELAY = 7
ALARM = 0.5  # a library score fires a rule from here


@dataclass(frozen=True)
class SeriesScore:
    """One series' figures (NaN when its scored half has no labelled segment)."""

    best_f1: float
    composite_f1: float
    top_on_anomaly: bool
    events_found: int = 0  # at ALARM
    events: int = 0
    false_alarms: int = 0  # episodes at ALARM outside segments (and `ignore`)
    normal_points: int = 0


def segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) half-open index ranges of the runs of True in `labels`."""
    padded = np.concatenate([[False], labels.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _clean(scores: np.ndarray) -> np.ndarray:
    """NaN (a gap, or warm-up) is the lowest score."""
    return np.where(np.isfinite(scores), scores, -np.inf)


def _found_at(scores: np.ndarray, spans: Sequence[tuple[int, int]], delay: int) -> np.ndarray:
    """Per segment, the highest score within its first `delay + 1` points (the threshold that finds it)."""
    return np.array([scores[a : min(b, a + delay + 1)].max() for a, b in spans])


def _segments_found(
    scores: np.ndarray, labels: np.ndarray, delay: int
) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray] | None:
    """Cleaned scores, the labelled segments and the score that finds each (None without a segment)."""
    s = _clean(scores)
    spans = segments(labels)
    return (s, spans, _found_at(s, spans, delay)) if spans else None


def best_f1_point_adjusted(
    scores: np.ndarray, labels: np.ndarray, ignore: np.ndarray | None = None, delay: int = DELAY
) -> float:
    """Best F1 over thresholds with point adjustment and `delay` (NaN without a labelled segment)."""
    prepared = _segments_found(scores, labels, delay)
    if prepared is None:
        return float("nan")
    s, spans, found = prepared
    lengths = np.array([b - a for a, b in spans], dtype=float)
    positives = lengths.sum()
    negative = ~labels.astype(bool) if ignore is None else ~(labels.astype(bool) | ignore)
    negatives = np.sort(s[negative])
    best = 0.0
    for t in np.unique(found[np.isfinite(found)]):
        tp = lengths[found >= t].sum()
        fp = negatives.size - np.searchsorted(negatives, t, side="left")
        best = max(best, 2 * tp / (2 * tp + fp + (positives - tp)))
    return best


def composite_f1(
    scores: np.ndarray, labels: np.ndarray, ignore: np.ndarray | None = None, delay: int = DELAY
) -> float:
    """Best composite F1 over thresholds: point-wise precision, event-wise recall (found within `delay`)."""
    prepared = _segments_found(scores, labels, delay)
    if prepared is None:
        return float("nan")
    s, _, found = prepared
    found = np.sort(found)
    counted = np.ones(s.size, dtype=bool) if ignore is None else ~ignore | labels.astype(bool)
    order = np.argsort(-s[counted], kind="stable")
    ranked = s[counted][order]
    inside = np.cumsum(labels.astype(bool)[counted][order])
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True) & np.isfinite(ranked))
    if last.size == 0:
        return 0.0
    t = ranked[last]
    precision = inside[last] / (last + 1)
    recall = (found.size - np.searchsorted(found, t, side="left")) / found.size
    with np.errstate(invalid="ignore"):
        f = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(f.max())


def top_on_anomaly(scores: np.ndarray, labels: np.ndarray, ignore: np.ndarray | None = None) -> bool:
    """Whether the highest score (its first occurrence) lands on a labelled point (or an ignored one)."""
    s = _clean(scores)
    near = labels.astype(bool) if ignore is None else labels.astype(bool) | ignore
    return bool(np.isfinite(s).any() and near[int(np.argmax(s))])


def score_series(
    scores: np.ndarray, labels: np.ndarray, ignore: np.ndarray | None = None, delay: int = DELAY
) -> SeriesScore:
    """Figures of one series on its second half (the first half is warm-up)."""
    half = scores.size // 2
    y = labels[half:].astype(bool)
    skip = None if ignore is None else ignore[half:].astype(bool)
    s = scores[half:]
    found, events, false_alarms, normal = alarms(s, y, skip, delay)
    return SeriesScore(
        best_f1_point_adjusted(s, y, skip, delay),
        composite_f1(s, y, skip, delay),
        top_on_anomaly(s, y, skip),
        found,
        events,
        false_alarms,
        normal,
    )


def alarms(
    scores: np.ndarray, labels: np.ndarray, ignore: np.ndarray | None = None, delay: int = DELAY
) -> tuple[int, int, int, int]:
    """At ALARM: segments found (within `delay`), segments, false-alarm episodes, normal points."""
    s = _clean(scores)
    y = labels.astype(bool)
    spans = segments(y)
    found = int((_found_at(s, spans, delay) >= ALARM).sum()) if spans else 0
    normal = ~y if ignore is None else ~(y | ignore)
    alarm = (s >= ALARM) & normal
    episodes = int(np.count_nonzero(alarm[1:] & ~alarm[:-1]) + bool(alarm[:1].any()))
    return found, len(spans), episodes, int(normal.sum())


@dataclass(frozen=True)
class Summary:
    """Means over the series whose scored half has a labelled segment; the figures at ALARM pool every
    series' segments and normal points."""

    series: int
    best_f1: float
    composite_f1: float
    top_share: float
    event_recall: float = float("nan")  # at ALARM, over all series' segments
    false_alarms_per_1000: float = float("nan")  # at ALARM, episodes per 1,000 normal points


def summarise(results: Sequence[SeriesScore]) -> Summary:
    kept = [r for r in results if np.isfinite(r.best_f1)]
    if not kept:
        return Summary(0, float("nan"), float("nan"), float("nan"))
    return Summary(
        len(kept),
        float(np.mean([r.best_f1 for r in kept])),
        float(np.mean([r.composite_f1 for r in kept])),
        float(np.mean([r.top_on_anomaly for r in kept])),
        sum(r.events_found for r in results) / max(1, sum(r.events for r in results)),
        1000.0 * sum(r.false_alarms for r in results) / max(1, sum(r.normal_points for r in results)),
    )
