"""Batch detection: many series on a shared grid at once (the scheduled cycle), or one irregular series."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from detectors.adaptive import adaptive_threshold_from
from detectors.calibration import p_value_from_z
from detectors.changepoint import ChangePoint, changepoint_points
from detectors.ensemble import ensemble_points
from detectors.iqr import iqr_points
from detectors.isolation_forest import isolation_forest_points
from detectors.multivariate import multivariate_scores, top_contributors
from detectors.novelty import novelty_points
from detectors.point_scores import PointScores
from detectors.records import change_point_detections, detection_id, gap_detections, run_detections
from detectors.rolling import TrailingMoments, trailing_moments
from detectors.rules import DetectionRule
from detectors.seasonal import deseasonalise
from detectors.types import AnomalyDetection, BatchResult, InsufficientData
from detectors.validation import as_float_array, check_batch_shapes, row_problems, timestamp_problem
from detectors.zscore import robust_zscore_points, trailing_stats, zscore_points


def _is_adaptive(rule: DetectionRule) -> bool:
    return rule.adaptive and rule.method != "changepoint"


def effective_threshold(
    values: np.ndarray,
    rule: DetectionRule,
    window_std: np.ndarray | None = None,
    moments: TrailingMoments | None = None,
) -> np.ndarray:
    """Per-point threshold: adaptive to the volatility regime if the rule asks for it (point methods only)."""
    if _is_adaptive(rule):
        moments = moments if moments is not None else trailing_moments(values)
        return adaptive_threshold_from(moments, rule.threshold, rule.window_size, window_std)
    return np.full(values.shape, rule.threshold)


def score_points(
    values: np.ndarray, rule: DetectionRule, threshold: np.ndarray | None = None
) -> tuple[PointScores, list[ChangePoint]]:
    """Per-point scores of the rule's univariate method over a (k, n) block (and its change points).

    The block's running sums are computed once and shared by the trailing mean/std and the adaptive
    threshold's two windows.
    """
    uses_trailing = rule.method in ("zscore", "ensemble")
    moments = None
    if uses_trailing or (threshold is None and _is_adaptive(rule)):
        moments = trailing_moments(values)
    trailing = trailing_stats(values, rule, moments) if uses_trailing else None
    if threshold is None:
        threshold = effective_threshold(values, rule, trailing[1] if trailing else None, moments)
    if rule.method == "changepoint":
        return changepoint_points(values, rule, threshold)
    if rule.method == "ensemble":
        return ensemble_points(values, rule, threshold, trailing)
    if rule.method == "zscore":
        return zscore_points(values, rule, threshold, trailing), []
    if rule.method == "novelty":
        return novelty_points(values, rule, threshold), []
    method = {
        "robust_zscore": robust_zscore_points,
        "iqr": iqr_points,
        "isolation_forest": isolation_forest_points,
    }[rule.method]
    return method(values, rule, threshold), []


def _latest(scores: np.ndarray) -> np.ndarray:
    """Last finite score of each row (NaN if none)."""
    finite = np.isfinite(scores)
    last = scores.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)
    out = scores[np.arange(scores.shape[0]), last]
    return np.where(finite.any(axis=1), out, np.nan)


CHUNK_ROWS = 512


def _univariate_chunked(
    rule: DetectionRule, ts: np.ndarray, raw: np.ndarray, work: np.ndarray, names: list[str], workers: int
) -> tuple[list[AnomalyDetection], np.ndarray]:
    """Run `_univariate` on blocks of CHUNK_ROWS series, on `workers` threads (numpy releases the GIL).

    Row blocks are independent, so results equal a single call; blocks also keep temporaries in cache.
    """
    bounds = list(range(0, raw.shape[0], CHUNK_ROWS))

    def one(start: int) -> tuple[list[AnomalyDetection], np.ndarray]:
        end = start + CHUNK_ROWS
        return _univariate(rule, ts, raw[start:end], work[start:end], names[start:end])

    if workers > 1 and len(bounds) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(one, bounds))
    else:
        parts = [one(start) for start in bounds]
    return [d for found, _ in parts for d in found], np.concatenate([latest for _, latest in parts])


def _univariate(
    rule: DetectionRule, ts: np.ndarray, raw: np.ndarray, work: np.ndarray, names: list[str]
) -> tuple[list[AnomalyDetection], np.ndarray]:
    points, change_points = score_points(work, rule)
    if rule.method == "changepoint":
        found = change_point_detections(rule, ts, raw, names, change_points)
    else:
        found = run_detections(rule, rule.method, ts, raw, names, points)
    return found, _latest(np.where(np.isfinite(raw), points.score, np.nan))


def _multivariate(
    rule: DetectionRule, ts: np.ndarray, raw: np.ndarray, work: np.ndarray, names: list[str]
) -> tuple[list[AnomalyDetection], np.ndarray]:
    mv = multivariate_scores(work, rule.threshold)
    latest = np.full(len(names), np.nan)
    if mv is None:
        return [], latest
    share = mv.contributions / np.maximum(mv.contributions.sum(axis=0, keepdims=True), 1e-300)
    latest[:] = mv.score[-1] * share[:, -1]
    out = []
    for j in np.flatnonzero(mv.score >= 0.5).tolist():
        col = int(mv.columns[j])
        metrics = top_contributors(mv.contributions[:, j], names)
        t = float(ts[col])
        z = float(mv.z[j])
        out.append(
            AnomalyDetection(
                id=detection_id(rule.name, "+".join(metrics), "multivariate", t),
                timestamp=t,
                anomaly_type=rule.anomaly_type,
                severity=rule.severity_for(z),
                confidence=float(mv.score[j]),
                z_score=z,
                p_value=float(p_value_from_z(z)),
                threshold_exceeded=True,
                affected_metrics=metrics,
                data_sources=(rule.query,) if rule.query else tuple(names),
                raw_data={f"contribution:{n}": float(s) for n, s in zip(names, share[:, j], strict=True)},
                onset=t,
                direction=None,
                magnitude=None,
                method="multivariate",
                rule=rule.name,
                series=metrics[0],
            )
        )
    return out, latest


def detect_batch(
    rule: DetectionRule,
    timestamps: np.ndarray,
    values: np.ndarray,
    series_names: Sequence[str],
    *,
    workers: int | None = None,
) -> BatchResult:
    """Detect over k series sharing the grid `timestamps` (n,); `values` (k, n) with NaN for gaps.

    Series that cannot be judged are listed in `insufficient` (score NaN); nothing raises for bad data.
    `workers` threads share the row blocks (default: one per CPU).
    """
    names = list(series_names)
    ts = as_float_array(timestamps).ravel()
    raw = check_batch_shapes(ts, as_float_array(values), names)
    raw = np.where(np.isinf(raw), np.nan, raw)
    scores = np.full(len(names), np.nan)
    ts_problem = timestamp_problem(ts)
    if ts_problem is not None:
        return BatchResult([], scores, {name: ts_problem for name in names})
    problems = row_problems(raw, rule.min_samples)
    insufficient = {names[i]: p for i, p in enumerate(problems) if p is not None}
    ok = np.array([p is None for p in problems], dtype=bool)
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return BatchResult([], scores, insufficient)
    sub_names = [names[i] for i in rows.tolist()]
    sub_raw = raw[rows]
    work = deseasonalise(ts, sub_raw) if rule.seasonal else sub_raw
    if rule.method == "multivariate":
        if rows.size < 2:
            insufficient.update(
                {n: InsufficientData("multivariate needs at least two series", 0) for n in sub_names}
            )
            return BatchResult([], scores, insufficient)
        found, latest = _multivariate(rule, ts, sub_raw, work, sub_names)
    else:
        threads = workers if workers is not None else (os.cpu_count() or 1)
        found, latest = _univariate_chunked(rule, ts, sub_raw, work, sub_names, max(1, threads))
    scores[rows] = latest
    found += gap_detections(rule, ts, sub_raw, sub_names)
    return BatchResult(found, scores, insufficient)


def detect_series(
    rule: DetectionRule, timestamps: np.ndarray, values: np.ndarray, name: str = ""
) -> list[AnomalyDetection] | InsufficientData:
    """Detect over one series (irregular steps and NaN gaps allowed); InsufficientData for bad input."""
    ts = as_float_array(timestamps).ravel()
    vals = as_float_array(values).ravel()
    if ts.size != vals.size:
        return InsufficientData(f"{ts.size} timestamps but {vals.size} values", int(min(ts.size, vals.size)))
    if rule.method == "multivariate":
        return InsufficientData("multivariate needs at least two series: use detect_batch", int(vals.size))
    result = detect_batch(rule, ts, vals[None, :], [name])
    if result.insufficient:
        return result.insufficient[name]
    return result.detections
