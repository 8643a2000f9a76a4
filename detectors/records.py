"""Detections of a batch as columns (no Python per detection) and their `AnomalyDetection` records.

A batch over many series flags hundreds of thousands of runs; building a record costs ~20 us of Python
under the GIL, so `DetectionTable` keeps one array per field and builds records only for the entries a
caller asks for (`records`), e.g. each series' latest fresh detection in the service's cycle.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, cast

import numpy as np

from detectors.anomaly_types import Shape, infer_anomaly_type, is_generic
from detectors.calibration import p_value_from_z, score_from_z
from detectors.changepoint import ChangePoint
from detectors.point_scores import PointScores
from detectors.rules import DetectionRule
from detectors.types import AnomalyDetection, AnomalyType, DetectionColumns, Direction, Severity

EPS = 1e-9
SEVERITIES = tuple(Severity)

RUN, CHANGE, GAP, PREBUILT = 0, 1, 2, 3
_EXTRA_KEYS = {
    RUN: ("threshold", "points"),
    CHANGE: ("shift",),
    GAP: ("gap_seconds", "expected_step_seconds"),
}


def detection_id(rule: str, series: str, method: str, timestamp: float) -> str:
    """Stable id: the same finding in the next cycle gets the same id."""
    return hashlib.blake2b(f"{rule}|{series}|{method}|{timestamp:.3f}".encode(), digest_size=8).hexdigest()


def relative_change(current: float, baseline: float) -> float:
    """(current - baseline) / max(|baseline|, eps)."""
    return float((current - baseline) / max(abs(baseline), EPS))


@dataclass(frozen=True)
class RecordContext:
    """The rule fields every record of a batch shares (no thresholds: picklable for process pools)."""

    rule: str
    method: str
    anomaly_type: AnomalyType
    metric: str | None
    query: str | None

    @classmethod
    def of(cls, rule: DetectionRule) -> RecordContext:
        return cls(rule.name, rule.method, rule.anomaly_type, rule.metric, rule.query)


def _anomaly_type(
    context: RecordContext, series: str, direction: Direction | None, shape: Shape
) -> AnomalyType:
    if shape == "gap" or is_generic(context.anomaly_type):
        return infer_anomaly_type(series, direction, shape)
    return context.anomaly_type


def _raw_data(
    value: float, baseline: float, keys: tuple[str, ...], extras: tuple[float, float]
) -> dict[str, float]:
    """value, baseline and the kind's own fields, finite ones only."""
    raw = {key: v for key, v in zip(keys, extras, strict=False) if math.isfinite(v)}
    if not math.isfinite(baseline):
        return {"value": value, **raw} if math.isfinite(value) else raw
    return (
        {"value": value, "baseline": baseline, **raw}
        if math.isfinite(value)
        else {"baseline": baseline, **raw}
    )


def _empty(dtype: type) -> np.ndarray:
    return np.empty(0, dtype=dtype)


