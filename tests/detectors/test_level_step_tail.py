"""The default detector (level_step_tail): level-step evidence ranked against the series' own past."""

import numpy as np
import pytest

from bench.ops_data import ar1, make_series
from detectors import DEFAULT_RULE, DetectionRule, StreamingDetector, detect_batch
from detectors.level_step import level_step_parts
from detectors.level_step_tail import (
    TAIL_BASE,
    LevelStepTailScorer,
    _TailScorer,
    calm_step,
    counts_so_far,
    earlier_at_least,
    level_step_tail_points,
    smooth,
    tail_features,
    tail_surprise,
)


def _stream(values, rule=DEFAULT_RULE):
    det = StreamingDetector(rule)
    return np.array([det.update(60.0 * i, v) for i, v in enumerate(values)])


def _batch(values, rule=DEFAULT_RULE, day_points=1440):  # _stream's one-minute steps: 1,440 points a day
    threshold = np.full((1, values.size), rule.threshold)
    return level_step_tail_points(values[None, :], rule, threshold, day_points=day_points).score[0]


def _daily(days=5, seed=5, noise=2.0, amplitude=30.0):
    t = np.arange(days * 1440)
    cycle = amplitude * np.sin(2 * np.pi * t / 1440)
    return 100 + cycle + np.random.default_rng(seed).normal(0, noise, t.size)


def _noise(n=3000, seed=3):
    return np.random.default_rng(seed).normal(100.0, 2.0, size=n)


@pytest.mark.parametrize("direction", ["both", "up", "down"])
def test_batch_equals_streaming_on_a_heavy_tailed_series_with_gaps(direction):
    rng = np.random.default_rng(7)
    n = 4000
    x = 50 + 5 * np.sin(np.arange(n) / 150) + rng.standard_t(3, n)
    x[rng.integers(0, n, 40)] = np.nan
    x[:37] = np.nan  # a series that starts with missed scrapes
    x[2500:2510] += 30
    rule = DetectionRule("d", method="level_step_tail", direction=direction)
    assert np.allclose(np.nan_to_num(_batch(x, rule)), _stream(x, rule), rtol=0, atol=1e-12)


@pytest.mark.parametrize("direction", ["both", "up", "down"])
def test_batch_equals_streaming_with_the_seasonal_residual_on_a_daily_series_with_gaps(direction):
    rng = np.random.default_rng(8)
    x = _daily(days=4, seed=9, noise=0.5, amplitude=100.0) + 0.5 * rng.standard_t(3, 4 * 1440)
    x[rng.integers(0, x.size, 60)] = np.nan
    x[3000:3030] = np.nan  # a missed half hour, inside the reference of the same time a day later
    x[:45] = np.nan
    x[5000:5100] -= 25
    rule = DetectionRule("d", method="level_step_tail", direction=direction)
    assert seasonal_residual_in_use(x)
    assert np.allclose(np.nan_to_num(_batch(x, rule)), _stream(x, rule), rtol=0, atol=1e-12)


def _bursty_counts(seed=12):
    """Poisson counts (mean 20) with a one-point burst of +25 to +44 every 97 points, as tweet volumes."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(20, 4000).astype(float)
    bursts = np.arange(300, 3600, 97)
    x[bursts] += rng.integers(25, 45, bursts.size)
    return x


@pytest.mark.parametrize("direction", ["both", "up", "down"])
def test_batch_equals_streaming_on_a_bursty_count_series_with_gaps(direction):
    x = _bursty_counts()
    x[np.random.default_rng(13).integers(0, x.size, 50)] = np.nan
    x[3000:] += 30
    rule = DetectionRule("d", method="level_step_tail", direction=direction)
    assert np.allclose(np.nan_to_num(_batch(x, rule)), _stream(x, rule), rtol=0, atol=1e-12)


def test_the_step_feature_counts_a_step_once_it_has_held_one_point():
    x = _noise(n=2000, seed=6)
    x[1000] += 20.0  # a one-point burst: reverts at once
    x[1500:] += 20.0  # a level shift: holds
    held = tail_features(x[None, :], DEFAULT_RULE)[0][1][0]
    ordinary = TAIL_BASE  # below it a feature is never ranked
    assert held[1000] < ordinary and held[1001] < ordinary
    assert held[1500] < ordinary  # arrived, not yet held
    assert held[1501] > 5


def _wandering(n=4000, seed=21, phi=0.99):
    """A smooth series that wanders (AR(1), innovation sd 1, phi 0.99) around 500: its last value predicts
    it far better than its last hour's median does."""
    return 500.0 + ar1(np.random.default_rng(seed), phi, 1.0, n)


