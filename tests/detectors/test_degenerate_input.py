"""Degenerate but real input: values whose squares overflow, subnormal steps, sparse multivariate grids,
mismatched replays, junk timestamps. Nothing escapes but a DetectorError, nothing warns, and scores
stay finite."""

import math

import numpy as np
import pytest

from detectors import (
    DetectionRule,
    InsufficientData,
    InvalidInputError,
    SeriesChange,
    StreamingDetector,
    characterize_change,
    detect_batch,
    detect_rules,
    fresh_change,
    seasonal_baseline,
)
from detectors.grid import align
from detectors.rules import METHODS

T = 1_700_000_020.0 + 60.0 * np.arange(300)
UNIVARIATE = [m for m in METHODS if m != "multivariate"]
BUFFERED = ["zscore", "robust_zscore", "iqr", "isolation_forest", "changepoint", "ensemble"]
HUGE = 2.0**1000  # x HUGE is exact: the series is the same in other units, and its squares overflow


def noisy_with_spike() -> np.ndarray:
    values = 100.0 + np.random.default_rng(3).normal(0.0, 1.0, T.size)
    values[250] += 12.0
    return values


def with_maxfloat_points() -> np.ndarray:
    values = noisy_with_spike()
    values[150], values[151] = 1e308, -1e308
    return values


@pytest.mark.parametrize("method", UNIVARIATE)
def test_batch_scores_huge_values_as_the_same_series_in_smaller_units(method):
    rule = DetectionRule("r", method=method)
    small = detect_batch(rule, T, noisy_with_spike()[None, :], ["s"], workers=1)
    huge = detect_batch(rule, T, HUGE * noisy_with_spike()[None, :], ["s"], workers=1)
    assert np.isfinite(huge.scores).all()
    np.testing.assert_allclose(huge.scores, small.scores, rtol=1e-9, atol=1e-12)
    assert [d.timestamp for d in huge.detections] == [d.timestamp for d in small.detections]
    for big, ref in zip(huge.detections, small.detections, strict=True):
        assert big.raw_data["baseline"] == pytest.approx(HUGE * ref.raw_data["baseline"], rel=1e-9)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("case", ["huge", "maxfloat_points", "subnormal"])
def test_detect_rules_of_every_method_neither_warns_nor_raises(case):
    values = {
        "huge": HUGE * noisy_with_spike(),
        "maxfloat_points": with_maxfloat_points(),
        "subnormal": 5e-324 * np.random.default_rng(0).integers(0, 4, T.size).astype(float),
    }[case]
    rules = [DetectionRule(f"r-{m}", method=m) for m in METHODS]
    block = np.vstack([values, values[::-1]])
    for result in detect_rules(rules, T, block, ["a", "b"], workers=1):
        for name, score in zip(["a", "b"], result.scores.tolist(), strict=True):
            assert 0.0 <= score <= 1.0 or (math.isnan(score) and name in result.insufficient)
        for d in result.detections:
            assert math.isfinite(d.z_score) and 0.0 <= d.p_value <= 1.0 and 0.0 <= d.confidence <= 1.0


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("method", BUFFERED)
def test_streaming_of_huge_values_neither_warns_nor_scores_nan(method):
    values = with_maxfloat_points()
    values[200:] *= HUGE
    detector = StreamingDetector(DetectionRule("r", method=method, window_size=20))
    updated = [detector.update(t, v) for t, v in zip(T, values, strict=True)]
    replayed = StreamingDetector(DetectionRule("r", method=method, window_size=20)).replay(T, values)
    assert np.isfinite(updated).all() and np.isfinite(replayed).all()


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("method", UNIVARIATE)
def test_streaming_scores_huge_values_as_the_same_series_in_smaller_units(method):
    values = noisy_with_spike()
    values[150:] += 8.0  # a level shift for changepoint, then the spike
    rule = DetectionRule("r", method=method)

    def streamed(x: np.ndarray) -> tuple[list[float], np.ndarray]:
        detector = StreamingDetector(rule)
        updated = [detector.update(t, v) for t, v in zip(T, x, strict=True)]
        return updated, StreamingDetector(rule).replay(T, x)

    (small, small_replayed), (huge, huge_replayed) = streamed(values), streamed(HUGE * values)
    assert max(small) >= 0.5
    np.testing.assert_array_equal(huge, small)
    np.testing.assert_array_equal(huge_replayed, small_replayed)


SPIKE_METHODS = ["zscore", "robust_zscore", "iqr", "ensemble", "novelty", "level_step", "level_step_tail"]


