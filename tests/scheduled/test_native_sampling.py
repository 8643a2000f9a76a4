"""Each series of a rule is detected at its own sampling interval: on a 15-s grid, a 60-s series is judged
on the points where its samples first show, as a query at 60 s would show it; series sampled at every
step, and multivariate rules, see the whole grid as before."""

from __future__ import annotations

import numpy as np

from detectors import DetectionRule, detect_rules
from receiver.scheduled.native_sampling import detect_native, native_grid

STEP = 15.0
N = 4 * 1440  # a day of 15-s points


def _held(samples: np.ndarray, every: int, offset: int) -> np.ndarray:
    """`samples` on a grid of `every` points per sample, the first showing at column `offset`."""
    return np.r_[np.full(offset, np.nan), np.repeat(samples, every)][:N]


def _block() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Two 15-s series around a 60-s one whose samples first show at columns 2, 6, 10..."""
    rng = np.random.default_rng(8)
    rows = [rng.normal(50, 2, N), _held(rng.normal(50, 2, N // 4), 4, 2), rng.normal(50, 2, N)]
    return 1_767_225_600.0 + STEP * np.arange(N), np.array(rows), ["fast_a", "slow", "fast_b"]


def test_a_slow_series_is_detected_on_the_points_its_samples_first_show_at():
    ts, values, names = _block()
    rule = DetectionRule("r")

    [result] = detect_native([rule], ts, values, names)
    [alone] = detect_rules([rule], ts[2::4], values[1:2, 2::4], ["slow"])

    slow = [d for d in result.detections if d.series == "slow"]
    assert [(d.timestamp, d.z_score) for d in slow] == [(d.timestamp, d.z_score) for d in alone.detections]
    assert result.scores[1] == alone.scores[0]


def test_series_sampled_at_every_step_are_detected_as_before():
    ts, values, names = _block()
    rule = DetectionRule("r")

    [result] = detect_native([rule], ts, values, names)
    [before] = detect_rules([rule], ts, values[[0, 2]], ["fast_a", "fast_b"])

    fast = [d for d in result.detections if d.series != "slow"]
    assert [(d.series, d.timestamp, d.z_score) for d in fast] == [
        (d.series, d.timestamp, d.z_score) for d in before.detections
    ]
    assert result.scores[[0, 2]].tolist() == before.scores.tolist()
    assert [d.series for d in result.detections] == sorted(
        (d.series for d in result.detections), key=names.index
    )


def test_a_multivariate_rule_sees_the_whole_grid():
    ts, values, names = _block()
    rules = [DetectionRule("each"), DetectionRule("all", method="multivariate")]

    _, together = detect_native(rules, ts, values, names)
    [whole] = detect_rules(rules[1:], ts, values, names)

    assert [d.id for d in together.detections] == [d.id for d in whole.detections]


def test_the_grid_is_read_from_the_data():
    ts, values, _ = _block()

    native = native_grid(ts, values)

    assert native.repeats.tolist() == [1.0, 4.0, 1.0] and not native.changed.any()
    first_column = round(ts[0] / STEP)
    assert (first_column + 2) % 4 == native.phase[1]