@dataclass(frozen=True, eq=False)
class DetectionTable:
    """One entry per detection, in report order: `series[i]` indexes `names`; records built on demand.

    `extra_a` / `extra_b` hold the kind's own raw_data fields (runs: threshold, points; change points:
    shift; gaps: gap_seconds, expected_step_seconds). PREBUILT entries (multivariate) are kept as records.
    """

    context: RecordContext
    names: Sequence[str]
    kind: np.ndarray = field(default_factory=lambda: _empty(np.int8))
    series: np.ndarray = field(default_factory=lambda: _empty(np.intp))
    timestamp: np.ndarray = field(default_factory=lambda: _empty(float))
    onset: np.ndarray = field(default_factory=lambda: _empty(float))
    z: np.ndarray = field(default_factory=lambda: _empty(float))
    p_value: np.ndarray = field(default_factory=lambda: _empty(float))
    confidence: np.ndarray = field(default_factory=lambda: _empty(float))
    value: np.ndarray = field(default_factory=lambda: _empty(float))
    baseline: np.ndarray = field(default_factory=lambda: _empty(float))
    extra_a: np.ndarray = field(default_factory=lambda: _empty(float))
    extra_b: np.ndarray = field(default_factory=lambda: _empty(float))
    severity: np.ndarray = field(default_factory=lambda: _empty(np.int8))
    spike: np.ndarray = field(default_factory=lambda: _empty(bool))
    prebuilt: tuple[AnomalyDetection, ...] = ()

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "kind", "series", "timestamp", "onset", "z", "p_value", "confidence", "value", "baseline",
        "extra_a", "extra_b", "severity", "spike",
    )  # fmt: skip

    def __len__(self) -> int:
        return int(self.kind.size)

    def records(self, which: np.ndarray | Sequence[int] | None = None) -> list[AnomalyDetection]:
        """`AnomalyDetection` records of the entries `which` (all, in report order, by default)."""
        idx = np.arange(len(self)) if which is None else np.asarray(which, dtype=np.intp)
        columns = [getattr(self, name)[idx].tolist() for name in self.COLUMNS]
        context, names = self.context, self.names
        methods = {RUN: context.method, CHANGE: "changepoint", GAP: "gap"}
        out: list[AnomalyDetection | None] = []
        for kind, row, ts, onset, z, p, confidence, value, baseline, a, b, severity, spike in zip(
            *columns, strict=True
        ):
            if kind == PREBUILT:
                out.append(None)
                continue
            series, method = names[row], methods[kind]
            direction: Direction | None = "up" if z > 0 else "down" if z < 0 else None
            shape: Shape = "gap" if kind == GAP else "spike" if spike else "level_shift"
            out.append(
                AnomalyDetection(
                    id=detection_id(context.rule, series, method, ts),
                    timestamp=ts,
                    anomaly_type=_anomaly_type(context, series, direction, shape),
                    severity=SEVERITIES[severity],
                    confidence=min(max(confidence, 0.0), 1.0),
                    z_score=z,
                    p_value=p,
                    threshold_exceeded=True,
                    affected_metrics=(context.metric or series,),
                    data_sources=(context.query,) if context.query else (series,),
                    raw_data=_raw_data(value, baseline, _EXTRA_KEYS[kind], (a, b)),
                    onset=onset,
                    direction=direction,
                    magnitude=relative_change(value, baseline) if math.isfinite(baseline) else None,
                    method=method,
                    rule=context.rule,
                    series=series,
                )
            )
        if self.prebuilt:
            rank = (np.cumsum(self.kind == PREBUILT) - 1)[idx]
            for i in np.flatnonzero(self.kind[idx] == PREBUILT).tolist():
                out[i] = self.prebuilt[rank[i]]
        return cast(list[AnomalyDetection], out)

    def series_codes(self) -> np.ndarray:
        """Per entry, a code shared by all entries whose record names the same series."""
        codes: dict[str, int] = {}
        by_row = np.array([codes.setdefault(name, len(codes)) for name in self.names], dtype=np.intp)
        out = by_row[self.series] if by_row.size else np.zeros(len(self), dtype=np.intp)
        if self.prebuilt:
            out = out.copy()
            built = [codes.setdefault(d.series, len(codes)) for d in self.prebuilt]
            out[self.kind == PREBUILT] = built
        return out

    def material(self, min_delta: float = 0.0, min_change: float = 0.0) -> np.ndarray:
        """Per entry: whether its value moved from its baseline by at least max(`min_delta`, `min_change` x
        |baseline|). Entries without both (data gaps, multivariate findings) always count."""
        with np.errstate(invalid="ignore"):
            floor = np.maximum(min_delta, min_change * np.abs(self.baseline))
            moved = np.abs(self.value - self.baseline) >= floor
        return moved | ~(np.isfinite(self.value) & np.isfinite(self.baseline))

    def gaps(self) -> np.ndarray:
        """Per entry: whether it is a DATA_GAP (a hole in the data rather than a value)."""
        return np.asarray(self.kind == GAP)

    def gap_summary(self) -> tuple[int, float]:
        """How many series have a DATA_GAP, and the longest gap in seconds (0 without)."""
        mask = self.gaps()
        lengths = self.extra_a[mask]
        return int(np.unique(self.series_codes()[mask]).size), float(lengths.max()) if lengths.size else 0.0

    def latest_per_series(self, since: float, among: np.ndarray | None = None) -> np.ndarray:
        """Entries that are each series' latest detection at or after `since` (the first such on ties),
        ordered by each series' first detection at or after `since`; `among`: only these entries (a mask)."""
        fresh = self.timestamp >= since
        keep = np.flatnonzero(fresh if among is None else fresh & among)
        if keep.size == 0:
            return keep
        codes = self.series_codes()[keep]
        order = np.lexsort((keep, -self.timestamp[keep], codes))
        first = np.ones(order.size, dtype=bool)
        first[1:] = codes[order[1:]] != codes[order[:-1]]
        latest = keep[order[first]]  # one per series, sorted by series code
        _, first_seen = np.unique(codes, return_index=True)  # also sorted by series code
        return latest[np.argsort(first_seen, kind="stable")]


