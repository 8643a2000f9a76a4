"""Columnar batch results: records built on demand equal the per-series path; cycles equal single rules."""

import itertools
import pickle
from dataclasses import replace

import numpy as np
import pytest

from detectors import AnomalyDetection, DetectionRule, detect_batch, detect_rules, detect_series
from detectors.records import flagged_runs, run_peaks

NAMES = ("latency_p99", "errors_total", "cpu_usage", "revenue", "queue_depth")


@pytest.fixture(scope="module")
def workload() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """300 noisy daily-shaped series with spikes, level shifts, gaps, one empty and one flat series."""
    rng = np.random.default_rng(3)
    k, n = 300, 720
    ts = 1_700_000_000.0 + 60.0 * np.arange(n)
    level = rng.uniform(10, 1000, size=(k, 1))
    noise = rng.uniform(0.01, 0.05, size=(k, 1)) * level
    values = level * (1 + 0.2 * np.sin(np.arange(n) / 120.0)) + noise * rng.standard_normal((k, n))
    for r in range(0, k, 7):
        values[r, rng.integers(100, n)] += 8 * noise[r, 0]
    for r in range(3, k, 9):
        values[r, rng.integers(100, n - 50) :] -= 6 * noise[r, 0]
    for r in range(5, k, 25):
        start = rng.integers(60, n - 60)
        values[r, start : start + 30] = np.nan
    values[1] = np.nan
    values[2] = 5.0
    names = [f"{NAMES[i % len(NAMES)]}_{i}" for i in range(k)]
    return ts, values, names


METHODS = ("zscore", "robust_zscore", "iqr", "changepoint", "ensemble")


@pytest.mark.parametrize("method", METHODS)
def test_records_built_from_columns_equal_the_per_series_call(workload, method):
    ts, values, names = workload
    rule = DetectionRule("r", method=method)
    batch = detect_batch(rule, ts, values, names, workers=2)
    by_series: dict[str, list[AnomalyDetection]] = {name: [] for name in names}
    for d in batch.detections:
        by_series[d.series].append(d)
    for i, name in enumerate(names):
        single = detect_series(rule, ts, values[i], name)
        assert by_series[name] == (single if isinstance(single, list) else []), name
    assert batch.detection_count == len(batch.detections) > 0


def test_records_of_some_entries_equal_those_entries_of_all_records(workload):
    ts, values, names = workload
    result = detect_batch(DetectionRule("r", method="zscore"), ts, values, names)
    which = np.arange(0, result.detection_count, 7)
    assert result.table.records(which) == [result.detections[i] for i in which]


def _latest_by_filtering(detections: list[AnomalyDetection], since: float) -> list[AnomalyDetection]:
    latest: dict[str, AnomalyDetection] = {}
    for d in detections:
        if d.timestamp >= since and (d.series not in latest or d.timestamp > latest[d.series].timestamp):
            latest[d.series] = d
    return list(latest.values())


@pytest.mark.parametrize("method", ["zscore", "changepoint", "ensemble", "multivariate"])
def test_latest_per_series_equals_filtering_every_record(workload, method):
    ts, values, names = workload
    result = detect_batch(DetectionRule("r", method=method), ts, values[:60], names[:60])
    for since in (ts[0], ts[400], ts[-10], ts[-1] + 1):
        assert result.latest_per_series(float(since)) == _latest_by_filtering(result.detections, since)


@pytest.mark.parametrize("method", ["zscore", "changepoint"])
def test_a_floor_keeps_the_latest_of_the_detections_that_moved_that_far_and_every_gap(workload, method):
    ts, values, names = workload
    result = detect_batch(DetectionRule("r", method=method), ts, values[:60], names[:60])
    delta, change = 5.0, 0.04

    def moved(d: AnomalyDetection) -> bool:
        if "value" not in d.raw_data or "baseline" not in d.raw_data:
            return True  # a data gap: no value to measure
        size = abs(d.raw_data["value"] - d.raw_data["baseline"])
        return size >= max(delta, change * abs(d.raw_data["baseline"]))

    kept = [d for d in result.detections if moved(d)]
    assert 0 < len(kept) < len(result.detections)  # the floor is neither everything nor nothing here
    assert any(d.anomaly_type == "DATA_GAP" for d in kept)
    for since in (ts[0], ts[400]):
        floored = result.latest_per_series(float(since), min_delta=delta, min_change=change)
        assert floored == _latest_by_filtering(kept, since)


