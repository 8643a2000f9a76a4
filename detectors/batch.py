"""Batch detection: many series on a shared grid at once (the scheduled cycle), or one irregular series."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, cast

import numpy as np

from detectors.adaptive import adaptive_threshold_from
from detectors.calibration import p_value_from_z, score_from_z
from detectors.changepoint import ChangePoint, ChangeScan, scan_change_points
from detectors.ensemble import combine_members
from detectors.iqr import iqr_points
from detectors.isolation_forest import isolation_forest_points
from detectors.level_step import level_step_points
from detectors.level_step_tail import level_step_tail_points
from detectors.multivariate import multivariate_scores, too_few_complete_points, top_contributors
from detectors.novelty import novelty_points
from detectors.point_scores import PointScores
from detectors.records import (
    DetectionTable,
    RecordContext,
    change_point_table,
    concat_tables,
    detection_id,
    gap_table,
    prebuilt_table,
    run_table,
)
from detectors.rolling import TrailingMoments, WindowOrderStats, trailing_moments
from detectors.rules import DetectionRule, fit_window
from detectors.sampling_interval import day_points_of
from detectors.seasonal import deseasonalise
from detectors.types import AnomalyDetection, BatchResult, InsufficientData
from detectors.validation import (
    as_float_array,
    check_batch_shapes,
    overflow_scales,
    row_problems,
    timestamp_problem,
)
from detectors.zscore import order_stats, order_stats_from, robust_zscore_points, zscore_points


def _is_adaptive(rule: DetectionRule) -> bool:
    """The adaptive threshold applies to the point methods whose scale does not adapt by itself."""
    return rule.adaptive and rule.method not in ("changepoint", "level_step", "level_step_tail")


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


ThresholdKey = tuple[object, ...]
_SHARED_METHODS = ("zscore", "robust_zscore", "iqr")


def _order_stats_key(rule: DetectionRule) -> tuple[object, ...]:
    return ("order_stats", rule.window_size, rule.min_samples)


def _change_key(rule: DetectionRule) -> tuple[object, ...]:
    return ("changes", rule.threshold, rule.window_size, rule.min_samples, rule.penalty, rule.direction)


class BlockStats:
    """Statistics of one (k, n) block of series, each computed on first use and reused by every rule run
    over the block (a cycle's zscore, iqr, changepoint and ensemble rules share their trailing moments,
    order statistics, member scores and change points).

    Memo keys hold every rule field a statistic depends on, so each rule gets exactly what it would get
    alone; scores that differ only in the threshold are rescored from the shared z.
    """

    def __init__(self, values: np.ndarray, day_points: int = 0, since: int = 0) -> None:
        """`day_points`: points per day of the block's time grid (0 when unknown; `day_points_of`).
        `since`: the first column whose scores are wanted. With `since` > 0 the trailing statistics, the
        threshold and the zscore, robust_zscore and iqr scores cover the columns from `since` on only (the
        same floats as those columns of the whole block's), and the order statistics of the hop blocks
        before it are not computed: what a streaming detector's newest point needs (its last column)."""
        self.values = values
        self.day_points = day_points
        self.since = since
        self.scored = values[:, since:]  # the columns whose scores are wanted
        self._memo: dict[tuple[object, ...], Any] = {}

    def _get(self, key: tuple[object, ...], compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def moments(self) -> TrailingMoments:
        return cast(TrailingMoments, self._get(("moments",), lambda: trailing_moments(self.values)))

    def trailing(self, rule: DetectionRule) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of the rule's trailing window (what zscore and the adaptive threshold share)."""
        return self.moments().mean_std(rule.window_size, min(rule.min_samples, rule.window_size), self.since)

    def threshold(self, rule: DetectionRule) -> tuple[ThresholdKey, np.ndarray]:
        """The rule's per-point threshold (`effective_threshold`) and a key naming it."""
        if not _is_adaptive(rule):
            flat: ThresholdKey = ("flat", rule.threshold)
            return flat, cast(np.ndarray, self._get(flat, lambda: np.full(self.scored.shape, rule.threshold)))
        # zscore and ensemble pass their trailing std in; the other methods let it use min_periods=3
        uses_trailing = rule.method in ("zscore", "ensemble")
        min_periods = min(rule.min_samples, rule.window_size) if uses_trailing else 3
        key: ThresholdKey = ("adaptive", rule.threshold, rule.window_size, min_periods)
        moments, since = self.moments(), self.since
        window_std = moments.mean_std(rule.window_size, min_periods, since)[1]
        return key, cast(
            np.ndarray,
            self._get(
                key,
                lambda: adaptive_threshold_from(moments, rule.threshold, rule.window_size, window_std, since),
            ),
        )

    def given_threshold(self, threshold: np.ndarray) -> ThresholdKey:
        """A key for a caller's threshold array (kept alive by the memo, so its id stays unique)."""
        key: ThresholdKey = ("given", id(threshold))
        self._memo[key] = threshold
        return key

    def order_stats(self, rule: DetectionRule) -> WindowOrderStats:
        """The rule's trailing order statistics (of the block's every column)."""
        key = _order_stats_key(rule)
        return cast(WindowOrderStats, self._get(key, lambda: order_stats(self.values, rule, self.since)))

    def scored_order_stats(self, rule: DetectionRule) -> WindowOrderStats:
        """`order_stats` of the columns from `since` on (computed for those columns only, unless the
        whole block's are at hand)."""
        since = self.since
        if since == 0:
            return self.order_stats(rule)
        found = self._memo.get(_order_stats_key(rule))
        if found is None:
            scored_key = ("scored_order_stats", rule.window_size, rule.min_samples)
            return cast(
                WindowOrderStats, self._get(scored_key, lambda: order_stats_from(self.values, rule, since))
            )
        return WindowOrderStats(*(part[:, since:] for part in (found.q1, found.median, found.q3, found.mad)))

    def change_scan(self, rule: DetectionRule) -> ChangeScan:
        return cast(ChangeScan, self._get(_change_key(rule), lambda: scan_change_points(self.values, rule)))

    def points(
        self, method: str, rule: DetectionRule, key: ThresholdKey, threshold: np.ndarray
    ) -> PointScores:
        """`method`'s scores against `threshold` (named by `key`); z is computed once per method and rule."""
        if method == "changepoint":
            scan = self.change_scan(rule)
            return cast(PointScores, self._get((*_change_key(rule), *key), lambda: scan.scores(threshold)))
        base_key = (method, rule.window_size, rule.min_samples, rule.direction)

        def compute() -> PointScores:
            base = self._memo.get(base_key)
            if base is not None:
                return replace(base, score=score_from_z(base.z, threshold), threshold=threshold)
            if method == "zscore":
                fresh = zscore_points(self.scored, rule, threshold, self.trailing(rule))
            else:
                member = robust_zscore_points if method == "robust_zscore" else iqr_points
                stats = self.scored_order_stats(rule)
                fresh = member(self.scored, rule, threshold, stats, lambda: self.trailing(rule)[1])
            self._memo[base_key] = fresh
            return fresh

        return cast(PointScores, self._get((*base_key, *key), compute))


def score_points(
    values: np.ndarray,
    rule: DetectionRule,
    threshold: np.ndarray | None = None,
    stats: BlockStats | None = None,
) -> tuple[PointScores, list[ChangePoint]]:
    """Per-point scores of the rule's univariate method over a (k, n) block (and its change points).

    `threshold` defaults to `effective_threshold`; `stats` shares statistics with other rules run over
    the same block (see `BlockStats`).
    """
    stats = stats if stats is not None else BlockStats(values)
    if threshold is None:
        key, threshold = stats.threshold(rule)
    else:
        key = stats.given_threshold(threshold)
    if rule.method == "changepoint":
        return stats.points("changepoint", rule, key, threshold), stats.change_scan(rule).reported
    if rule.method == "ensemble":
        zscore, robust, iqr, change = (
            stats.points(m, rule, key, threshold) for m in (*_SHARED_METHODS, "changepoint")
        )
        scan = stats.change_scan(rule)
        return combine_members(zscore, robust, iqr, change, change_rows=scan.rows), scan.reported
    if rule.method in _SHARED_METHODS:
        return stats.points(rule.method, rule, key, threshold), []
    if rule.method == "novelty":
        return novelty_points(values, rule, threshold), []
    if rule.method == "level_step_tail":
        return (
            level_step_tail_points(values, rule, threshold, stats.order_stats(rule), stats.day_points),
            [],
        )
    if rule.method == "level_step":
        return level_step_points(values, rule, threshold, stats.order_stats(rule)), []
    return isolation_forest_points(values, rule, threshold), []


def _latest(scores: np.ndarray) -> np.ndarray:
    """Last finite score of each row (NaN if none)."""
    finite = np.isfinite(scores)
    last = scores.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)
    out = scores[np.arange(scores.shape[0]), last]
    return np.where(finite.any(axis=1), out, np.nan)


CHUNK_ROWS = 128
Found = tuple[DetectionTable, np.ndarray]  # detections and each row's latest score


def _univariate_chunked(
    rules: Sequence[DetectionRule],
    ts: np.ndarray,
    raw: np.ndarray,
    work: np.ndarray,
    names: Sequence[str],
    workers: int,
    scales: np.ndarray,
) -> list[Found]:
    """Run every rule on blocks of CHUNK_ROWS series, on `workers` threads (numpy releases the GIL).

    Row blocks are independent, so results equal a single call; blocks also keep temporaries in cache.
    `work` is `raw` divided by `scales` (`overflow_scales`), the baselines found are in `raw`'s units.
    """
    bounds = list(range(0, raw.shape[0], CHUNK_ROWS))
    day = day_points_of(ts)

    def one(start: int) -> list[Found]:
        end = start + CHUNK_ROWS
        stats = BlockStats(work[start:end], day)
        return [
            _univariate(rule, ts, raw[start:end], stats, names, start, scales[start:end]) for rule in rules
        ]

    if workers > 1 and len(bounds) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(one, bounds))
    else:
        parts = [one(start) for start in bounds]
    out = []
    for i, rule in enumerate(rules):
        tables = [p[i][0] for p in parts]
        out.append(
            (concat_tables(RecordContext.of(rule), names, tables), np.concatenate([p[i][1] for p in parts]))
        )
    return out


