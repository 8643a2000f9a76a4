import itertools

import numpy as np
import pytest

from detectors import DetectionRule, StreamingDetector, detect_batch
from detectors.forest_stream import StreamingForest
from detectors.isolation_forest import FIT_SAMPLES

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


def _replay_series(n: int = 900) -> np.ndarray:
    rng = np.random.default_rng(31)
    x = 100 + 5 * np.sin(np.arange(n) / 40) + rng.standard_t(3, n)
    x[rng.integers(0, n, 25)] = np.nan  # missed scrapes
    x[300:420] = 100.0  # a flat stretch longer than the buffer
    x[600:606] += 40.0
    return x


@pytest.mark.parametrize(
    "method",
    ["zscore", "robust_zscore", "iqr", "changepoint", "ensemble", "isolation_forest", "level_step_tail"],
)
def test_replay_scores_a_recorded_series_as_update_does_point_by_point(method):
    x = _replay_series()
    t = 60.0 * np.arange(x.size)
    rule = DetectionRule("r", method=method)
    one_by_one = StreamingDetector(rule)
    expected = np.array([one_by_one.update(ts, v) for ts, v in zip(t[:800], x[:800], strict=True)])
    replayed = StreamingDetector(rule)
    got = replayed.replay(t[:800], x[:800], block=97)  # several blocks, the last one short
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got[600] >= 0.5  # the spike is found either way
    # and the detector carries on from where the updates would have left it
    after = [replayed.update(ts, v) for ts, v in zip(t[800:], x[800:], strict=True)]
    more = [one_by_one.update(ts, v) for ts, v in zip(t[800:], x[800:], strict=True)]
    np.testing.assert_allclose(after, more, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["changepoint", "ensemble"])
def test_replay_of_a_wandering_series_scores_as_update_does(method):
    rng = np.random.default_rng(8)
    x = 100 + np.cumsum(rng.normal(0, 0.3, 900)) + rng.normal(0, 1, 900)  # a level that wanders
    x[[150, 700]] = np.nan  # missed scrapes; the buffers between them are measured by the running medians
    x[500:] += 20.0  # and a step that stands out of it
    t = 60.0 * np.arange(x.size)
    rule = DetectionRule("r", method=method)
    one_by_one = StreamingDetector(rule)
    expected = np.array([one_by_one.update(ts, v) for ts, v in zip(t, x, strict=True)])
    got = StreamingDetector(rule).replay(t, x, block=97)  # the buffers' wander measured at once
    np.testing.assert_array_equal(got, expected)
    assert got[500:580].max() >= 0.5


def test_streaming_forest_refits_as_its_history_grows_and_flags_a_spike(monkeypatch):
    rng = np.random.default_rng(5)
    x = 50 + rng.normal(0, 1, 12_000)
    x[10_500] += 25.0
    rule = DetectionRule("r", method="isolation_forest", window_size=20)
    det = StreamingDetector(rule)
    fits = []
    with_fit = StreamingForest.observe

    def counting(self, value):
        before = self._forest
        with_fit(self, value)
        if self._forest is not before:
            fits.append(self._seen)

    monkeypatch.setattr(StreamingForest, "observe", counting)
    scores = det.replay(60.0 * np.arange(x.size), x)
    # first fit once min_samples points came before, then once as many new points came as it learnt
    # from: the history doubles while it is under FIT_SAMPLES points, then a fit every FIT_SAMPLES
    assert fits[:4] == [11, 21, 41, 81]
    assert all(b - a == min(a - 1, FIT_SAMPLES) for a, b in itertools.pairwise(fits))
    assert fits[-1] + min(fits[-1] - 1, FIT_SAMPLES) > x.size
    # flagged, and in the top 1 % (a forest only splits within the range it learnt, so a point beyond it
    # scores like the most extreme points it learnt: noise extremes in 5 features come close)
    assert scores[10_500] >= 0.5
    assert scores[10_500] >= np.quantile(scores, 0.99)


def test_streaming_forest_rejects_values_that_are_due_to_refit():
    forest = StreamingForest(DetectionRule("r", method="isolation_forest"))
    with pytest.raises(ValueError, match="refit is due"):
        forest.extend([1.0])


