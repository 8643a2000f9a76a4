"""Calm history is backfilled into Prometheus so the first incident already has a baseline."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

from demo.backfill import backfill_history, history_openmetrics
from demo.processes import find_binary, start_prometheus
from demo.scenario import DEFAULT_SCHEDULE, METRICS, sample

LABELS = {"job": "trading-exporter", "instance": "127.0.0.1:9100", "desk": "fx-spot", "book": "eurusd"}


def test_history_before_the_start_is_calm_and_counters_keep_rising() -> None:
    for t in (-900.0, -300.5, -1.0):
        values = sample(t)
        assert values["demo_pnl_drawdown_ratio"] < 0.05
        assert values["demo_volatility"] < 0.15
        assert values["demo_db_pool_in_use"] < 20
    for counter in ("demo_volume_usd_total", "demo_requests_total"):
        series = [sample(t)[counter] for t in (-900.0, -10.0, -0.5, 0.0, 0.5, 10.0)]
        assert series == sorted(series)
        assert min(series) > 0


def test_history_is_openmetrics_with_one_sample_per_second_per_metric() -> None:
    text = history_openmetrics(1_700_000_000.0, 60, LABELS)
    lines = text.splitlines()
    assert lines[-1] == "# EOF"
    assert sum(line.startswith("# TYPE") for line in lines) == len(METRICS)
    volatility = [line for line in lines if line.startswith("demo_volatility{")]
    assert len(volatility) == 60
    assert volatility[-1].endswith(" 1699999999.000")
    assert 'instance="127.0.0.1:9100"' in volatility[0]
    assert "# TYPE demo_volume_usd counter" in lines


def test_prometheus_serves_the_backfilled_history(tmp_path: Path) -> None:
    start = time.time()
    history = history_openmetrics(start, 300, LABELS, schedule=DEFAULT_SCHEDULE)
    backfill_history(find_binary("promtool"), history, tmp_path / "data")
    config = "global: {scrape_interval: 1s}\nscrape_configs: []\n"
    prometheus = start_prometheus(tmp_path, config)
    try:
        query = urllib.parse.urlencode(
            {"query": "count_over_time(demo_volatility[10m])", "time": f"{start:.3f}"}
        )
        with urllib.request.urlopen(f"{prometheus.url}/api/v1/query?{query}", timeout=10) as response:
            result = json.load(response)["data"]["result"]
    finally:
        prometheus.stop()
    assert len(result) == 1
    assert result[0]["metric"] == LABELS
    assert float(result[0]["value"][1]) >= 290