def _univariate(
    rule: DetectionRule,
    ts: np.ndarray,
    raw: np.ndarray,
    stats: BlockStats,
    names: Sequence[str],
    offset: int,
    scales: np.ndarray,
) -> Found:
    points, change_points = score_points(stats.values, rule, stats=stats)
    if (scales != 1.0).any():
        points = replace(points, baseline=points.baseline * scales[:, None])
        change_points = [
            replace(cp, before=cp.before * scales[cp.row], after=cp.after * scales[cp.row])
            for cp in change_points
        ]
    if rule.method == "changepoint":
        found = change_point_table(rule, ts, names, change_points, offset)
    else:
        found = run_table(rule, ts, raw, names, points, offset)
    return found, _latest(np.where(np.isfinite(raw), points.score, np.nan))


def _multivariate(
    rule: DetectionRule, ts: np.ndarray, raw: np.ndarray, work: np.ndarray, names: list[str]
) -> Found:
    mv = multivariate_scores(work, rule.threshold)
    latest = np.full(len(names), np.nan)
    context = RecordContext.of(rule)
    if mv is None:
        return DetectionTable(context, names), latest
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
    return prebuilt_table(context, names, out), latest


def _empty(
    rule: DetectionRule, names: Sequence[str], problems: Mapping[str, InsufficientData]
) -> BatchResult:
    return BatchResult(DetectionTable(RecordContext.of(rule), names), np.full(len(names), np.nan), problems)


