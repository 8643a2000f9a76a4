"""Full path on real binaries: a Prometheus rule fires, Alertmanager posts, the receiver collects evidence
and stores a diagnosis that names the known cause, within about 20 s of the alert."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from demo.scenario import DEFAULT_SCHEDULE

# Start 5 s before the PnL drawdown phase: volatility has already been rising for 25 s.
DRAWDOWN_OFFSET = DEFAULT_SCHEDULE.starts()["pnl_drawdown"] - 5


def run_demo(workdir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`alert-analyst demo` with these flags, as a user runs it; fails the test if it does not exit 0."""
    run = subprocess.run(
        [sys.executable, "-m", "receiver", "demo", "--workdir", str(workdir), *flags],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_pnl_drawdown_is_diagnosed_as_the_volatility_spike_within_20_s(tmp_path: Path) -> None:
    run = run_demo(tmp_path, "--duration", "75", "--scenario-offset", str(DRAWDOWN_OFFSET))
    with sqlite3.connect(tmp_path / "alert-analyst.db") as conn:
        rows = conn.execute(
            "SELECT i.id, i.starts_at, i.first_seen, d.created_at, d.body FROM incidents i"
            " JOIN diagnoses d ON d.incident_id = i.id WHERE i.alertname = 'PnLDrawdownHigh'"
        ).fetchall()
        stages = (
            conn.execute(
                "SELECT stage, outcome FROM stage_results WHERE incident_id = ? ORDER BY id", (rows[0][0],)
            ).fetchall()
            if rows
            else []
        )
    assert rows, run.stdout[-3000:]
    _, starts_at, first_seen, diagnosed_at, body = rows[0]
    diagnosis = json.loads(body)
    primary = diagnosis["primary_hypothesis"]
    assert primary["category"] == "market.volatility", diagnosis["executive_summary"]
    assert "demo_volatility" in primary["suspect"]
    assert diagnosed_at - starts_at <= 20, (starts_at, first_seen, diagnosed_at)
    assert ("collect_evidence", "ok") in stages and ("detect", "ok") in stages
    assert "PnLDrawdownHigh" in run.stdout


def test_the_demo_detection_rule_opens_and_diagnoses_the_volatility_spike_no_alert_rule_watches(
    tmp_path: Path,
) -> None:
    run = run_demo(tmp_path, "--duration", "25")  # the spike comes 10 s after start
    with sqlite3.connect(tmp_path / "alert-analyst.db") as conn:
        rows = conn.execute(
            "SELECT i.source, i.severity, i.labels, i.starts_at, d.created_at, d.body FROM incidents i"
            " JOIN diagnoses d ON d.incident_id = i.id WHERE i.alertname = 'MarketVolatilityAnomaly'"
        ).fetchall()
    assert len(rows) == 1, run.stdout[-3000:]
    source, severity, labels, starts_at, diagnosed_at, body = rows[0]
    assert (source, severity) == ("detector", "warning")
    assert json.loads(labels)["team"] == "trading"
    primary = json.loads(body)["primary_hypothesis"]
    assert primary["category"] == "market.volatility" and "demo_volatility" in primary["suspect"]
    assert diagnosed_at - starts_at <= 10
    assert "from scheduled detection" in run.stdout
