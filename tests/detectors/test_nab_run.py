import csv

import numpy as np

from bench.nab import run


def test_run_writes_one_score_file_per_input_in_nab_layout(tmp_path):
    data = tmp_path / "data" / "someCategory"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with (data / "series_a.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value"])
        for i, v in enumerate(rng.normal(size=300)):
            writer.writerow([f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00", f"{v:.4f}"])
    run(tmp_path / "data", tmp_path / "out", "alert_analyst", processes=1)
    out = tmp_path / "out" / "alert_analyst" / "someCategory" / "alert_analyst_series_a.csv"
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score"]
    assert len(rows) == 300
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