def concat_tables(
    context: RecordContext, names: Sequence[str], parts: Sequence[DetectionTable]
) -> DetectionTable:
    """One table with the entries of `parts` in order (their `series` already index `names`)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return DetectionTable(context, names)
    columns = {name: np.concatenate([getattr(p, name) for p in parts]) for name in DetectionTable.COLUMNS}
    prebuilt = tuple(d for p in parts for d in p.prebuilt)
    return DetectionTable(context, names, **columns, prebuilt=prebuilt)


def merge_row_tables(
    names: Sequence[str], parts: Sequence[tuple[np.ndarray, DetectionColumns]]
) -> DetectionTable:
    """One table over `names` from tables over subsets of them (`rows`: which of `names` each part's
    series are), in the order one batch over all of them reports: series by series, then the data gaps."""
    tables = []
    for rows, table in parts:
        if not isinstance(table, DetectionTable):
            raise TypeError(f"merge_row_tables takes DetectionTable parts; got {type(table).__name__}")
        tables.append(replace(table, names=names, series=rows[table.series]))
    merged = concat_tables(tables[0].context, names, tables)
    order = np.lexsort((merged.series, merged.gaps()))
    return replace(merged, **{column: getattr(merged, column)[order] for column in DetectionTable.COLUMNS})


def flagged_runs(score: np.ndarray, hole: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of points with score >= 0.5 in each row of `score`: (row, start, end) of each, row-major.

    Runs separated by a hole of at most `hole` unflagged points merge, the hole joining the run (as the
    scheduler continues an incident within its cooldown). A longer hole is left open whole: filling the
    points within `hole` of both sides made an island "run" of unflagged points between two runs.
    Works on the flagged points only (sparse), not per point.
    """
    n = score.shape[1]
    flat = np.flatnonzero(score >= 0.5)
    if flat.size == 0:
        return flat, flat, flat
    rows, cols = np.divmod(flat, n)
    same_row = rows[1:] == rows[:-1]
    row, before, after = rows[1:][same_row], cols[:-1][same_row], cols[1:][same_row]
    lo, hi = before + 1, after - 1
    fill = (hi >= lo) & (hi - lo + 1 <= hole)
    if fill.any():
        lengths = hi[fill] - lo[fill] + 1
        step = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        flat = np.union1d(flat, np.repeat(row[fill] * n + lo[fill], lengths) + step)
        rows, cols = np.divmod(flat, n)
    new_run = np.ones(flat.size, dtype=bool)
    new_run[1:] = (flat[1:] != flat[:-1] + 1) | (rows[1:] != rows[:-1])
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], flat.size) - 1
    return rows[starts], cols[starts], cols[ends] + 1