def smooth_in_use(x):
    """The series counts as smooth (`level_step_tail.smooth`) at 90 % of its points past 1,500."""
    parts = level_step_parts(x[None, :], DEFAULT_RULE)
    return smooth(parts.step_scale, parts.deviation_scale)[0, 1500:].mean() > 0.9


@pytest.mark.parametrize("direction", ["both", "up", "down"])
def test_batch_equals_streaming_on_a_wandering_series_with_gaps_jumps_and_spikes(direction):
    x = _wandering()
    rng = np.random.default_rng(22)
    x[rng.integers(0, x.size, 40)] = np.nan
    x[:30] = np.nan
    x[1800:1812] = np.nan  # a missed stretch longer than the recent level's window
    x[2500:2502] += 15.0
    x[3200:] -= 12.0
    rule = DetectionRule("d", method="level_step_tail", direction=direction)
    assert smooth_in_use(x)
    assert np.allclose(np.nan_to_num(_batch(x, rule)), _stream(x, rule), rtol=0, atol=1e-12)


def _jump_back_across_the_hours_median():
    """A wandering series that falls fast for 25 points, then jumps back up by 12 innovation sd at 3000,
    landing near the median of its last hour: from that median the jump is a return, from its last
    value it is a jump of 12 sd."""
    x = _wandering(seed=23)
    x[2975:3000] -= np.linspace(0.6, 15.0, 25)
    x[3000] = x[2999] + 12.0
    x[3001:] += x[3000] - x[3001] + 0.2
    return x


def test_in_a_smooth_series_a_sudden_step_counts_at_its_own_point():
    x = _wandering(seed=24)
    x[3000:] += 10.0  # a level step of 10 innovation sd, small beside the series' hourly wander
    scores = _stream(x)
    assert scores[3000] >= 0.5  # at once: no point late
    assert scores[3000] > scores[2000:3000].max()


def test_in_a_smooth_series_a_jump_back_across_the_hours_median_still_alarms():
    x = _jump_back_across_the_hours_median()
    level_from_median = np.median(x[2940:3000])
    assert abs(x[3000] - level_from_median) < 12.0  # nearer the hour's median than before it
    scores = _stream(x)
    assert scores[3000] >= 0.5
    assert scores[3000] > scores[2000:3000].max()


def test_in_a_smooth_series_the_return_from_a_two_point_spike_is_seldom_news():
    spikes = returns = 0
    for seed in range(20):
        x = _wandering(seed=100 + seed)
        x[3000:3002] += 15.0
        scores = _stream(x)
        spikes += scores[3000] >= 0.5
        returns += max(scores[3002], scores[3003]) >= 0.5
    assert spikes == 20
    # back near the recent level: a return, not a jump (2 of 20 here, where the series drifted meanwhile
    # and the return lands beyond its recent median; the raw step would alarm at every return)
    assert returns <= 3


def _drop_while_climbing(seed: int, drop: float = 4.5) -> np.ndarray:
    """A daily cycle of 100 around 500 and an AR(0.9) wander (innovation sd 0.5), its steepest climb (0.44
    a point) at 3000, where the series drops by `drop` and goes on climbing: it lands about 1 from the
    median of its last 20 values, which lags the climb."""
    t = np.arange(4000)
    x = 500 + 100 * np.sin(2 * np.pi * (t - 3000) / 1440) + ar1(np.random.default_rng(seed), 0.9, 0.5, t.size)
    x[3000:] -= drop
    return x


def test_in_a_smooth_series_a_drop_while_it_climbs_is_a_step():
    alarms = tops = 0
    for seed in range(20):
        x = _drop_while_climbing(500 + seed)
        scores = _stream(x)
        alarms += scores[3000] >= 0.5
        tops += scores[3000] > np.nanmax(scores[1560:3000])
    # before: 11 and 6 of 20 (counted only as far as it led away from the lagging median)
    assert alarms >= 18 and tops >= 15


def test_batch_equals_streaming_on_drops_while_climbing_with_gaps():
    x = _drop_while_climbing(520)
    x[np.random.default_rng(9).integers(100, x.size, 30)] = np.nan
    x[2997] = np.nan  # a missed scrape among the three points a calm step is measured from
    assert np.allclose(np.nan_to_num(_batch(x)), _stream(x), rtol=0, atol=1e-12)


