"""Turn per-point scores, change points and gaps into `AnomalyDetection` records."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np

from detectors.anomaly_types import Shape, infer_anomaly_type, is_generic
from detectors.calibration import p_value_from_z, score_from_z
from detectors.changepoint import ChangePoint
from detectors.point_scores import PointScores
from detectors.rules import DetectionRule
from detectors.types import AnomalyDetection, AnomalyType, Direction, Severity

EPS = 1e-9


def detection_id(rule: str, series: str, method: str, timestamp: float) -> str:
    """Stable id: the same finding in the next cycle gets the same id."""
    return hashlib.blake2b(f"{rule}|{series}|{method}|{timestamp:.3f}".encode(), digest_size=8).hexdigest()


def relative_change(current: float, baseline: float) -> float:
    """(current - baseline) / max(|baseline|, eps)."""
    return float((current - baseline) / max(abs(baseline), EPS))


def _anomaly_type(rule: DetectionRule, series: str, direction: Direction | None, shape: Shape) -> AnomalyType:
    if shape == "gap" or is_generic(rule.anomaly_type):
        return infer_anomaly_type(series, direction, shape)
    return rule.anomaly_type


def _record(
    rule: DetectionRule,
    method: str,
    series: str,
    *,
    timestamp: float,
    onset: float,
    z: float,
    p_value: float,
    confidence: float,
    value: float,
    baseline: float,
    shape: Shape,
    extra: dict[str, float],
    severity: Severity | None = None,
) -> AnomalyDetection:
    direction: Direction | None = "up" if z > 0 else "down" if z < 0 else None
    raw = {"value": value, "baseline": baseline, **extra}
    return AnomalyDetection(
        id=detection_id(rule.name, series, method, timestamp),
        timestamp=timestamp,
        anomaly_type=_anomaly_type(rule, series, direction, shape),
        severity=severity or (rule.severity_for(z) if shape != "gap" else Severity.LOW),
        confidence=min(max(confidence, 0.0), 1.0),
        z_score=z,
        p_value=p_value,
        threshold_exceeded=True,
        affected_metrics=(rule.metric or series,),
        data_sources=(rule.query,) if rule.query else (series,),
        raw_data={key: v for key, v in raw.items() if math.isfinite(v)},
        onset=onset,
        direction=direction,
        magnitude=relative_change(value, baseline) if math.isfinite(baseline) else None,
        method=method,
        rule=rule.name,
        series=series,
    )


def close_holes(flagged: np.ndarray, hole: int) -> np.ndarray:
    """Also flag unflagged stretches of at most `hole` points between two flagged points of a row."""
    k, n = flagged.shape
    counts = np.concatenate([np.zeros((k, 1)), np.cumsum(flagged, axis=1)], axis=1)
    idx = np.arange(n)
    before = counts[:, idx] - counts[:, np.maximum(idx - hole, 0)] > 0
    after = counts[:, np.minimum(idx + hole + 1, n)] - counts[:, idx + 1] > 0
    return flagged | (before & after)


def run_detections(
    rule: DetectionRule,
    method: str,
    timestamps: np.ndarray,
    values: np.ndarray,
    names: Sequence[str],
    points: PointScores,
) -> list[AnomalyDetection]:
    """One detection per run of consecutive flagged points (score >= 0.5), reported at its peak."""
    spike_len = max(3, rule.window_size // 10)
    flagged = close_holes(np.nan_to_num(points.score, nan=0.0) >= 0.5, spike_len)
    k, n = flagged.shape
    edges = np.diff(np.pad(flagged, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    thresholds = np.broadcast_to(points.threshold, (k, n))
    stamps = timestamps.tolist()
    peaks = np.array(
        [s + int(np.argmax(points.score[r, s:e])) for r, s, e in zip(rows, starts, ends, strict=True)],
        dtype=np.intp,
    )
    z = points.z[rows, peaks]
    p = points.p_value[rows, peaks] if points.p_value is not None else p_value_from_z(z)
    severities = rule.severities_for(z)
    found = []
    for i, (r, s, e, peak) in enumerate(
        zip(rows.tolist(), starts.tolist(), ends.tolist(), peaks.tolist(), strict=True)
    ):
        found.append(
            _record(
                rule, method, names[r],
                timestamp=stamps[peak], onset=stamps[s], z=float(z[i]), p_value=float(p[i]),
                confidence=float(points.score[r, peak]), value=float(values[r, peak]),
                baseline=float(points.baseline[r, peak]),
                shape="spike" if e - s <= spike_len else "level_shift",
                extra={"threshold": float(thresholds[r, peak]), "points": float(e - s)},
                severity=severities[i],
            )
        )  # fmt: skip
    return found


def change_point_detections(
    rule: DetectionRule,
    timestamps: np.ndarray,
    values: np.ndarray,
    names: Sequence[str],
    change_points: Sequence[ChangePoint],
) -> list[AnomalyDetection]:
    """One LEVEL_SHIFT-shaped detection per significant change point."""
    out = []
    for cp in change_points:
        ts = float(timestamps[cp.index])
        out.append(
            _record(
                rule, "changepoint", names[cp.row],
                timestamp=ts, onset=ts, z=cp.t_stat, p_value=cp.p_value,
                confidence=float(score_from_z(cp.t_stat, rule.threshold)), value=cp.after,
                baseline=cp.before, shape="level_shift", extra={"shift": cp.after - cp.before},
            )
        )  # fmt: skip
    return out


def _gaps(ts: np.ndarray) -> list[tuple[float, float, float, float]]:
    """(start, end, length, typical step) of every step more than 3.5 typical steps long."""
    if ts.size < 3:
        return []
    steps = np.diff(ts)
    typical = float(np.median(steps))
    return [
        (float(ts[i]), float(ts[i + 1]), float(steps[i]), typical)
        for i in np.flatnonzero(steps > 3.5 * typical)
    ]


def gap_detections(
    rule: DetectionRule, timestamps: np.ndarray, values: np.ndarray, names: Sequence[str]
) -> list[AnomalyDetection]:
    """DATA_GAP where consecutive finite points are more than 3.5 typical steps apart."""
    dense = np.isfinite(values).all(axis=1)
    grid_gaps = _gaps(timestamps)
    out = []
    for r in range(values.shape[0]):
        gaps = grid_gaps if dense[r] else _gaps(timestamps[np.isfinite(values[r])])
        for start, end, length, typical in gaps:
            out.append(
                _record(
                    rule, "gap", names[r],
                    timestamp=end, onset=start, z=0.0, p_value=1.0, confidence=1.0,
                    value=float("nan"), baseline=float("nan"), shape="gap",
                    extra={"gap_seconds": length, "expected_step_seconds": typical},
                )
            )  # fmt: skip
    return out
