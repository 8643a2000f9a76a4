import numpy as np

from detectors import DetectionRule, detect_batch, detect_series


def test_batch_detections_equal_per_series_detections(grid):
    rng = np.random.default_rng(11)
    values = rng.normal(50.0, 3.0, size=(6, grid.size))
    values[1, 400] += 40.0
    values[3, 600:] -= 12.0
    values[4, 100:130] = np.nan
    names = [f"s{i}" for i in range(6)]
    for method in ("zscore", "iqr", "changepoint", "ensemble"):
        rule = DetectionRule("r", method=method)
        batch = detect_batch(rule, grid, values, names)
        for i, name in enumerate(names):
            single = detect_series(rule, grid, values[i], name)
            assert isinstance(single, list)
            assert [d for d in batch.detections if d.series == name] == single, (method, name)


def test_batch_latest_score_is_high_for_a_series_spiking_now(grid):
    values = np.random.default_rng(2).normal(10.0, 1.0, size=(3, grid.size))
    values[1, -1] += 15.0
    scores = detect_batch(DetectionRule("r"), grid, values, ["a", "b", "c"]).scores
    assert scores[1] >= 0.5 and scores[0] < 0.5 and scores[2] < 0.5


def test_batch_reports_a_data_gap(grid, noise):
    values = noise.copy()
    values[500:540] = np.nan
    result = detect_batch(DetectionRule("r", method="zscore"), grid, values[None, :], ["x"])
    gaps = [d for d in result.detections if d.anomaly_type == "DATA_GAP"]
    assert len(gaps) == 1 and gaps[0].onset == grid[499] and gaps[0].timestamp == grid[540]
