import numpy as np

from detectors import DetectionRule, StreamingDetector, detect_series

RULE = DetectionRule("n", method="novelty", threshold=2.9)


def _stream(values, rule=RULE):
    det = StreamingDetector(rule)
    return np.array([det.update(60.0 * i, v) for i, v in enumerate(values)])


def test_a_new_extreme_after_a_long_history_scores_high(noise):
    x = noise.copy()
    x[900] = noise.max() + 20.0
    scores = _stream(x, DetectionRule("n", method="novelty", threshold=2.9, window_size=5))
    assert scores[900] >= 0.5
    assert scores[900] > scores[200:900].max()


def test_one_anomaly_is_reported_once_then_quiet(noise):
    x = noise.copy()
    x[700:] += 50.0
    scores = _stream(x)
    assert scores[700] >= 0.5
    assert (scores[701 : 700 + 2 * RULE.window_size + 1] == 0).all()


def test_novelty_never_looks_ahead(noise):
    a = noise.copy()
    b = noise.copy()
    b[600:] *= 3.0
    np.testing.assert_array_equal(_stream(a)[:600], _stream(b)[:600])


def test_nan_points_are_skipped_not_learned(noise):
    x = noise[:300].copy()
    x[100:110] = np.nan
    scores = _stream(x)
    assert (scores[100:110] == 0).all() and np.isfinite(scores).all()


def test_batch_novelty_flags_the_same_point(grid, noise):
    x = noise.copy()
    x[900] = noise.max() + 20.0
    found = detect_series(DetectionRule("n", method="novelty", threshold=2.9, window_size=5), grid, x, "x")
    assert isinstance(found, list)
    assert any(d.timestamp == grid[900] and d.direction == "up" for d in found)
