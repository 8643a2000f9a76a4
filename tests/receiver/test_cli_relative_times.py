"""`backtest --from -6h --to -1h` and `diagnose --at -1h`: a relative time after its flag, as the help text
writes it, is the flag's value (argparse took `-6h` for an option and refused the command)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from receiver.cli.time_flags import join_relative_times
from receiver.times import format_time

NOWHERE = "http://127.0.0.1:9"  # nothing listens


def alert_analyst(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receiver", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_backtest_reads_relative_times_after_from_and_to() -> None:
    result = alert_analyst(
        "backtest", "--query", "up", "--from", "-1h", "--to", "-2h", "--prometheus.url", NOWHERE
    )
    assert result.stderr.strip() == "alert-analyst backtest: the end of the range must be after its start"
    assert result.returncode == 2


def test_backtest_with_relative_times_goes_on_to_fetch() -> None:
    result = alert_analyst(
        "backtest", "--query", "up", "--from", "-6h", "--to", "-1h", "--prometheus.url", NOWHERE
    )
    assert result.returncode == 1, result.stderr
    assert "alert-analyst backtest: cannot fetch 'up': unreachable" in result.stderr


def test_diagnose_evaluates_at_a_relative_time(tmp_path: Path) -> None:
    alert = tmp_path / "alert.json"
    before = time.time()
    alert.write_text(json.dumps({"labels": {"alertname": "X"}, "startsAt": format_time(before - 7200)}))
    result = alert_analyst(
        "diagnose", "--alert", str(alert), "--at", "-1h", "--prometheus.url", NOWHERE, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    window_end = json.loads(result.stdout)["evidence"]["window_end"]
    assert abs(window_end - (before - 3600)) < 60  # the window ends at --at (on the query step's grid)


def test_only_the_named_flags_followed_by_a_relative_time_are_joined() -> None:
    argv = ["--from", "-6h", "--to", "now", "--step", "-1h", "--", "--at", "-1h"]
    joined = join_relative_times(argv, ("--from", "--at"))
    assert joined == ["--from=-6h", "--to", "now", "--step", "-1h", "--", "--at", "-1h"]
