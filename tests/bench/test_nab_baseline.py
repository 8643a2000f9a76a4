"""`bench.nab score --baseline DIR`: a published detector's results scored beside ours, in the same run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import nab

STAMPS = [f"2015-01-01 {i // 60:02d}:{i % 60:02d}:00" for i in range(40)]
PROFILE = {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}}


def results(root: Path, detector: str, alarm_row: int | None) -> Path:
    folder = root / detector
    (folder / "realTraffic").mkdir(parents=True)
    rows = [f"{t},1.0,{1.0 if i == alarm_row else 0.0}" for i, t in enumerate(STAMPS)]
    (folder / "realTraffic" / f"{detector}_speed.csv").write_text(
        "timestamp,value,anomaly_score\n" + "\n".join(rows)
    )
    return folder


def test_score_prints_each_baseline_below_the_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels, profiles = tmp_path / "windows.json", tmp_path / "profiles.json"
    labels.write_text(
        json.dumps({"realTraffic/speed.csv": [[f"{STAMPS[20]}.000000", f"{STAMPS[25]}.000000"]]})
    )
    profiles.write_text(json.dumps({"standard": PROFILE}))
    ours, silent = results(tmp_path, "ours", alarm_row=21), results(tmp_path, "silent", alarm_row=None)
    argv = ["score", "--results", str(ours), "--labels", str(labels), "--profiles", str(profiles)]
    nab.main([*argv, "--baseline", str(silent)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["baseline silent, same labels, profiles and thresholds:", "  standard: 0.0"]
    assert lines[0].startswith("standard: ") and float(lines[0].split()[1]) > 50
