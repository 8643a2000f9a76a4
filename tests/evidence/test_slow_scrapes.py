"""Series scraped more slowly than the query step: Prometheus repeats each sample on the grid, and the
change test counts samples, not grid points (`detectors.grid_repeats`). Read from a real Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, start_backfilled_prometheus
from detectors import SeriesChange
from detectors.grid import align, grid
from detectors.grid_repeats import sample_repeats
from receiver.evidence.analysis import characterize
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings

STEP = 15.0
END = 1_767_225_600.0  # 2026-01-01 00:00 UTC
START = END - 2 * 3600
NOISE = 60  # series per scrape interval


def _scraped(metric: str, labels: dict[str, str], every: float, values: np.ndarray) -> SyntheticSeries:
    ts = np.arange(START + 7.0, END, every)  # off the query grid, as a target's scrape offset is
    return SyntheticSeries(metric, labels, ts, values[: ts.size])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    rng = np.random.default_rng(7)
    series = []
    for every in (15.0, 60.0, 120.0):
        for i in range(NOISE):
            labels = {"pod": f"p{i}", "every": f"{every:.0f}"}
            series.append(_scraped("pool_wait_seconds", labels, every, rng.normal(50, 2.5, 1000)))
    stepped = rng.normal(50, 2.5, 1000)
    stepped[110:] += 25.0  # the last ten of 120 one-minute samples, ten sigmas up
    series.append(_scraped("pool_in_use", {"pod": "stepped"}, 60.0, stepped))
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("slow"), series)
    yield proc
    proc.stop()


def _grid_rows(url: str, query: str) -> tuple[np.ndarray, np.ndarray]:
    source = PrometheusSource(PrometheusSettings(url=url, retries=0, timeout_seconds=10))
    fetched = asyncio.run(source.query_range(query, START, END, STEP))
    timestamps = grid(START, END, STEP)
    return timestamps, align(fetched, timestamps, STEP)


@pytest.mark.parametrize("every", ["15", "60", "120"])
def test_noise_scraped_at_any_interval_is_not_a_change(prometheus: ManagedProcess, every: str) -> None:
    timestamps, values = _grid_rows(prometheus.url, f'pool_wait_seconds{{every="{every}"}}')
    assert values.shape[0] == NOISE
    assert np.median(sample_repeats(values)) == float(every) / STEP
    findings = characterize(timestamps, values, None, STEP, max_lag_seconds=1800)
    flagged = [f for f in findings if isinstance(f.change, SeriesChange) and f.change.anomalous]
    # counted as grid points, 3 % of the 60-s and 5 % of the 120-s series were flagged, at z up to 765
    assert len(flagged) <= 1


def test_a_step_in_a_slow_series_is_still_found(prometheus: ManagedProcess) -> None:
    timestamps, values = _grid_rows(prometheus.url, 'pool_in_use{pod="stepped"}')
    (finding,) = characterize(timestamps, values, None, STEP, max_lag_seconds=1800)
    change = finding.change
    assert isinstance(change, SeriesChange) and change.anomalous and change.direction == "up"
    assert change.onset is not None and abs(change.onset - (START + 7.0 + 110 * 60.0)) <= 60.0
