"""`bench.ops_scoring` on hand-made cases whose figures can be worked out by hand."""

import numpy as np
import pytest

from bench.ops_data import (
    make_kpi_corpus,
    make_kpi_series,
    make_series,
    make_smooth_kpi_corpus,
    make_smooth_kpi_series,
)
from bench.ops_scoring import (
    best_f1_point_adjusted,
    composite_f1,
    score_series,
    segments,
    summarise,
    top_on_anomaly,
)

LABELS = np.array([0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0], dtype=bool)


def test_segments_are_half_open_runs():
    assert segments(LABELS) == [(2, 6), (10, 12)]


def test_one_early_point_finds_the_whole_segment():
    scores = np.zeros(LABELS.size)
    scores[3] = scores[10] = 1.0
    assert best_f1_point_adjusted(scores, LABELS) == 1.0


def test_a_segment_found_only_after_the_delay_counts_as_missed():
    labels = np.zeros(200, dtype=bool)
    labels[2:15] = True
    scores = np.zeros(200)
    scores[2 + 8] = 1.0  # the 9th point of the segment: past a 7-point delay
    # only flagging every point (threshold 0) finds it: F1 = 2 x 13 / (2 x 13 + 187)
    assert best_f1_point_adjusted(scores, labels, delay=7) == pytest.approx(26 / 213)
    assert best_f1_point_adjusted(scores, labels, delay=8) == 1.0


def test_false_positives_cost_precision_at_the_best_threshold():
    scores = np.zeros(LABELS.size)
    scores[2] = 0.9  # finds the 4-point segment
    scores[0] = 0.8  # a false positive above the second segment's score
    scores[10] = 0.7
    # best: threshold 0.9 -> tp 4, fp 0, fn 2 -> F1 8/10; threshold 0.7 -> tp 6, fp 1 -> 12/13
    assert best_f1_point_adjusted(scores, LABELS) == pytest.approx(12 / 13)


def test_ignored_points_count_neither_way():
    scores = np.zeros(LABELS.size)
    scores[2] = scores[10] = 0.9
    scores[7] = 1.0
    ignore = np.zeros(LABELS.size, dtype=bool)
    ignore[7] = True
    assert best_f1_point_adjusted(scores, LABELS) == pytest.approx(12 / 13)
    assert best_f1_point_adjusted(scores, LABELS, ignore) == 1.0


def test_composite_f1_is_point_precision_against_event_recall():
    scores = np.zeros(LABELS.size)
    scores[2] = scores[10] = 1.0  # both events found, 2 of 2 flagged points inside
    assert composite_f1(scores, LABELS) == 1.0
    scores[0] = 1.0  # one false point: precision 2/3, recall 1 -> 0.8
    assert composite_f1(scores, LABELS) == pytest.approx(0.8)


def test_the_top_score_must_land_on_a_labelled_point():
    scores = np.zeros(LABELS.size)
    scores[4] = 1.0
    assert top_on_anomaly(scores, LABELS)
    scores[8] = 2.0
    assert not top_on_anomaly(scores, LABELS)


def test_only_the_second_half_is_scored():
    labels = np.zeros(20, dtype=bool)
    labels[3] = labels[15] = True
    scores = np.zeros(20)
    scores[15] = 1.0
    scores[5] = 5.0  # a false alarm in the warm-up half does not count
    result = score_series(scores, labels)
    assert result.best_f1 == 1.0 and result.top_on_anomaly


def test_the_synthetic_corpus_is_seeded():
    a, b = make_series(3, seed=1), make_series(3, seed=1)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.labels.any() and a.labels[a.labels.size // 2 :].any()


def test_the_kpi_like_family_is_seeded_with_short_segments_in_both_halves():
    a, b = make_kpi_series(4, seed=2), make_kpi_series(4, seed=2)
    np.testing.assert_array_equal(a.values, b.values)
    corpus = make_kpi_corpus(10)
    lengths = [end - start for s in corpus for start, end in segments(s.labels)]
    assert 5 <= np.median(lengths) <= 20  # log-normal around 10 points, as in web-service KPI labels
    assert all(s.labels[: s.labels.size // 2].any() and s.labels[s.labels.size // 2 :].any() for s in corpus)


def test_the_smooth_kpi_family_ranks_the_baselines_as_the_held_out_kpis_do():
    from bench.ops import evaluate, step_magnitude, windowed_zscore

    a, b = make_smooth_kpi_series(5, seed=1), make_smooth_kpi_series(5, seed=1)
    np.testing.assert_array_equal(a.values, b.values)
    corpus = make_smooth_kpi_corpus(12)
    step = summarise(evaluate(step_magnitude, corpus, [None] * len(corpus)))
    zscore = summarise(evaluate(windowed_zscore, corpus, [None] * len(corpus)))
    # held out: one-step difference 0.845 (top on an anomaly in 96 % of series), windowed z-score 0.752 (90 %)
    assert step.best_f1 > zscore.best_f1 + 0.03
    assert step.top_share >= 0.9 and zscore.top_share >= 0.9


def test_the_smooth_kpi_family_labels_an_anomaly_until_the_series_is_back():
    series = make_smooth_kpi_series(0, seed=0)
    x, spans = series.values, segments(series.labels)
    assert len(spans) >= 8
    # the last labelled point of most segments is the step back: as large as any step inside the segment
    back = [
        abs(x[end - 1] - x[end - 2]) >= 0.5 * np.nanmax(np.abs(np.diff(x[start - 1 : end])))
        for start, end in spans
    ]
    assert np.mean(back) > 0.5


def test_the_ops_benchmark_prints_the_default_beside_both_baselines(capsys):
    from bench.ops import main

    main(["--series", "3", "--nab", ""])
    out = capsys.readouterr().out
    assert "synthetic (3 series" in out and "synthetic KPI-like (3 series" in out
    assert "synthetic smooth KPI-like (3 series" in out
    for name in ("alert_analyst (default)", "baseline: windowed z-score", "baseline: step magnitude"):
        assert name in out


def test_at_the_alarm_threshold_found_segments_and_false_alarm_episodes_are_counted():
    from bench.ops_scoring import alarms

    labels = np.zeros(40, dtype=bool)
    labels[10:15] = labels[30:32] = True
    scores = np.zeros(40)
    scores[12] = 0.7  # finds the first segment within the delay
    scores[31] = 0.4  # below the threshold: the second is missed
    scores[20:23] = 0.9  # one episode of three points
    scores[25] = 0.5  # a second one
    scores[38] = np.nan
    ignore = np.zeros(40, dtype=bool)
    ignore[25] = True
    assert alarms(scores, labels) == (1, 2, 2, 33)
    assert alarms(scores, labels, ignore) == (1, 2, 1, 32)
