import numpy as np

from detectors import DetectionRule, detect_batch


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
