from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from demo.processes import ManagedProcess, free_port
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.scheduled.scheduler import DetectorFinding
from receiver.storage.database import Store

QUERY = "demo_fill_latency_seconds"
COUNTER = "demo_fills_total"


@dataclass(frozen=True)
class Injected:
    end: float
    anomaly_at: float
    series: tuple[SyntheticSeries, ...]


@pytest.fixture(scope="package")
def injected() -> Injected:
    """Fill latency of three venues over 26 h; venue "a" jumps tenfold 4 minutes before the end. Also a
    counter of venue a's fills."""
    end = math.floor(time.time() / 60) * 60 - 60
    ts = np.arange(end - 26 * 3600, end + 15, 15.0)
    anomaly_at = end - 240
    series = tuple(
        SyntheticSeries(
            QUERY,
            {"job": "trading", "venue": venue},
            ts,
            noisy(ts, 0.05, 0.004, seed, steps=[(anomaly_at, 0.5)] if venue == "a" else []),
        )
        for seed, venue in enumerate("abc", start=11)
    )
    fills = np.cumsum(np.random.default_rng(5).poisson(3, ts.size)).astype(float)  # a counter
    counter = SyntheticSeries(COUNTER, {"job": "trading", "venue": "a"}, ts, fills)
    return Injected(end, anomaly_at, (*series, counter))


@pytest.fixture(scope="package")
def prometheus(tmp_path_factory: pytest.TempPathFactory, injected: Injected) -> Iterator[ManagedProcess]:
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("prometheus"), injected.series)
    yield proc
    proc.stop()


class Recorder:
    """`on_anomaly` that keeps the findings and names an incident for each."""

    def __init__(self) -> None:
        self.findings: list[DetectorFinding] = []

    async def __call__(self, finding: DetectorFinding) -> str:
        self.findings.append(finding)
        return f"inc-{len(self.findings)}"


@pytest.fixture
async def source(prometheus: ManagedProcess) -> AsyncIterator[PrometheusSource]:
    """The module's `prometheus` (this package's, unless the module has its own)."""
    src = PrometheusSource(PrometheusSettings(url=prometheus.url, retries=0))
    yield src
    await src.close()


@pytest.fixture
async def unreachable() -> AsyncIterator[PrometheusSource]:
    """A Prometheus nobody listens for: every query fails, as in an outage."""
    src = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    yield src
    await src.close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "analyst.db")
