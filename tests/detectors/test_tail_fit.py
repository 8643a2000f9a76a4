"""`bench.tail_fit`'s fitted tail: what the experiment measures is what its docstring says it does."""

from __future__ import annotations

import numpy as np

from bench.tail_fit import earlier_quantile_bin, fitted_rank
from detectors.level_step_tail import tail_surprise


def test_the_quantile_bin_is_taken_over_earlier_tail_points_only():
    bins = np.array([3, 0, 0, 5, 0, 9])

    assert earlier_quantile_bin(bins, 0.5).tolist() == [-1, 3, 0, 0, 0, 0]
    assert earlier_quantile_bin(bins, 0.9).tolist() == [-1, 3, 3, 3, 5, 5]


def test_a_far_repeat_outranks_a_near_record_only_with_the_fitted_tail():
    rng = np.random.default_rng(3)
    feature = np.abs(rng.normal(0.0, 1.0, (1, 3000)))
    feature[0, 1000] = feature[0, 2000] = 60.0  # the same far value twice
    near = int(np.argmax(feature[0, 2001:])) + 2001  # the largest noise value after it
    earlier = np.arange(3000, dtype=float)[None, :]

    _, cols, plain = tail_surprise(feature, earlier)
    _, _, fitted = fitted_rank(0.5)(feature, earlier)
    at = {int(c): i for i, c in enumerate(cols)}

    assert np.all(fitted >= plain) and np.all(fitted[plain == 0] == 0)
    assert plain[at[2000]] < plain[at[near]] + 1  # among earlier points, the repeat is about as rare
    assert fitted[at[2000]] > fitted[at[near]] + 3
