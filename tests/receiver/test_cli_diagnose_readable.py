"""`alert-analyst diagnose --format text` names series as Slack does: a selector keeps only the labels that
tell it apart from the alert, whose labels the report prints once; `--format json` keeps them whole."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

from demo.processes import ManagedProcess
from tests.evidence.scenario import Scenario

POOL = 'demo_db_pool_in_use{instance="db-1:5432",job="shop",namespace="prod",service="postgres"}'


def diagnose(tmp_path: Path, prometheus: ManagedProcess, scenario: Scenario, fmt: str) -> str:
    starts = datetime.datetime.fromtimestamp(scenario.effect_at + 60, datetime.UTC).isoformat()
    alert = {
        "status": "firing",
        "labels": {"alertname": "OrderErrorsHigh", "job": "shop", "namespace": "prod", "service": "orders"},
        "startsAt": starts,
        "generatorURL": "http://prometheus.invalid/graph?g0.expr="
        + "demo_order_error_ratio%7Bservice%3D%22orders%22%7D+%3E+0.1",
    }
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert))
    cmd = [sys.executable, "-m", "receiver", "diagnose", "--alert", str(path), "--prometheus", prometheus.url]
    result = subprocess.run([*cmd, "--format", fmt], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_text_report_selectors_drop_the_alerts_own_labels(
    tmp_path: Path, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    report = diagnose(tmp_path, prometheus, scenario, "text")

    assert 'demo_db_pool_in_use{instance="db-1:5432",service="postgres"}' in report
    assert 'job="shop"' not in report and 'namespace="prod"' not in report
    assert "labels: job=shop, namespace=prod, service=orders" in report


def test_json_report_keeps_the_whole_selectors(
    tmp_path: Path, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    report = json.loads(diagnose(tmp_path, prometheus, scenario, "json"))

    assert report["diagnosis"]["primary_hypothesis"]["suspect"] == POOL
    assert any(POOL in line for line in report["diagnosis"]["primary_hypothesis"]["supporting_evidence"])