def test_a_calm_step_is_measured_from_the_last_three_points_when_they_were_calm():
    values = np.array([[10.0, 10.5, 11.0, 11.5, 7.0, 7.5, 20.0, 20.0, 20.0, 8.0, np.nan, 12.0, 11.0]])
    deviation = np.array([[0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 3.0, 3.0, 3.0, 0.5, np.nan, 0.5, 0.5]])
    out = calm_step(values, deviation, np.full(values.shape, 0.5))[0]

    assert list(out[:3]) == [0.0, 0.0, 0.0]  # fewer than three points before
    assert out[4] == pytest.approx((10.5 - 7.0) / 0.5)  # a drop of 4.5, 3.5 from the nearest of the three
    assert out[6] == pytest.approx((20.0 - 11.5) / 0.5)  # from calm points: a step of 8.5 at its nearest
    assert out[9] == 0.0  # the return from an excursion: its last points were not calm
    assert out[11] == 0.0  # the first point after a missed scrape
    assert out[12] == 0.0  # a missed scrape among the last three: its deviation is unknown


def test_in_a_smooth_series_the_first_points_after_missed_scrapes_alarm_no_more_than_elsewhere():
    after_gap = elsewhere = 0
    for seed in range(60):
        x = _wandering(seed=300 + seed) + 20 * np.sin(2 * np.pi * np.arange(4000) / 1440)
        x[3000:3005] = np.nan  # five missed scrapes: the series moved for six steps, not one
        scores = _batch(x)
        after_gap += np.nanmax(scores[3005:3010]) >= 0.5
        elsewhere += np.nanmax(scores[2000:2005]) >= 0.5
    assert after_gap <= elsewhere + 2  # 1 and 0 (a step across the gap alarmed after 7 of the 60)


def test_on_a_bursty_count_series_a_held_step_alarms_and_a_burst_of_the_same_size_does_not():
    x = _bursty_counts()
    x[3650] += 30
    x[3700:] += 30
    scores = _stream(x)
    assert scores[3650] < 0.5
    assert scores[3701] >= 0.5  # one point after it arrived: no look-ahead


def _daily_counts(seed=21):
    """Four days of Poisson counts whose mean swings between 5 at night and 195 at noon."""
    t = np.arange(4 * 1440)
    return np.random.default_rng(seed).poisson(100 + 95 * np.sin(2 * np.pi * t / 1440)).astype(float)


def test_a_count_burst_alarms_at_night_where_poisson_noise_is_small_and_not_at_the_peak():
    x = _daily_counts()
    night, peak = 3 * 1440 + 1080, 3 * 1440 + 360  # mean 5 and 195: +30 is 13 sd and 2 sd
    x[night] += 30
    x[peak] += 30
    scores = _stream(x)
    assert scores[night] >= 0.5
    assert scores[peak] < 0.5


@pytest.mark.parametrize("direction", ["both", "up", "down"])
def test_batch_equals_streaming_when_a_count_series_shows_a_fraction(direction):
    x = _daily_counts(seed=22)
    x[np.random.default_rng(23).integers(0, x.size, 50)] = np.nan
    x[3000] = 10.5  # from here on the series is no count: its own units again
    rule = DetectionRule("d", method="level_step_tail", direction=direction)
    assert np.allclose(np.nan_to_num(_batch(x, rule)), _stream(x, rule), rtol=0, atol=1e-12)


def seasonal_residual_in_use(x):
    """Whether the daily pattern is evident somewhere: the deviation feature changes with the day known."""
    with_day = tail_features(x[None, :], DEFAULT_RULE, day_points=1440)[0][0][0]
    without = tail_features(x[None, :], DEFAULT_RULE, day_points=0)[0][0][0]
    return bool(np.any(np.isfinite(with_day) & (with_day != without)))


def test_earlier_at_least_counts_earlier_points_of_the_same_row_in_an_equal_or_higher_bin():
    bins = np.random.default_rng(2).integers(-1, 6, size=(4, 300))
    brute = np.zeros(bins.shape)
    for r in range(4):
        for i in range(300):
            if bins[r, i] >= 0:
                brute[r, i] = np.sum(bins[r, :i] >= bins[r, i])
    assert np.array_equal(earlier_at_least(bins), brute)


def test_within_an_excursion_a_feature_is_news_only_where_it_reaches_a_higher_bin():
    # the feature over 12 points of one series; the value at 7 is a missed scrape (NaN feature, not counted)
    feature = np.array([[0.0, 5.0, 5.0, 5.1, 6.0, 3.0, 6.0, np.nan, 6.7, 0.0, 5.0, 5.0]])
    finite_values = np.isfinite(feature[0]) | (np.arange(12) != 7)
    finite_values[7] = False
    earlier = (np.cumsum(finite_values) - finite_values)[None, :].astype(float)
    _, cols, s = tail_surprise(feature, earlier)
    news = set(cols[s > 0].tolist())
    # 1 opens an excursion, 4 goes beyond it, 8 beyond 6 across the gap (which does not end it), 10 opens
    # a new excursion after 9 left the tail; 2, 3 (same bin), 5 (lower), 6 (back to 4's bin) and 11 are not
    assert news == {1, 4, 8, 10}


