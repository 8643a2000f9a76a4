"""The real Alertmanager (Debian binary, loopback, temp storage) posts to a running receiver."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.processes import ManagedProcess, ReceiverProcess, start_alertmanager, start_receiver

TOKEN = "s3cr3t-token"


def am_config(receiver_url: str, token: str) -> str:
    return f"""
route:
  receiver: alert-analyst.webhook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: alert-analyst.webhook
    webhook_configs:
      - url: {receiver_url}/webhook/alertmanager
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials: {token}}}
"""


def push_alert(am: ManagedProcess, alertname: str) -> None:
    alerts = [
        {
            "labels": {"alertname": alertname, "severity": "critical", "desk": "fx-spot", "instance": "x:1"},
            "annotations": {"summary": "PnL drawdown 42%"},
            "generatorURL": "http://127.0.0.1:9/graph?g0.expr=demo_pnl_drawdown_ratio+%3E+0.3&g0.tab=1",
        }
    ]
    req = urllib.request.Request(
        f"{am.url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def rows(db: Path, sql: str) -> list[Any]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    proc = start_receiver(
        tmp_path / "receiver", {"webhook": {"bearer_token": TOKEN}, "detection": {"enabled": False}}
    )
    yield proc
    proc.terminate()


def test_alertmanager_posts_with_bearer_and_incidents_appear(
    tmp_path: Path, receiver: ReceiverProcess
) -> None:
    am = start_alertmanager(tmp_path / "am", am_config(receiver.url, TOKEN))
    try:
        push_alert(am, "PnLDrawdownHigh")
        db = tmp_path / "receiver" / "alert-analyst.db"
        deadline = time.monotonic() + 20
        found: list[Any] = []
        while time.monotonic() < deadline and not found:
            found = rows(db, "SELECT alertname, group_key, status FROM incidents")
            time.sleep(0.2)
        assert found == [("PnLDrawdownHigh", '{}:{alertname="PnLDrawdownHigh"}', "firing")]
        body = json.loads(rows(db, "SELECT body FROM notifications")[0][0])
        assert body["receiver"] == "alert-analyst\\.webhook"  # regex-escaped by Alertmanager
    finally:
        am.stop()


def test_wrong_token_stores_nothing(tmp_path: Path, receiver: ReceiverProcess) -> None:
    am = start_alertmanager(tmp_path / "am", am_config(receiver.url, "wrong-token"))
    try:
        push_alert(am, "OrderErrorRateHigh")
        deadline = time.monotonic() + 20
        while (
            time.monotonic() < deadline
            and metric(receiver.url, 'alert_analyst_webhook_requests_total{code="401"}') < 1
        ):
            time.sleep(0.2)
        assert metric(receiver.url, 'alert_analyst_webhook_requests_total{code="401"}') >= 1
        db = tmp_path / "receiver" / "alert-analyst.db"
        assert rows(db, "SELECT count(*) FROM incidents") == [(0,)]
        assert rows(db, "SELECT count(*) FROM notifications") == [(0,)]
    finally:
        am.stop()