def detect_rules(
    rules: Sequence[DetectionRule],
    timestamps: np.ndarray,
    values: np.ndarray,
    series_names: Sequence[str],
    *,
    workers: int | None = None,
) -> list[BatchResult]:
    """`detect_batch` of several rules over the same series, in one pass over the data.

    Rules with the same `min_samples` and `seasonal` run together on each row block and share what they
    have in common (`BlockStats`): a cycle of zscore, iqr, changepoint and ensemble rules costs about one
    ensemble. Each result equals `detect_batch` of its rule alone. A `window_size` longer than the grid
    is cut to the grid's length (`fit_window`).
    """
    names = list(series_names)
    ts = as_float_array(timestamps).ravel()
    raw = check_batch_shapes(ts, as_float_array(values), names)
    raw = np.where(np.isinf(raw), np.nan, raw)
    ts_problem = timestamp_problem(ts)
    if ts_problem is not None:
        return [_empty(rule, names, {name: ts_problem for name in names}) for rule in rules]
    rules = [fit_window(rule, ts.size) for rule in rules]
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, rule in enumerate(rules):
        groups.setdefault((rule.min_samples, rule.seasonal, rule.method == "multivariate"), []).append(i)
    results: list[BatchResult | None] = [None] * len(rules)
    threads = max(1, workers if workers is not None else (os.cpu_count() or 1))
    for members in groups.values():
        group = [rules[i] for i in members]
        for i, result in zip(members, _detect_group(group, ts, raw, names, threads), strict=True):
            results[i] = result
    return [r for r in results if r is not None]


