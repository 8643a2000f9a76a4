"""Filter and rank: merge overlapping detections across methods and series, rank by severity x confidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from detectors.types import AnomalyDetection, AnomalyType


def priority(d: AnomalyDetection) -> float:
    """Severity rank (1..4) x confidence."""
    return d.severity.rank * d.confidence


def _span(d: AnomalyDetection) -> tuple[float, float]:
    start = d.onset if d.onset is not None else d.timestamp
    return min(start, d.timestamp), max(start, d.timestamp)


def _overlaps(a: AnomalyDetection, b: AnomalyDetection) -> bool:
    """Same finding: they share a metric (or series) and their [onset, timestamp] spans intersect."""
    if (a.anomaly_type == AnomalyType.DATA_GAP) != (b.anomaly_type == AnomalyType.DATA_GAP):
        return False
    shared = set(a.affected_metrics) | {a.series}
    if not shared & (set(b.affected_metrics) | {b.series}):
        return False
    (a0, a1), (b0, b1) = _span(a), _span(b)
    return a0 <= b1 and b0 <= a1


def _merge(group: list[AnomalyDetection]) -> AnomalyDetection:
    best = max(group, key=priority)
    onsets = [d.onset for d in group if d.onset is not None]
    return replace(
        best,
        onset=min(onsets) if onsets else None,
        affected_metrics=tuple(dict.fromkeys(m for d in group for m in d.affected_metrics)),
        data_sources=tuple(dict.fromkeys(s for d in group for s in d.data_sources)),
        method="+".join(sorted({d.method for d in group})),
    )


def rank_detections(detections: Sequence[AnomalyDetection]) -> list[AnomalyDetection]:
    """Merge detections describing the same finding, keep the strongest, sort by severity x confidence."""
    groups: list[list[AnomalyDetection]] = []
    for d in sorted(detections, key=lambda d: _span(d)[0]):
        home = next((g for g in groups if any(_overlaps(d, other) for other in g)), None)
        if home is None:
            groups.append([d])
        else:
            home.append(d)
    merged = [_merge(g) if len(g) > 1 else g[0] for g in groups]
    return sorted(merged, key=lambda d: (-priority(d), d.timestamp, d.series))
