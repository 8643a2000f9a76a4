import numpy as np
import pytest

from detectors import (
    DetectionRule,
    InsufficientData,
    StreamingDetector,
    characterize_change,
    detect_batch,
    detect_series,
)

T = 1_700_000_000.0 + 60.0 * np.arange(50)
RNG = np.random.default_rng(0).normal(size=50)
BAD = {
    "empty": (np.array([]), np.array([])),
    "all_nan": (T, np.full(50, np.nan)),
    "all_inf": (T, np.full(50, np.inf)),
    "constant": (T, np.full(50, 3.0)),
    "too_short": (T[:5], RNG[:5]),
    "unsorted": (T[::-1], RNG),
    "duplicate_timestamps": (np.repeat(T[:25], 2), RNG),
    "nan_timestamps": (np.where(np.arange(50) == 3, np.nan, T), RNG),
    "length_mismatch": (T, RNG[:40]),
}
METHODS = ["zscore", "robust_zscore", "iqr", "isolation_forest", "changepoint", "ensemble"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", sorted(BAD))
def test_detect_series_returns_insufficient_data_for_bad_input(case, method):
    ts, vals = BAD[case]
    out = detect_series(DetectionRule("r", method=method), ts, vals, "x")
    assert isinstance(out, InsufficientData)
    assert out.reason


@pytest.mark.parametrize("case", sorted(BAD))
def test_characterize_change_returns_insufficient_data_for_bad_input(case):
    ts, vals = BAD[case]
    assert isinstance(characterize_change(ts, vals), InsufficientData)


def test_batch_lists_bad_rows_as_insufficient_and_scores_the_rest():
    values = np.stack([RNG, np.full(50, np.nan), np.full(50, 1.0), np.where(np.arange(50) < 45, np.nan, RNG)])
    result = detect_batch(DetectionRule("r"), T, values, ["ok", "nan", "flat", "short"])
    assert set(result.insufficient) == {"nan", "flat", "short"}
    assert np.isfinite(result.scores[0]) and np.isnan(result.scores[1:]).all()


def test_batch_with_unsorted_grid_marks_every_series_insufficient():
    result = detect_batch(DetectionRule("r"), T[::-1], np.stack([RNG, RNG]), ["a", "b"])
    assert set(result.insufficient) == {"a", "b"} and result.detections == []


def test_batch_with_no_series_is_empty():
    result = detect_batch(DetectionRule("r"), T, np.empty((0, 50)), [])
    assert result.detections == [] and result.scores.shape == (0,)


def test_inf_values_are_dropped_not_raised():
    vals = RNG.copy()
    vals[10] = np.inf
    assert isinstance(detect_series(DetectionRule("r"), T, vals, "x"), list)


@pytest.mark.parametrize("value", [np.nan, np.inf, 5.0, None, "oops"])
def test_streaming_never_raises_on_odd_points(value):
    det = StreamingDetector(DetectionRule("r", window_size=10))
    scores = [det.update(t, value) for t in T[:20]]
    assert all(0.0 <= s <= 1.0 for s in scores)
