import numpy as np
import pytest

from detectors import DetectionRule, StreamingDetector, detect_batch

RULE = DetectionRule("r", window_size=20)


def _scores(rule, values):
    det = StreamingDetector(rule)
    return np.array([det.update(60.0 * i, v) for i, v in enumerate(values)])


@pytest.mark.parametrize(
    ("method", "n"), [("zscore", 150), ("iqr", 150), ("ensemble", 150), ("isolation_forest", 50)]
)
def test_streaming_score_does_not_depend_on_future_points(method, n, noise):
    rule = DetectionRule("r", method=method, window_size=n // 4)
    a = noise[:n].copy()
    b = a.copy()
    b[2 * n // 3 :] += 50.0
    sa, sb = _scores(rule, a), _scores(rule, b)
    np.testing.assert_array_equal(sa[: 2 * n // 3], sb[: 2 * n // 3])
    assert not np.array_equal(sa, sb)


def test_streaming_scores_a_spike_high(noise):
    x = noise[:300].copy()  # the default ranks a point against its past: a record alarms after ~200 points
    x[250] += 40.0
    scores = _scores(RULE, x)
    assert scores[250] >= 0.5
    assert int(np.argmax(scores)) == 250


def test_streaming_zscore_matches_batch_zscore_on_the_newest_point(noise):
    rule = DetectionRule("r", method="zscore", window_size=20)
    x = noise[:80]
    streamed = _scores(rule, x)
    batch = detect_batch(rule, 60.0 * np.arange(80), x[None, :], ["x"]).scores[0]
    assert streamed[-1] == pytest.approx(batch, abs=1e-9)
