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


def test_bench_ops_scores_exactly_what_the_runner_writes(tmp_path):
    from bench.ops import runner_scorer

    data = tmp_path / "data" / "kpi"
    data.mkdir(parents=True)
    x = np.random.default_rng(1).normal(100.0, 2.0, 2000)
    x[1500:1505] += 40.0  # a spike: an alert
    x[1530:1533] += 40.0  # a repeat within the hour's cooldown: no alert, ranked under it
    with (data / "s.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value"])
        for i, v in enumerate(x):
            stamp = f"2024-01-{1 + i // 1440:02d} {i % 1440 // 60:02d}:{i % 60:02d}:00"
            writer.writerow([stamp, repr(float(v))])
    run(tmp_path / "data", tmp_path / "out", "alert_analyst", processes=1)
    with (tmp_path / "out" / "alert_analyst" / "kpi" / "alert_analyst_s.csv").open() as fh:
        written = np.array([float(r["anomaly_score"]) for r in csv.DictReader(fh)])
    scored = runner_scorer("alert_analyst")(x, 1440)
    np.testing.assert_allclose(written, scored, atol=1e-6)  # the file keeps six decimals
    assert written[1500] >= 0.5 and 0 < written[1530:1533].max() < 0.5
