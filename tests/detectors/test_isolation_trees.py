"""The numpy Isolation Forest against scikit-learn's, which it replaces for speed, on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length
from sklearn.metrics import roc_auc_score

from detectors.errors import DetectorError
from detectors.isolation_forest import fit_forest
from detectors.isolation_trees import anomaly_scores, average_path_length, grow_trees


def _planted(seed: int, n: int, d: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian points with 1 % moved by a few standard deviations, and their labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    labels = np.zeros(n, dtype=bool)
    labels[: n // 100] = True
    x[labels] += rng.normal(0.0, 3.0, size=(labels.sum(), d))
    return x, labels


def test_average_path_length_is_scikit_learns() -> None:
    n = np.array([0, 1, 2, 3, 10, 256, 4096])
    assert np.allclose(average_path_length(n), _average_path_length(n))


@pytest.mark.parametrize("fit_size", [30, 300, 4096])
def test_ranks_points_as_scikit_learn_does(fit_size: int) -> None:
    train, _ = _planted(1, fit_size)
    test, labels = _planted(2, 20_000)
    ours = anomaly_scores(grow_trees(train), test)
    theirs = -IsolationForest(random_state=0).fit(train).score_samples(test)
    assert spearmanr(ours, theirs)[0] > 0.8
    assert roc_auc_score(labels, ours) > roc_auc_score(labels, theirs) - 0.01
    assert abs(ours.mean() - theirs.mean()) < 0.02  # the same scale: path lengths over c(256)


def test_an_isolated_point_scores_near_one_and_the_crowd_near_half() -> None:
    train, _ = _planted(3, 2_000)
    scores = anomaly_scores(grow_trees(train), np.array([[0.0] * 5, [30.0] * 5]))
    assert 0.35 < scores[0] < 0.5
    assert scores[1] > 0.75


def test_constant_features_are_never_split_on() -> None:
    rng = np.random.default_rng(4)
    x = np.column_stack([np.zeros(500), rng.normal(size=500), np.ones(500)])
    forest = grow_trees(x)
    splitting = np.isfinite(forest.split)
    assert splitting.any()
    assert set(np.unique(forest.feature[splitting])) == {1}
    outside = anomaly_scores(forest, np.array([[0.0, 8.0, 1.0], [0.0, 0.0, 1.0]]))
    assert outside[0] > outside[1] + 0.2


def test_one_point_or_identical_points_score_half() -> None:
    assert np.all(anomaly_scores(grow_trees(np.ones((1, 3))), np.eye(3)) == 0.5)
    same = anomaly_scores(grow_trees(np.ones((50, 3))), np.array([[1.0, 1.0, 1.0], [9.0, 9.0, 9.0]]))
    assert same[0] == same[1]  # nothing to split on: every point ends at the root


def test_the_cut_leaves_the_contamination_share_above_it() -> None:
    train, _ = _planted(5, 4_096)
    forest, cut = fit_forest(train, 0.01)
    above = (anomaly_scores(forest, train) > cut).mean()
    assert 0.005 <= above <= 0.011


def test_no_points_is_a_clear_error() -> None:
    with pytest.raises(DetectorError, match="at least one point"):
        grow_trees(np.empty((0, 5)))


def test_the_trees_are_seeded() -> None:
    train, _ = _planted(6, 1_000)
    a, b = grow_trees(train, seed=0), grow_trees(train, seed=0)
    assert np.array_equal(a.split, b.split)
    assert not np.array_equal(a.split, grow_trees(train, seed=1).split)