def test_beyond_floor_is_the_tables_material_mask_and_none_without_a_floor(workload):
    ts, values, names = workload
    result = detect_batch(DetectionRule("r", method="zscore"), ts, values[:60], names[:60])
    assert result.beyond_floor() is None
    for delta, change in ((5.0, 0.0), (0.0, 0.04), (5.0, 0.04)):
        moved = result.beyond_floor(delta, change)
        assert moved is not None
        np.testing.assert_array_equal(moved, result.table.material(delta, change))
        assert 0 < moved.sum() < moved.size  # the floor is neither everything nor nothing here


def test_a_cycle_of_rules_equals_each_rule_alone(workload):
    ts, values, names = workload
    base = [DetectionRule(f"r-{m}", method=m) for m in ("zscore", "iqr", "changepoint", "ensemble")]
    variants = [
        replace(base[1], name="iqr-up", direction="up"),
        replace(base[3], name="ensemble-fixed", adaptive=False),
        replace(base[0], name="zscore-30", window_size=30, threshold=4.0),
        replace(base[2], name="changepoint-pen", penalty=20.0),
        DetectionRule("zscore-min5", method="zscore", min_samples=5, seasonal=False),
    ]
    rules = base + variants
    together = detect_rules(rules, ts, values, names)
    for rule, result in zip(rules, together, strict=True):
        alone = detect_batch(rule, ts, values, names)
        assert result.detections == alone.detections, rule.name
        np.testing.assert_array_equal(result.scores, alone.scores)
        assert dict(result.insufficient) == dict(alone.insufficient)


def test_a_batch_result_pickles_for_process_pools(workload):
    ts, values, names = workload
    result = detect_batch(DetectionRule("r", method="ensemble"), ts, values[:40], names[:40])
    copy = pickle.loads(pickle.dumps(result))
    assert copy.detections == result.detections
    np.testing.assert_array_equal(copy.scores, result.scores)


def _dense_runs(score: np.ndarray, hole: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The definition: close holes of at most `hole` points between flagged points, runs from edges,
    peaks by np.argmax per run."""
    flagged = np.nan_to_num(score, nan=0.0) >= 0.5
    for row in flagged:
        marks = np.flatnonzero(row)
        for left, right in itertools.pairwise(marks):
            if right - left - 1 <= hole:
                row[left:right] = True
    edges = np.diff(np.pad(flagged, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    peaks = [s + int(np.argmax(score[r, s:e])) for r, s, e in zip(rows, starts, ends, strict=True)]
    return rows, starts, ends, np.array(peaks, dtype=np.intp)


def test_sparse_runs_and_peaks_follow_the_point_by_point_definition():
    rng = np.random.default_rng(0)
    for _ in range(300):
        k, n, hole = int(rng.integers(1, 6)), int(rng.integers(1, 80)), int(rng.integers(0, 8))
        score = rng.uniform(0, 1, (k, n)) ** rng.uniform(0.2, 5)
        score[rng.uniform(size=(k, n)) < 0.1] = np.nan
        rows, starts, ends, peaks = _dense_runs(score, hole)
        got = flagged_runs(score, hole)
        for want, have in zip((rows, starts, ends), got, strict=True):
            np.testing.assert_array_equal(want, have)
        np.testing.assert_array_equal(peaks, run_peaks(score, *got))


@pytest.mark.parametrize("gap", [4, 5, 6, 7, 8])
def test_a_hole_longer_than_hole_stays_open_whole_and_makes_no_island_run(gap: int) -> None:
    hole = 4
    score = np.zeros((1, 30))
    score[0, [5, 5 + gap + 1]] = 0.9
    _, starts, ends = flagged_runs(score, hole)
    runs = list(zip(starts.tolist(), ends.tolist(), strict=True))
    assert runs == ([(5, 5 + gap + 2)] if gap <= hole else [(5, 6), (5 + gap + 1, 5 + gap + 2)])
