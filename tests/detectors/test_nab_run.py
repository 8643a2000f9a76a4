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


def _write(path, rows):
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value"])
        writer.writerows(rows)


def _scores(path):
    with path.open() as fh:
        return [(r["timestamp"], r["value"], float(r["anomaly_score"])) for r in csv.DictReader(fh)]


def test_run_scores_messy_files_in_time_order_and_keeps_their_rows(tmp_path):
    data = tmp_path / "data" / "kpi"
    data.mkdir(parents=True)
    x = np.random.default_rng(2).normal(100.0, 2.0, 1500)
    x[1200] += 60.0
    epoch = 1_704_067_200
    rows = [[str(epoch + 60 * i), repr(float(v))] for i, v in enumerate(x)]
    rows[300][1] = ""  # a missed point
    rows[400][1] = "nan"
    rows[500][0] = "not a time"  # a torn row: scored 0, kept
    _write(data / "sorted.csv", rows)
    shuffled = rows[700:] + rows[:700]
    _write(data / "shuffled.csv", shuffled)
    run(tmp_path / "data", tmp_path / "out", "alert_analyst", processes=1)
    out = tmp_path / "out" / "alert_analyst" / "kpi"
    got = _scores(out / "alert_analyst_sorted.csv")
    assert [(t, v) for t, v, _ in got] == [tuple(r) for r in rows]  # every row, in the file's order
    assert max(range(len(got)), key=lambda i: got[i][2]) == 1200 and got[1200][2] >= 0.5
    assert got[300][2] == got[400][2] == got[500][2] == 0.0
    # the same points in another row order get the same scores: the detector saw them in time order
    assert sorted(_scores(out / "alert_analyst_shuffled.csv")) == sorted(got)


def test_a_file_that_cannot_be_scored_is_reported_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    import bench.nab

    data = tmp_path / "data" / "kpi"
    data.mkdir(parents=True)
    _write(data / "a.csv", [[f"2024-01-01 00:{i:02d}:00", "1.0"] for i in range(30)])

    def broken(detector, stamps, values):
        raise RuntimeError("boom")

    monkeypatch.setattr(bench.nab, "detector_scores", broken)
    bench.nab.run(tmp_path / "data", tmp_path / "out", "alert_analyst", processes=1)
    got = _scores(tmp_path / "out" / "alert_analyst" / "kpi" / "alert_analyst_a.csv")
    assert len(got) == 30 and {s for _, _, s in got} == {0.0}
    err = capsys.readouterr().err
    assert "FAILED" in err and "RuntimeError: boom" in err and "1 of 1 files could not be scored" in err


def test_columns_are_found_in_any_case_and_a_file_without_them_is_reported(tmp_path, capsys):
    data = tmp_path / "data" / "kpi"
    data.mkdir(parents=True)
    x = np.random.default_rng(4).normal(10.0, 1.0, 400)
    x[300] += 20.0
    stamps = [f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00" for i in range(x.size)]
    with (data / "upper.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Timestamp ", "Value", "label"])
        writer.writerows([t, repr(float(v)), 0] for t, v in zip(stamps, x, strict=True))
    (data / "wrong.csv").write_text("time,reading\n2024-01-01 00:00:00,1.0\n")
    run(tmp_path / "data", tmp_path / "out", "alert_analyst", processes=1)
    got = _scores(tmp_path / "out" / "alert_analyst" / "kpi" / "alert_analyst_upper.csv")
    assert max(range(len(got)), key=lambda i: got[i][2]) == 300
    err = capsys.readouterr().err
    assert "no timestamp or value column (columns: time, reading)" in err