def _detect_group(
    rules: Sequence[DetectionRule], ts: np.ndarray, raw: np.ndarray, names: list[str], threads: int
) -> list[BatchResult]:
    """Rules sharing `min_samples` and `seasonal`: the same rows qualify and the same values are scored."""
    first = rules[0]
    problems = row_problems(raw, first.min_samples)
    insufficient = {names[i]: p for i, p in enumerate(problems) if p is not None}
    rows = np.flatnonzero(np.array([p is None for p in problems], dtype=bool))
    if rows.size == 0:
        return [_empty(rule, names, insufficient) for rule in rules]
    sub_names = [names[i] for i in rows.tolist()]
    sub_raw = raw[rows]
    scales = overflow_scales(sub_raw)
    scaled = sub_raw / scales[:, None] if (scales != 1.0).any() else sub_raw
    work = deseasonalise(ts, scaled) if first.seasonal else scaled
    if first.method == "multivariate":
        if rows.size < 2:
            too_few = {n: InsufficientData("multivariate needs at least two series", 0) for n in sub_names}
            return [_empty(rule, names, {**insufficient, **too_few}) for rule in rules]
        sparse = too_few_complete_points(work)
        if sparse is not None:
            all_insufficient = {**insufficient, **dict.fromkeys(sub_names, sparse)}
            return [_empty(rule, names, all_insufficient) for rule in rules]
        found = [_multivariate(rule, ts, sub_raw, work, sub_names) for rule in rules]
    else:
        found = _univariate_chunked(rules, ts, sub_raw, work, sub_names, threads, scales)
    gaps = gap_table(first, ts, sub_raw, sub_names)
    out = []
    for rule, (table, latest) in zip(rules, found, strict=True):
        context = RecordContext.of(rule)
        scores = np.full(len(names), np.nan)
        scores[rows] = latest
        table = concat_tables(context, sub_names, [table, replace(gaps, context=context)])
        out.append(BatchResult(table, scores, dict(insufficient)))
    return out


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
    `workers` threads share the row blocks (default: one per CPU). Detections are held as columns;
    records are built when read (`BatchResult.detections`, `BatchResult.latest_per_series`).
    """
    return detect_rules([rule], timestamps, values, series_names, workers=workers)[0]


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
    result = detect_batch(rule, ts, vals[None, :], [name], workers=1)
    if result.insufficient:
        return result.insufficient[name]
    return result.detections