@pytest.mark.parametrize("method", SPIKE_METHODS)
def test_streaming_scores_a_spike_among_1e300s_as_batch_does(method):
    rule = DetectionRule("r", method=method)
    values = 1e300 * noisy_with_spike()[:251]  # noise of about 1e300 too; the spike last
    batch = detect_batch(rule, T[:251], values[None, :], ["s"], workers=1).scores[0]
    detector = StreamingDetector(rule)
    streamed = [detector.update(t, v) for t, v in zip(T[:251], values, strict=True)]
    assert batch >= 0.5
    assert streamed[-1] == pytest.approx(batch, abs=1e-6)  # order statistics: the buffer's hop phase


def test_multivariate_with_a_spike_of_1e300_scores_instead_of_raising():
    values = np.vstack([noisy_with_spike(), noisy_with_spike()[::-1].copy()])
    values[0, -1] = 1e300
    result = detect_batch(DetectionRule("mv", method="multivariate"), T, values, ["a", "b"], workers=1)
    assert np.isfinite(result.scores).all()


def test_multivariate_without_k_plus_2_complete_time_points_says_why():
    a, b = noisy_with_spike(), noisy_with_spike()[::-1].copy()
    a[::2], b[1::2] = np.nan, np.nan  # each series has 150 points, never at the same time
    result = detect_batch(DetectionRule("mv", method="multivariate"), T, np.vstack([a, b]), ["a", "b"])
    assert set(result.insufficient) == {"a", "b"}
    assert "time points at which all 2 series have a value" in result.insufficient["a"].reason


@pytest.mark.parametrize("method", UNIVARIATE)
def test_replay_of_an_empty_series_scores_nothing(method):
    assert StreamingDetector(DetectionRule("r", method=method)).replay(np.array([]), np.array([])).size == 0


@pytest.mark.parametrize("method", UNIVARIATE)
def test_replay_with_more_values_than_timestamps_is_an_invalid_input_error(method):
    with pytest.raises(InvalidInputError, match="one timestamp per value: got 10 and 300"):
        StreamingDetector(DetectionRule("r", method=method)).replay(T[:10], noisy_with_spike())


@pytest.mark.parametrize("method", UNIVARIATE)
def test_update_takes_a_non_numeric_timestamp_like_a_missing_one(method):
    detector = StreamingDetector(DetectionRule("r", method=method))
    for t, v in zip(T[:50], noisy_with_spike()[:50], strict=True):
        detector.update(t, v)
    assert 0.0 <= detector.update("soon", 100.0) <= 1.0  # type: ignore[arg-type]
    assert 0.0 <= detector.update(None, 100.0) <= 1.0  # type: ignore[arg-type]


@pytest.mark.filterwarnings("error")
def test_characterize_change_of_huge_values_is_the_change_in_their_units():
    step = noisy_with_spike()
    step[200:] += 20.0
    small = characterize_change(T, step, split_at=float(T[200]))
    huge = characterize_change(T, HUGE * step, split_at=float(T[200]))
    assert isinstance(small, SeriesChange) and isinstance(huge, SeriesChange)
    assert huge.anomalous and huge.onset == small.onset and huge.z_score == pytest.approx(small.z_score)
    assert huge.baseline == pytest.approx(HUGE * small.baseline)  # type: ignore[operator]
    assert huge.current == pytest.approx(HUGE * small.current)  # type: ignore[operator]


@pytest.mark.filterwarnings("error")
def test_fresh_change_of_huge_values_is_the_change_in_their_units():
    values = noisy_with_spike()[:100]
    values[-2:] += 30.0
    small, huge = fresh_change(T[:100], values), fresh_change(T[:100], HUGE * values)
    assert small is not None and huge is not None
    assert huge.baseline == pytest.approx(HUGE * small.baseline)  # type: ignore[operator]
    assert huge.p_value == small.p_value


def test_seasonal_baseline_of_one_series_given_as_a_vector_is_a_vector():
    ts = 60.0 * np.arange(3 * 1440)
    values = 10.0 + np.sin(2 * np.pi * ts / 86_400.0)
    baseline = seasonal_baseline(ts, values)
    assert baseline is not None and baseline.shape == values.shape
    np.testing.assert_array_equal(baseline, seasonal_baseline(ts, values[None, :])[0])  # type: ignore[index]


@pytest.mark.filterwarnings("error")
def test_align_drops_points_whose_timestamps_are_not_finite():
    class Series:
        timestamps = np.array([0.0, np.nan, np.inf, 1e300, 120.0])
        values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])

    grid = 60.0 * np.arange(3)
    np.testing.assert_array_equal(align([Series()], grid, 60.0), [[1.0, np.nan, 5.0]])


def test_a_series_of_only_huge_constant_values_is_still_constant():
    result = detect_batch(DetectionRule("r"), T, np.full((1, T.size), 1e300), ["s"])
    assert isinstance(result.insufficient["s"], InsufficientData)
    assert "constant" in result.insufficient["s"].reason