def test_batch_equals_streaming_on_noisy_plateaus_with_gaps_inside_them():
    rng = np.random.default_rng(17)
    x = rng.normal(100.0, 2.0, 5000)
    x[2000:2300] += 12 + rng.normal(0, 4, 300)  # a shifted stretch whose features wobble within their bins
    x[3000:3012] += np.array([30.0, -30.0] * 6)  # a burst: its mean |step| holds for a window afterwards
    x[rng.integers(2000, 2300, 15)] = np.nan
    x[3020:3025] = np.nan
    assert np.allclose(np.nan_to_num(_batch(x)), _stream(x), rtol=0, atol=1e-12)


def test_batch_equals_streaming_where_an_excursion_meets_a_day_old_gap():
    # two missed hours on day 2 leave day 3's seasonal reference unknown there: the deviation is NaN at
    # values that are present, which ends an excursion in batch and streaming alike
    rng = np.random.default_rng(23)
    x = _daily(days=4, seed=19, noise=0.5, amplitude=100.0)
    x[3000:3120] = np.nan  # from 4470 to 4544 the hour around the same time yesterday is missing
    x[4440:4620] -= 15 + rng.normal(0, 3, 180)
    assert seasonal_residual_in_use(x)
    assert np.allclose(np.nan_to_num(_batch(x)), _stream(x), rtol=0, atol=1e-12)


def test_a_second_spike_450_points_after_the_first_alarms_too():
    x = _noise()
    x[1500] += 34.0  # +17 sd
    x[1950] += 34.0
    scores = _stream(x)
    assert scores[1500] >= 0.5
    assert scores[1950] >= 0.5
    assert scores[1950] > scores[1501:1950].max()


def test_a_deviation_the_series_shows_often_scores_lower_than_on_a_quiet_series():
    quiet = _noise(seed=11)
    spiky = quiet.copy()
    spiky[np.arange(200, 2800, 40)] += 16.0  # the series' own habit: an 8 sd blip every 40 points
    for x in (quiet, spiky):
        x[2900] += 16.0
    assert _stream(quiet)[2900] >= 0.5
    assert _stream(spiky)[2900] < 0.5


def test_a_slow_ramp_alarms_where_no_single_step_is_large():
    x = _noise(seed=4)
    per_step = 3 * np.median(np.abs(np.diff(x[:1000])))
    x[2000:2060] += np.minimum(np.arange(1, 61) * per_step, 12.0)  # +6 sd
    scores = _stream(x)
    assert scores[2000:2060].max() >= 0.5
    assert scores[2000:2060].max() > scores[1000:2000].max()


@pytest.mark.parametrize("method", ["level_step_tail", "level_step"])
def test_the_highest_score_of_a_daily_series_is_its_one_off_spike(method):
    t = np.arange(4 * 1440)
    x = 100 + 30 * np.sin(2 * np.pi * t / 1440) + np.random.default_rng(5).normal(0, 2, t.size)
    x[4000] += 20.0
    scores = _stream(x, DetectionRule("daily", method=method))
    assert int(np.argmax(scores[1440:])) + 1440 == 4000


def test_a_daily_series_that_stalls_where_it_usually_rises_alarms_only_against_yesterday():
    x = _daily(days=4, seed=4, noise=1.0, amplitude=50.0)
    stall = slice(3 * 1440 + 200, 3 * 1440 + 380)  # three hours held flat on the daily rise
    x[stall] = x[stall.start]
    assert _stream(x)[stall].max() >= 0.5
    without_timestamps = LevelStepTailScorer(DEFAULT_RULE)
    scores = [without_timestamps.update(v)[0] for v in x[: stall.stop].tolist()]
    assert max(scores[stall]) < 0.5


def test_the_scheduled_batch_takes_the_points_per_day_from_its_grid_as_streaming_does_from_timestamps():
    x = _daily(days=4, seed=4, noise=1.0, amplitude=50.0)
    stall = slice(3 * 1440 + 200, 3 * 1440 + 380)
    x[stall] = x[stall.start]
    x = x[: stall.start + 39]  # the cycle's latest point is inside the stall
    ts = 1_700_000_000.0 + 60.0 * np.arange(x.size)
    rule = DetectionRule("d", seasonal=False)  # no hour-of-day profile: the same values in both modes
    latest = detect_batch(rule, ts, x[None, :], ["s"]).scores[0]
    det = StreamingDetector(rule)
    streamed = [det.update(t, v) for t, v in zip(ts.tolist(), x.tolist(), strict=True)]
    assert latest >= 0.5
    assert latest == pytest.approx(streamed[-1], abs=1e-12)


