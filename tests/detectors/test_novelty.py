import numpy as np
import pytest

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


def _spikes_after(history: int, gap: int) -> np.ndarray:
    """Noise, a spike after `history` points and a twice-as-large spike `gap` points later."""
    x = np.random.default_rng(11).normal(100.0, 2.0, size=history + gap + 50)
    x[history] += 50.0
    x[history + gap] += 100.0
    return x


def test_after_a_short_history_the_quiet_lasts_two_windows():
    # 550: the noise itself alarms at row 304 (a step record), whose quiet is long over by then
    quiet = 2 * RULE.window_size
    scores = _stream(_spikes_after(550, quiet + 10))
    assert scores[550] >= 0.5
    assert (scores[551 : 551 + quiet] == 0).all()
    assert scores[550 + quiet + 10] >= 0.5


def test_after_a_long_history_the_quiet_lasts_a_share_of_it():
    quiet = int(0.03 * 6000)  # 180 points, longer than two windows (120)
    hidden = _stream(_spikes_after(6000, 2 * RULE.window_size + 10))
    shown = _stream(_spikes_after(6000, quiet + 1))
    assert hidden[6000] >= 0.5 and shown[6000] >= 0.5
    assert (hidden[6001 : 6000 + quiet + 1] == 0).all()
    assert shown[6000 + quiet + 1] >= 0.5


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


def _daily_wave(days=12, step=300.0):
    per_day = int(86_400 / step)
    t = np.arange(days * per_day)
    values = 100.0 + 20.0 * np.sin(2 * np.pi * t / per_day)
    values += np.random.default_rng(3).normal(0.0, 1.0, size=t.size)
    return step * t, values, per_day


def test_a_day_that_loses_its_daily_shape_is_found_with_timestamps():
    times, values, per_day = _daily_wave()
    broken = values.copy()
    day = slice(9 * per_day, 9 * per_day + per_day // 2)  # the day's bump flattened: no step, no new level
    broken[day] = 100.0 + np.random.default_rng(4).normal(0.0, 1.0, size=broken[day].size)
    det = StreamingDetector(RULE)
    scores = np.array([det.update(t, v) for t, v in zip(times, broken, strict=True)])
    assert scores[day].max() >= 0.5
    assert scores[day].max() > scores[2 * per_day : 9 * per_day].max()


def test_a_value_a_hair_below_a_flat_floor_is_not_novel(noise):
    x = np.maximum(noise, 99.0)
    x[800] = 99.0 - 1e-6
    x[900] = 80.0
    scores = _stream(x)
    assert scores[800] < 0.5
    assert scores[900] >= 0.5


def test_scores_of_a_prefix_equal_the_full_run_on_that_prefix():
    times, values, _ = _daily_wave(days=4)
    full, prefix = StreamingDetector(RULE), StreamingDetector(RULE)
    a = [full.update(t, v) for t, v in zip(times, values, strict=True)]
    b = [prefix.update(t, v) for t, v in zip(times[:700], values[:700], strict=True)]
    assert a[:700] == b


def test_a_burst_of_moderate_spikes_is_found_behind_bigger_early_ones():
    x = np.random.default_rng(5).normal(100.0, 2.0, size=2100)
    x[[40, 240, 440, 640, 840]] += 200.0  # big early spikes: no later moderate spike is a record
    burst = np.arange(2000, 2060, 3)
    x[burst] += 15.0
    scores = _stream(x)
    assert scores[burst].max() < 0.5  # no single spike, step or 20-point mean is new
    assert scores[2000:2100].max() >= 0.5  # the run of unusual steps is


def _square_days(days: int, per_day: int = 288) -> tuple[np.ndarray, np.ndarray]:
    """A daily square wave (low 20, high 80) that rises in two steps (+40, +20) at a quarter of the day
    and falls in one at three quarters."""
    t = np.arange(days * per_day)
    phase = t % per_day
    x = np.where((phase >= per_day // 4) & (phase < 3 * per_day // 4), 80.0, 20.0)
    x[phase == per_day // 4] = 60.0
    x += np.random.default_rng(8).normal(0.0, 1.0, size=t.size)
    return 86_400.0 / per_day * t, x


# 1,440 a day: nine days are more than twice the steps the scorer keeps (PAST_STEPS), so the last day's
# comparison with yesterday runs on a history that has been trimmed
@pytest.mark.parametrize("per_day", [288, 1440])
def test_a_daily_step_that_comes_out_larger_is_not_novel_at_its_usual_time(per_day):
    times, x = _square_days(9, per_day)
    usual = 8 * per_day + per_day // 4  # today's rise comes in one step of 60 instead of 40 then 20
    x[usual] = 80.0 + (x[usual] - 60.0)
    det = StreamingDetector(RULE)
    scores = np.array([det.update(t, v) for t, v in zip(times, x, strict=True)])
    assert scores[usual] < 0.5


@pytest.mark.parametrize("per_day", [288, 1440])
def test_the_same_step_at_an_unusual_time_is_novel(per_day):
    times, x = _square_days(9, per_day)
    early = 8 * per_day + per_day // 8  # the day's rise, in one step of 60, three hours early
    rise = 8 * per_day + per_day // 4
    x[early : rise + 1] = 80.0 + np.random.default_rng(9).normal(0.0, 1.0, size=rise + 1 - early)
    det = StreamingDetector(RULE)
    scores = np.array([det.update(t, v) for t, v in zip(times, x, strict=True)])
    assert scores[early] >= 0.5


def test_without_the_quiet_period_a_repeat_right_after_an_alarm_scores_on_its_merit():
    from detectors.novelty import TailNoveltyScorer

    x = _spikes_after(1000, 20)
    quiet, open_ = TailNoveltyScorer(RULE), TailNoveltyScorer(RULE, quiet=False)
    hidden = [quiet.update(v) for v in x]
    shown = [open_.update(v) for v in x]
    assert hidden[1020] == 0.0  # inside the quiet period of an earlier alarm
    assert shown[1000] >= 0.5 and shown[1020] >= 0.5


def test_yesterdays_steps_are_still_found_after_the_history_is_trimmed():
    from detectors.novelty import DAILY_STEP_SPAN, PAST_STEPS, TailNoveltyScorer

    per_day, rng = 1440, np.random.default_rng(3)
    x = np.cumsum(rng.normal(0.0, 1.0, size=2 * PAST_STEPS + per_day))  # past the first trim
    scorer = TailNoveltyScorer(RULE)
    for i, v in enumerate(x):
        scorer.update(float(v), 60.0 * i)
    steps = np.abs(np.diff(x))
    span = round(DAILY_STEP_SPAN * per_day)
    yesterday = steps[steps.size - per_day - span : steps.size - per_day + span + 1].max()
    # a step 1.5 x the largest one near this time yesterday counts only by its excess
    assert scorer._daily_step(1.5 * yesterday, per_day) == pytest.approx(0.5 * yesterday)