@pytest.mark.parametrize("method", ["zscore", "robust_zscore", "iqr"])
@pytest.mark.parametrize("window", [60, 22])
def test_a_local_method_scores_the_newest_point_from_the_buffers_last_window_and_hop_alone(method, window):
    from detectors.batch import score_points

    rng = np.random.default_rng(window)
    buffers = 100 + rng.standard_t(3, (300, 3 * window))
    buffers[rng.random(buffers.shape) < 0.05] = np.nan
    buffers[:, -1] = 100 + rng.standard_t(3, 300)  # a value at the newest point
    rule = DetectionRule("r", method=method, window_size=window)
    whole = np.nan_to_num(score_points(buffers, rule)[0].score[:, -1])
    np.testing.assert_allclose(StreamingDetector(rule)._gated_scores(buffers), whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["changepoint", "ensemble"])
def test_changepoint_and_ensemble_score_the_newest_point_from_the_change_points_that_reach_it(method):
    from detectors.batch import score_points
    from detectors.streaming import newest_scores

    rng = np.random.default_rng(7)
    rule = DetectionRule("r", method=method)
    n = 3 * rule.window_size
    buffers = 100 + rng.normal(0, 1, (400, n))
    buffers[:200] += np.cumsum(rng.normal(0, 1, (200, n)), axis=1)  # wandering rows: Pelt finds many
    at = rng.integers(n - rule.window_size - 10, n - 2, 400)  # steps around the oldest column that counts
    sign = rng.choice([-8.0, 8.0], 400)
    buffers += np.where(np.arange(n)[None, :] >= at[:, None], sign[:, None], 0.0)
    buffers[:, :-1][rng.random((400, n - 1)) < 0.03] = np.nan  # missed scrapes, a value last
    whole = score_points(buffers, rule)[0].score[:, -1]
    got = newest_scores(buffers, rule)
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-12, equal_nan=True)
    assert (np.nan_to_num(whole) >= 0.5).sum() >= 60  # steps are found, so the test can tell


def _gappy_flat_series(n: int, seed: int) -> np.ndarray:
    """Noise with missed scrapes, a long gap, a flat stretch longer than a buffer, signed zeros and a
    stretch with just a few values."""
    rng = np.random.default_rng(seed)
    x = 50 + 5 * np.sin(np.arange(n) / 30) + rng.standard_t(3, n)
    x[rng.random(n) < 0.05] = np.nan
    x[100:160] = np.nan
    x[250:330] = 50.0
    x[400:440] = np.where(np.arange(40) % 2, 0.0, -0.0)  # all equal, though not bit for bit
    x[500:540] = np.nan
    x[500:540:4] = 7.0
    x[541] = 8.0
    return x


def test_scorable_buffers_are_the_buffers_update_scores():
    from detectors.forest_stream import scorable_buffers
    from detectors.streaming import _gated

    x = _gappy_flat_series(700, 3)
    for size, min_samples in ((30, 10), (9, 3), (60, 10)):
        rule = DetectionRule("r", window_size=size // 3, min_samples=min_samples)
        rows = np.lib.stride_tricks.sliding_window_view(np.r_[np.full(size - 1, np.nan), x], size)
        tested = _gated(rows, rule, lambda block, _: np.ones(block.shape[0])) == 1.0
        np.testing.assert_array_equal(scorable_buffers(x, size, min_samples), tested)
    assert not scorable_buffers(np.full(50, np.nan), 30, 10).any()


@pytest.mark.parametrize("seed", [4, 5])
def test_forest_replay_scores_as_update_does_bit_for_bit(seed):
    x = _gappy_flat_series(700, seed)  # refits at 11, 21, 41, ..., 641 points
    t = 60.0 * np.arange(x.size)
    rule = DetectionRule("r", method="isolation_forest", window_size=10)
    one_by_one = StreamingDetector(rule)
    expected = np.array([one_by_one.update(ts, v) for ts, v in zip(t, x, strict=True)])
    np.testing.assert_array_equal(StreamingDetector(rule).replay(t, x, block=64), expected)
    assert (expected > 0).mean() > 0.5