def _stream_points(values, rule=DEFAULT_RULE):
    """Streaming (score, z) of every point, NaN at gaps, with one-minute timestamps."""
    scorer = LevelStepTailScorer(rule)
    return np.array([scorer.update(v, 60.0 * i) for i, v in enumerate(values.tolist())]).T


def _batch_points(values, rule=DEFAULT_RULE):
    threshold = np.full((1, values.size), rule.threshold)
    points = level_step_tail_points(values[None, :], rule, threshold, day_points=1440)
    return points.score[0], points.z[0]


def _poisson_errors(seed):
    """The operations generator's Poisson `errors` series (bursts, stale repeats) with missed scrapes."""
    x = np.round(make_series(2, seed=seed, n=6 * 1440).values)
    x[np.random.default_rng(seed).integers(0, x.size, 40)] = np.nan
    x[2000:2030] = np.nan
    return x


@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_scores_and_z_equal_batch_on_the_generators_poisson_error_counts(seed):
    x = _poisson_errors(seed)
    assert counts_so_far(x[None, :])[0, -1]  # the stabilised path scored every point
    assert np.isnan(x).any()
    score, z = _stream_points(x)
    batch_score, batch_z = _batch_points(x)
    assert np.array_equal(np.isnan(score), np.isnan(batch_score))
    assert np.allclose(score, batch_score, rtol=0, atol=1e-12, equal_nan=True)
    assert np.allclose(z, batch_z, rtol=0, atol=1e-12, equal_nan=True)
    assert np.nanmax(score) >= 0.5  # its bursts alarm: the comparison covers tail points too


def test_after_a_long_count_stretch_a_fraction_scores_as_batch_does_in_the_series_units():
    x = _poisson_errors(2)
    x[5000] += 0.5  # the plain scorer only learned up to here
    score, z = _stream_points(x)
    batch_score, batch_z = _batch_points(x)
    assert np.allclose(score[5000:], batch_score[5000:], rtol=0, atol=1e-12, equal_nan=True)
    assert np.allclose(z, batch_z, rtol=0, atol=1e-12, equal_nan=True)


def test_a_scorer_that_only_learned_then_scores_exactly_as_one_that_scored_throughout():
    x = _poisson_errors(3)
    learner, scorer = _TailScorer(DEFAULT_RULE), _TailScorer(DEFAULT_RULE)
    before = [(learner.learn(v, 1440), scorer.update(v, 1440)[1]) for v in x[:5000].tolist()]
    learnt_z, scored_z = np.array(before).T
    assert np.array_equal(learnt_z, scored_z, equal_nan=True)  # the same z
    after = [(learner.update(v, 1440), scorer.update(v, 1440)) for v in x[5000:].tolist()]
    learnt, scored = np.array(after).transpose(1, 0, 2)
    assert learnt.tobytes() == scored.tobytes()  # bit for bit, NaN for NaN
    assert np.nanmax(scored[:, 0]) >= 0.5


def _plateaus(seed, size=2.0, gaps=False):
    """Quiet noise with a 20-point plateau of `size` sd at 2000: the recent mean (of the last 20 values)
    climbs to a new extreme at every point of it."""
    rng = np.random.default_rng(seed)
    x = 100 + rng.standard_normal(3000)
    x[2000:2020] += size
    if gaps:
        x[[2005, 2011, 2012]] = np.nan  # missed scrapes inside the climb do not end its run
    return x


def test_a_recent_mean_that_keeps_setting_records_is_news_once_not_at_every_point():
    # with the recent mean ranked afresh at every point, these plateaus alarmed at 7-17 of their 40 points
    alarms = [int((_batch(_plateaus(seed), day_points=0)[2000:2040] >= 0.5).sum()) for seed in range(10)]
    assert all(a >= 1 for a in alarms)
    assert sum(alarms) <= 30  # 105 before


@pytest.mark.parametrize("direction", ["both", "up", "down"])
def test_batch_equals_streaming_where_the_recent_mean_climbs_across_missed_scrapes(direction):
    rule = DetectionRule("d", method="level_step_tail", direction=direction)
    for seed in range(3):
        x = _plateaus(seed, size=2.0 if direction != "down" else -2.0, gaps=True)
        assert np.allclose(np.nan_to_num(_batch(x, rule)), _stream(x, rule), rtol=0, atol=1e-12)