def run_peaks(score: np.ndarray, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Column of each run's highest score (`np.argmax` semantics: first maximum, NaN counts as highest)."""
    if rows.size == 0:
        return np.empty(0, dtype=np.intp)
    lengths = ends - starts
    offsets = np.cumsum(lengths) - lengths
    run = np.repeat(np.arange(rows.size), lengths)
    cols = starts[run] + np.arange(lengths.sum()) - offsets[run]
    key = score[rows[run], cols]
    key[np.isnan(key)] = np.inf
    best = np.maximum.reduceat(key, offsets)
    hits = np.flatnonzero(key == best[run])
    first = np.ones(hits.size, dtype=bool)
    first[1:] = run[hits[1:]] != run[hits[:-1]]
    return cols[hits[first]]


def run_table(
    rule: DetectionRule,
    timestamps: np.ndarray,
    values: np.ndarray,
    names: Sequence[str],
    points: PointScores,
    row_offset: int = 0,
) -> DetectionTable:
    """One detection per run of consecutive flagged points (score >= 0.5), reported at its peak."""
    spike_len = max(3, rule.window_size // 10)
    k, n = points.score.shape
    rows, starts, ends = flagged_runs(points.score, spike_len)
    peaks = run_peaks(points.score, rows, starts, ends)
    z = points.z[rows, peaks]
    p = points.p_value[rows, peaks] if points.p_value is not None else p_value_from_z(z)
    return DetectionTable(
        RecordContext.of(rule),
        names,
        kind=np.full(rows.size, RUN, dtype=np.int8),
        series=rows + row_offset,
        timestamp=timestamps[peaks],
        onset=timestamps[starts],
        z=z,
        p_value=np.asarray(p, dtype=float),
        confidence=points.score[rows, peaks],
        value=values[rows, peaks],
        baseline=points.baseline[rows, peaks],
        extra_a=np.broadcast_to(points.threshold, (k, n))[rows, peaks],
        extra_b=(ends - starts).astype(float),
        severity=rule.severity_codes(z),
        spike=ends - starts <= spike_len,
    )


def change_point_table(
    rule: DetectionRule,
    timestamps: np.ndarray,
    names: Sequence[str],
    change_points: Sequence[ChangePoint],
    row_offset: int = 0,
) -> DetectionTable:
    """One LEVEL_SHIFT-shaped detection per significant change point."""
    m = len(change_points)
    index = np.array([cp.index for cp in change_points], dtype=np.intp)
    before = np.array([cp.before for cp in change_points], dtype=float)
    after = np.array([cp.after for cp in change_points], dtype=float)
    return DetectionTable(
        RecordContext.of(rule),
        names,
        kind=np.full(m, CHANGE, dtype=np.int8),
        series=np.array([cp.row for cp in change_points], dtype=np.intp) + row_offset,
        timestamp=timestamps[index],
        onset=timestamps[index],
        z=np.array([cp.t_stat for cp in change_points], dtype=float),
        p_value=np.array([cp.p_value for cp in change_points], dtype=float),
        confidence=np.array([float(score_from_z(cp.t_stat, rule.threshold)) for cp in change_points]),
        value=after,
        baseline=before,
        extra_a=np.array([cp.after - cp.before for cp in change_points], dtype=float),
        extra_b=np.full(m, np.nan),
        severity=np.array([SEVERITIES.index(rule.severity_for(cp.t_stat)) for cp in change_points], np.int8),
        spike=np.zeros(m, dtype=bool),
    )


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


def gap_table(
    rule: DetectionRule, timestamps: np.ndarray, values: np.ndarray, names: Sequence[str]
) -> DetectionTable:
    """DATA_GAP where consecutive finite points are more than 3.5 typical steps apart."""
    dense = np.isfinite(values).all(axis=1)
    grid_gaps = _gaps(timestamps)
    rows: list[int] = []
    gaps: list[tuple[float, float, float, float]] = []
    for r in range(values.shape[0]):
        found = grid_gaps if dense[r] else _gaps(timestamps[np.isfinite(values[r])])
        rows += [r] * len(found)
        gaps += found
    m = len(rows)
    start, end, length, typical = (
        (np.array(c, dtype=float) for c in zip(*gaps, strict=True)) if m else [np.empty(0)] * 4
    )
    return DetectionTable(
        RecordContext.of(rule),
        names,
        kind=np.full(m, GAP, dtype=np.int8),
        series=np.array(rows, dtype=np.intp),
        timestamp=end,
        onset=start,
        z=np.zeros(m),
        p_value=np.ones(m),
        confidence=np.ones(m),
        value=np.full(m, np.nan),
        baseline=np.full(m, np.nan),
        extra_a=length,
        extra_b=typical,
        severity=np.full(m, SEVERITIES.index(Severity.LOW), dtype=np.int8),
        spike=np.zeros(m, dtype=bool),
    )


def prebuilt_table(
    context: RecordContext, names: Sequence[str], records: Sequence[AnomalyDetection]
) -> DetectionTable:
    """A table of records built eagerly (multivariate detections: few, one per anomalous timestamp)."""
    m = len(records)
    row_of = {name: i for i, name in enumerate(names)}
    nan = np.full(m, np.nan)
    return DetectionTable(
        context,
        names,
        kind=np.full(m, PREBUILT, dtype=np.int8),
        series=np.array([row_of.get(d.series, 0) for d in records], dtype=np.intp),
        timestamp=np.array([d.timestamp for d in records], dtype=float),
        onset=nan, z=nan, p_value=nan, confidence=nan, value=nan, baseline=nan, extra_a=nan, extra_b=nan,
        severity=np.zeros(m, dtype=np.int8),
        spike=np.zeros(m, dtype=bool),
        prebuilt=tuple(records),
    )  # fmt: skip
