"""The whole-history value tail: how rare a value is among every earlier value of its series."""

import math

import numpy as np

from detectors.value_tail import MIN_HISTORY, TAIL_COUNT, TOLERANCE, ValueTail, value_tail_surprise


def _brute(row):
    """The definition, point by point over the whole history (no truncation below TAIL_COUNT)."""
    out = np.zeros(row.size)
    past: list[float] = []
    for i, v in enumerate(row.tolist()):
        if not math.isfinite(v):
            continue
        if len(past) >= MIN_HISTORY:
            slack = TOLERANCE * np.std(past)
            below = sum(p <= v + slack for p in past)
            above = sum(p >= v - slack for p in past)
            c = min(below, above)
            if c < TAIL_COUNT:
                out[i] = -math.log10(min(1.0, 2 * (c + 1) / (len(past) + 1)))
        past.append(v)
    return out


def _series(seed):
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_t(3, size=(3, 400)).cumsum(axis=1), 1)  # ties, trends, heavy tails
    x[rng.random(x.shape) < 0.05] = np.nan
    x[1, :30] = np.nan
    return x


def test_batch_counts_the_earlier_values_beyond_each_value_as_the_definition_does():
    x = _series(1)
    got = value_tail_surprise(x)
    for r in range(x.shape[0]):
        assert np.allclose(got[r], _brute(x[r]), rtol=0, atol=1e-9)


def test_batch_equals_streaming():
    x = _series(2)
    for row in x:
        tail = ValueTail()
        streamed = np.array([tail.observe(v) for v in row.tolist()])
        assert np.allclose(value_tail_surprise(row[None, :])[0], streamed, rtol=0, atol=1e-12)


def test_a_new_low_is_rare_and_a_value_inside_the_usual_range_is_not():
    x = np.random.default_rng(3).normal(100.0, 1.0, size=(1, 2000))
    x[0, 1500] = 94.0
    s = value_tail_surprise(x)[0]
    assert math.isclose(s[1500], -math.log10(2 / 1501))  # no earlier value as low: p = 2 / (n + 1)
    assert s[1501] == 0.0
