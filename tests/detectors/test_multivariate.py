import numpy as np

from detectors import DetectionRule, detect_batch
from detectors.multivariate import complete_points_needed, multivariate_scores, too_few_complete_points


def test_multivariate_names_the_metric_that_breaks_the_correlation(grid):
    rng = np.random.default_rng(3)
    common = np.cumsum(rng.normal(size=grid.size))
    values = np.stack([common * w + rng.normal(scale=0.3, size=grid.size) for w in (1.0, 2.0, -1.5, 0.5)])
    values[2, 640:650] += 8.0
    result = detect_batch(DetectionRule("r", method="multivariate"), grid, values, ["a", "b", "c", "d"])
    hits = [d for d in result.detections if grid[640] <= d.timestamp < grid[650]]
    assert hits
    assert all(d.affected_metrics[0] == "c" for d in hits)
    assert len([d for d in result.detections if d.timestamp < grid[600]]) <= 2


def test_multivariate_needs_two_series(grid, noise):
    result = detect_batch(DetectionRule("r", method="multivariate"), grid, noise[None, :], ["a"])
    assert "a" in result.insufficient


def _two_series_with_complete_points(grid, complete):
    """Two series that have a value at the same time at exactly `complete` time points."""
    a, b = np.random.default_rng(5).normal(100.0, 1.0, (2, grid.size))
    a[2 * complete :: 2], b[1::2] = np.nan, np.nan
    return np.stack([a, b])


def test_with_k_plus_1_complete_points_each_series_is_insufficient_by_the_models_own_rule(grid):
    values = _two_series_with_complete_points(grid, complete_points_needed(2) - 1)
    sparse = too_few_complete_points(values)
    result = detect_batch(DetectionRule("r", method="multivariate"), grid, values, ["a", "b"])
    assert sparse is not None and sparse.points == 3
    assert sparse.reason == (
        "multivariate needs 4 time points at which all 2 series have a value (k + 2); 3 have"
    )
    assert result.insufficient == {"a": sparse, "b": sparse}
    assert multivariate_scores(values, 3.0) is None


def test_with_k_plus_2_complete_points_the_model_scores_them(grid):
    values = _two_series_with_complete_points(grid, complete_points_needed(2))
    result = detect_batch(DetectionRule("r", method="multivariate"), grid, values, ["a", "b"])
    assert too_few_complete_points(values) is None
    assert result.insufficient == {}
    scores = multivariate_scores(values, 3.0)
    assert scores is not None and scores.columns.size == 4
