"""The numpy Isolation Forest against scikit-learn's, which it replaces for speed, on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length
from sklearn.metrics import roc_auc_score

from detectors.errors import DetectorError
from detectors.isolation_forest import fit_forest, newest_window_features, window_features
from detectors.isolation_trees import (
    SAMPLE,
    TREES,
    IsolationTrees,
    anomaly_scores,
    average_path_length,
    grow_trees,
)


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


def _walked_scores(forest: IsolationTrees, x: np.ndarray) -> np.ndarray:
    """The textbook score: each point walked down each tree one node at a time."""
    trees, internal = forest.split.shape
    mean_path = np.empty(x.shape[0])
    for p, point in enumerate(x):
        paths = np.empty(trees)
        for t in range(trees):
            i = 0
            for _ in range(forest.depth):
                i = 2 * i + 1 + int(point[forest.feature[t, i]] > forest.split[t, i])
            paths[t] = forest.path[t, i - internal]
        mean_path[p] = paths.mean()
    return np.exp2(-mean_path / float(average_path_length(forest.sample)))


@pytest.mark.parametrize("fit_size", [2, 40, 1_000])
def test_scores_are_each_points_walk_down_each_tree(fit_size: int) -> None:
    train, _ = _planted(7, fit_size)
    train[: fit_size // 2, 0] = 1.0  # ties: leaves above the depth limit
    forest = grow_trees(train)
    cuts = forest.split[np.isfinite(forest.split)][:100]
    on_a_cut = np.repeat(cuts[:, None], train.shape[1], axis=1)  # equal to a split: goes left
    test = np.vstack([train[:50], on_a_cut, _planted(8, 300)[0] * 2.0])  # more than one scoring chunk
    np.testing.assert_array_equal(anomaly_scores(forest, test), _walked_scores(forest, test))


def _grown_node_by_node(x: np.ndarray) -> IsolationTrees:
    """`grow_trees` without its shortcuts: the samples drawn afresh, each node's range and split from its
    own points, one node at a time (the random draws as `grow_trees` makes them: a level at a time)."""
    rng = np.random.default_rng(0)
    m, d = x.shape
    psi = min(SAMPLE, m)
    depth = int(np.ceil(np.log2(max(psi, 2))))
    if m > psi:
        rows = np.stack([rng.permutation(m)[:psi] for _ in range(TREES)])
    else:
        rows = np.tile(np.arange(m), (TREES, 1))
    feature = np.zeros((TREES, 2**depth - 1), dtype=np.intp)
    split = np.full((TREES, 2**depth - 1), np.inf)
    reach = [[x[r]] for r in rows]  # per tree, the points at each node of the level
    leaf: list[list[float | None]] = [[None] for _ in rows]  # path length if a leaf is at or above it
    for level in range(depth):
        width = 2**level
        pick, where = rng.random((TREES * width, d)), rng.random(TREES * width)
        for t in range(TREES):
            below: list[np.ndarray] = []
            below_leaf: list[float | None] = []
            for k, (points, ended) in enumerate(zip(reach[t], leaf[t], strict=True)):
                low = points.min(axis=0) if len(points) else np.zeros(d)
                high = points.max(axis=0) if len(points) else np.zeros(d)
                spread, g = high > low, t * width + k
                f = feature[t, width - 1 + k] = int((pick[g] * spread).argmax())
                if ended is None and len(points) > 1 and spread.any():
                    cut = split[t, width - 1 + k] = low[f] + where[g] * (high[f] - low[f])
                    right = points[:, f] > cut
                    below += [points[~right], points[right]]
                    below_leaf += [None, None]
                else:
                    here = level + float(average_path_length(len(points))) if ended is None else ended
                    below += [points, points[:0]]
                    below_leaf += [here, here]
            reach[t], leaf[t] = below, below_leaf
    path = np.array(
        [
            [
                depth + float(average_path_length(len(p))) if e is None else e
                for p, e in zip(r, ends, strict=True)
            ]
            for r, ends in zip(reach, leaf, strict=True)
        ]
    )
    return IsolationTrees(feature=feature, split=split, path=path, depth=depth, sample=psi)


def test_the_trees_are_those_grown_node_by_node() -> None:
    x, _ = _planted(9, 1_000)
    x[:300, 1] = np.round(x[:300, 1])  # ties
    x[300:400] = x[300]  # a clump of identical points: a leaf however many points it holds
    for m in (1, 3, 60, 256, 1_000, 600, 1_000):  # 1,000 twice: its sample drawn once, then reused
        grown, plain = grow_trees(x[:m]), _grown_node_by_node(x[:m])
        for field in ("feature", "split", "path"):
            np.testing.assert_array_equal(getattr(grown, field), getattr(plain, field), err_msg=f"m={m}")


def test_the_newest_points_features_are_the_last_column_of_window_features() -> None:
    rng = np.random.default_rng(11)
    for n in (1, 2, 3, 7, 62):
        values = rng.normal(100.0, 5.0, (200, n))
        values[rng.random(values.shape) < 0.2] = np.nan
        values[:20] = 3.0  # flat rows: zero std
        values[20:30] *= 1e150  # large: squares near overflow
        expected = window_features(values, 5)[:, -1, :]
        np.testing.assert_array_equal(newest_window_features(values, 5), expected)
