"""Serve the scenario's trading metrics over HTTP for Prometheus to scrape (an in-process thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from demo.scenario import DEFAULT_SCHEDULE, METRICS, SERIES_LABELS, Schedule, sample


class ScenarioCollector(Collector):
    """Collects `sample(t)` at scrape time, `t` being seconds since `started_at` plus `offset`."""

    def __init__(
        self,
        schedule: Schedule = DEFAULT_SCHEDULE,
        offset: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.schedule = schedule
        self.offset = offset
        self.clock = clock
        self.started_at = clock()
        at_offset, at_start = sample(offset, schedule), sample(0.0, schedule)
        # Counters continue from their value at t = 0 (where the backfilled history ends) whatever the offset.
        self._counter_shift = {
            name: at_start[name] - at_offset[name] for name, spec in METRICS.items() if spec.kind == "counter"
        }

    def scenario_time(self) -> float:
        return self.clock() - self.started_at + self.offset

    def collect(self) -> Iterator[Metric]:
        values = sample(self.scenario_time(), self.schedule)
        label_names = list(SERIES_LABELS)
        label_values = list(SERIES_LABELS.values())
        for name, spec in METRICS.items():
            family: GaugeMetricFamily | CounterMetricFamily
            if spec.kind == "counter":
                family = CounterMetricFamily(name.removesuffix("_total"), spec.help, labels=label_names)
            else:
                family = GaugeMetricFamily(name, spec.help, labels=label_names)
            family.add_metric(label_values, values[name] + self._counter_shift.get(name, 0.0))
            yield family


class DemoExporter:
    """An HTTP /metrics endpoint on 127.0.0.1 serving a `ScenarioCollector`; `stop()` shuts it down."""

    def __init__(
        self,
        schedule: Schedule = DEFAULT_SCHEDULE,
        offset: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collector = ScenarioCollector(schedule, offset, clock)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, port: int = 0) -> int:
        """Listen on `port` (0 = any free port) and return the port."""
        self._server, self._thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        return self.port

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("exporter not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
