"""The exporter serves the scenario's values over real HTTP, in Prometheus text format."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from demo.exporter import DemoExporter
from demo.scenario import METRICS, sample

OFFSET = 60.0


@pytest.fixture
def exporter() -> Iterator[DemoExporter]:
    frozen = DemoExporter(offset=OFFSET, clock=lambda: 1000.0)
    frozen.start()
    yield frozen
    frozen.stop()


def scrape(url: str) -> dict[str, tuple[dict[str, str], float]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        s.name: (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_metrics_endpoint_serves_every_scenario_value_with_desk_and_book(exporter: DemoExporter) -> None:
    samples = scrape(exporter.url)
    assert set(samples) == set(METRICS)
    for name, value in sample(OFFSET).items():
        if METRICS[name].kind == "gauge":
            labels, served = samples[name]
            assert labels == {"desk": "fx-spot", "book": "eurusd"}
            assert served == pytest.approx(value, rel=1e-9)


def test_counters_continue_from_the_backfilled_history_whatever_the_offset(exporter: DemoExporter) -> None:
    samples = scrape(exporter.url)
    for name in ("demo_volume_usd_total", "demo_requests_total"):
        assert samples[name][1] == pytest.approx(sample(0.0)[name], rel=1e-12)


def test_volume_is_exposed_as_a_counter(exporter: DemoExporter) -> None:
    with urllib.request.urlopen(exporter.url, timeout=5) as response:
        text = response.read().decode()
    assert "# TYPE demo_volume_usd_total counter" in text
    assert "# TYPE demo_pnl_drawdown_ratio gauge" in text


def test_stop_closes_the_port() -> None:
    exporter = DemoExporter()
    url = f"http://127.0.0.1:{exporter.start()}/metrics"
    exporter.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
