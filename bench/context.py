"""Benchmark: alert context (200 related series, 6 h at 15 s) and one detection cycle of 1,000 rules.

Runs against a local Prometheus backfilled with synthetic data, and compares with a baseline measured
in the same run: one query per series, sequential, one connection, one `characterize_change` per series.
The context is also timed with `context.call_graph: [{preset: istio}]` over a synthetic mesh (50
services, 4 callees each, 3 response codes: 600 `istio_requests_total` series), and with
`context.call_latency: [{preset: istio}]` over its duration histograms (`_sum` and `_count` of each call from
both reporters: 800 series; the alerting job `bench` is one of the services, so its 8 calls are kept).

    python -m bench.context [--runs 10] [--rules 1000] [--counters 6]

`--counters N` adds N related metrics of counters scraped once a minute (10 instances each): N - 2 plain
ones and one timing histogram's `_sum` and `_count`, whose mean the evidence derives (10 more series); each
counter metric costs the evidence one `count_over_time` probe for its rate() window.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np

from bench.inputs import BenchArgumentParser, require_binaries
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from detectors import characterize_change
from receiver.evidence.context import collect_alert_context, context_window
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.promql import generator_url_for, selector
from receiver.evidence.settings import CallGraphQuery, CallLatencyQuery, ContextSettings, PrometheusSettings
from receiver.evidence.source import SeriesData
from receiver.models import Incident
from receiver.scheduled.scheduler import DetectionScheduler, DetectorFinding, detect_rule
from receiver.scheduled.settings import DetectionSettings, RuleSettings

METRICS, INSTANCES = 20, 10  # 200 related series
MESH_SERVICES, MESH_CALLEES, MESH_CODES = 50, 4, ("200", "500", "503")
MESH_LATENCY = "istio_request_duration_milliseconds"
HISTORY = 26 * 3600.0
STEP = 15.0


def counter_names(counters: int) -> list[str]:
    """The `--counters` metrics: plain counters, then a timing histogram's `_sum` and `_count`."""
    if counters < 3:
        return [f"bench_requests_{k:02d}_total" for k in range(counters)]
    plain = [f"bench_requests_{k:02d}_total" for k in range(counters - 2)]
    return [*plain, "bench_request_duration_seconds_sum", "bench_request_duration_seconds_count"]


def synthetic(end: float, counters: int = 0) -> list[SyntheticSeries]:
    ts = np.arange(end - HISTORY, end + STEP, STEP)
    out = [
        SyntheticSeries(
            "bench_alert_ratio",
            {"job": "bench", "instance": "i-0"},
            ts,
            noisy(ts, 0.01, 0.002, 0, steps=[(end - 1800, 0.3)]),
        )
    ]
    for m in range(METRICS):
        for i in range(INSTANCES):
            out.append(
                SyntheticSeries(
                    f"bench_metric_{m:02d}",
                    {"job": "bench", "instance": f"i-{i}"},
                    ts,
                    noisy(ts, 10 + m, 1.0, 1000 * m + i),
                )
            )
    minutes = np.arange(end - HISTORY, end + 60.0, 60.0)
    for k, name in enumerate(counter_names(counters)):
        for i in range(INSTANCES):
            rate = np.clip(noisy(minutes, 10.0 + k, 1.0, 50_000 + 100 * k + i), 0.0, None)
            per_minute = rate * 60.0 * (0.05 if name.endswith("_sum") else 1.0)
            labels = {"job": "bench", "instance": f"i-{i}"}
            out.append(SyntheticSeries(name, labels, minutes, np.cumsum(per_minute), kind="counter"))
    counts = np.cumsum(np.full(minutes.size, 10.0))
    for caller in range(MESH_SERVICES):
        for k in range(1, MESH_CALLEES + 1):
            edge = {"source_workload": mesh_service(caller), "destination_workload": mesh_service(caller + k)}
            for code in MESH_CODES:
                labels = {**edge, "response_code": code}
                out.append(SyntheticSeries("istio_requests_total", labels, minutes, counts, kind="counter"))
            for reporter in ("source", "destination"):
                labels = {**edge, "reporter": reporter}
                ms = np.clip(noisy(minutes, 20.0, 2.0, 70_000 + 10 * caller + k), 1.0, None)
                out.append(SyntheticSeries(f"{MESH_LATENCY}_count", labels, minutes, counts))
                out.append(SyntheticSeries(f"{MESH_LATENCY}_sum", labels, minutes, np.cumsum(10.0 * ms)))
    return out


def mesh_service(index: int) -> str:
    """The mesh's services: `bench` (the alerting job's name) and svc-1 ... svc-49."""
    index %= MESH_SERVICES
    return "bench" if index == 0 else f"svc-{index}"


def incident(end: float, prometheus_url: str) -> Incident:
    return Incident(
        id="bench",
        fingerprint="bench",
        starts_at=end - 1740,
        ends_at=None,
        status="firing",
        alertname="BenchAlert",
        severity="warning",
        labels={"alertname": "BenchAlert", "job": "bench", "instance": "i-0"},
        annotations={},
        generator_url=generator_url_for(prometheus_url, 'bench_alert_ratio{job="bench"} > 0.1'),
        group_key="",
        source="alertmanager",
        first_seen=end,
        last_seen=end,
        stage="received",
    )


async def timed(runs: int, fn: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return samples


async def baseline_context(url: str, inc: Incident, settings: ContextSettings, end: float) -> None:
    """Naive: list series, then one exact query per series, sequentially; characterize one by one.

    Otherwise prometheus-api-client's defaults (gzip on)."""
    source = PrometheusSource(PrometheusSettings(url=url, retries=0, max_concurrency=1, compression=True))
    window = context_window(inc, settings, end)
    found = await source.series(['{job="bench"}'], window.start, window.end)
    for labels in found[: settings.max_related_series + 1]:
        [data] = await source.query_range(selector(labels), window.start, window.end, window.step)
        characterize_change(data.timestamps, data.values)
    await source.close()


Timings = list[float]


async def bench_context(
    url: str, end: float, runs: int, counters: int = 0
) -> tuple[Timings, Timings, Timings, Timings, Timings, Timings, int]:
    related = (METRICS + counters) * INSTANCES
    settings = ContextSettings(
        lookback_seconds=6 * 3600, step_seconds=STEP, max_related_series=related, detect_external_labels=False
    )
    meshed = settings.model_copy(update={"call_graph": [CallGraphQuery(preset="istio")]})
    inc = incident(end, url)
    source = PrometheusSource(PrometheusSettings(url=url, retries=0, max_concurrency=8))
    evidence = await collect_alert_context(inc, source, settings, now=end)
    derived = INSTANCES if counters >= 3 else 0  # the histogram's means
    assert len(evidence.series) == related + 1 + derived, len(evidence.series)
    ours = await timed(runs, lambda: collect_alert_context(inc, source, settings, now=end))
    graph = (await collect_alert_context(inc, source, meshed, now=end)).topology
    assert sum(map(len, graph.values())) == MESH_SERVICES * MESH_CALLEES, graph
    with_graph = await timed(runs, lambda: collect_alert_context(inc, source, meshed, now=end))
    timed_calls = settings.model_copy(update={"call_latency": [CallLatencyQuery(preset="istio")]})
    called = await collect_alert_context(inc, source, timed_calls, now=end)
    assert sum(s.metric == "call_latency" for s in called.series) == 2 * 2 * MESH_CALLEES, called.notes
    with_calls = await timed(runs, lambda: collect_alert_context(inc, source, timed_calls, now=end))
    fixed = settings.model_copy(update={"rate_window_seconds": 150.0})  # no count_over_time probes
    without_probes = await timed(runs, lambda: collect_alert_context(inc, source, fixed, now=end))
    await source.close()
    gzip = PrometheusSource(PrometheusSettings(url=url, retries=0, max_concurrency=8, compression=True))
    compressed = await timed(runs, lambda: collect_alert_context(inc, gzip, settings, now=end))
    await gzip.close()
    base = await timed(runs, lambda: baseline_context(url, inc, settings, end))
    return ours, with_graph, with_calls, compressed, base, without_probes, len(evidence.series)


async def bench_cycle(url: str, end: float, rules: int, store_dir: Path) -> tuple[list[float], int]:
    from receiver.storage.database import Store

    rule_list = [
        RuleSettings(
            name=f"r{n}",
            query=selector(
                {"instance": f"i-{n % INSTANCES}"}, f"bench_metric_{(n // INSTANCES) % METRICS:02d}"
            ),
            method="zscore",
        )
        for n in range(rules)
    ]

    async def nothing(_: DetectorFinding) -> None:
        return None

    results = []
    for name, concurrency, workers, pool in (
        ("threads", 8, 2, "thread"),
        ("processes", 8, 2, "process"),
        ("baseline", 1, 1, "thread"),
    ):
        source = PrometheusSource(
            PrometheusSettings(url=url, retries=0, max_concurrency=concurrency, timeout_seconds=60)
        )
        settings = DetectionSettings(rules=rule_list, max_concurrency=concurrency, workers=workers, pool=pool)
        scheduler = DetectionScheduler(Store(store_dir / f"{name}.db"), source, settings, on_anomaly=nothing)
        await warm_up(scheduler, workers)
        report = await scheduler.run_cycle(now=end)
        assert not report.errors, list(report.errors.items())[:3]
        results.append(report.duration_seconds)
        await scheduler.stop()
        await source.close()
    return results, rules


async def warm_up(scheduler: DetectionScheduler, workers: int) -> None:
    """Start the pool's workers (a process pool imports the detectors once per worker) before timing."""
    tiny = SeriesData({"__name__": "x"}, np.arange(0.0, 1200.0, 60.0), np.ones(20))
    rule = RuleSettings(name="warm", query="x", method="zscore")
    loop = asyncio.get_running_loop()
    executor = scheduler._executor  # the bench may look inside
    await asyncio.gather(
        *(
            loop.run_in_executor(executor, detect_rule, rule, [tiny], 0.0, 1140.0, 60.0)
            for _ in range(workers * 2)
        )
    )


def p(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


def main(argv: list[str] | None = None) -> int:
    parser = BenchArgumentParser(prog="python -m bench.context", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--counters", type=int, default=0, help="related counter metrics (see above)")
    args = parser.parse_args(argv)
    with parser.input_errors():
        require_binaries("promtool", "prometheus")
    end = math.floor(time.time() / 60) * 60 - 60
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        prometheus = start_backfilled_prometheus(Path(tmp) / "prometheus", synthetic(end, args.counters))
        print(
            f"backfilled {METRICS * INSTANCES + 1} series x {HISTORY / 3600:g} h (and a mesh) and started "
            "Prometheus in "
            f"{time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        try:
            ours, meshed, calls, compressed, base, fixed, count = asyncio.run(
                bench_context(prometheus.url, end, args.runs, args.counters)
            )
            (threads, processes, sequential), rules = asyncio.run(
                bench_cycle(prometheus.url, end, args.rules, Path(tmp))
            )
        finally:
            prometheus.stop()
    print(f"alert context, {count} series x 6 h at 15 s ({args.runs} runs):")
    print(f"  collect_alert_context   p50 {p(ours, 50) * 1000:7.0f} ms   p90 {p(ours, 90) * 1000:7.0f} ms")
    print(
        f"    with the istio graph  p50 {p(meshed, 50) * 1000:7.0f} ms   p90 {p(meshed, 90) * 1000:7.0f} ms"
        f"   ({MESH_SERVICES * MESH_CALLEES} edges from "
        f"{MESH_SERVICES * MESH_CALLEES * len(MESH_CODES)} series)"
    )
    print(
        f"    with istio call latency p50 {p(calls, 50) * 1000:5.0f} ms   p90 {p(calls, 90) * 1000:7.0f} ms"
        f"   ({2 * 2 * MESH_CALLEES} of {MESH_SERVICES * MESH_CALLEES * 2} calls' series kept)"
    )
    if args.counters:
        print(
            f"    rate windows fixed    p50 {p(fixed, 50) * 1000:7.0f} ms   p90 {p(fixed, 90) * 1000:7.0f} ms"
            "   (context.rate_window_seconds set: no count_over_time probes)"
        )
    print(
        f"    with gzip             p50 {p(compressed, 50) * 1000:7.0f} ms   p90 "
        f"{p(compressed, 90) * 1000:7.0f} ms"
    )
    print(
        f"  baseline (sequential)   p50 {p(base, 50) * 1000:7.0f} ms   p90 {p(base, 90) * 1000:7.0f} ms"
        f"   speed-up x{statistics.median(base) / statistics.median(ours):.1f}"
    )
    print(f"detection cycle, {rules} rules x 24 h at 60 s (pools warmed up):")
    print(f"  run_cycle, 8 fetches, 2 threads     {threads:6.1f} s   speed-up x{sequential / threads:.1f}")
    print(
        f"  run_cycle, 8 fetches, 2 processes   {processes:6.1f} s   speed-up x{sequential / processes:.1f}"
    )
    print(f"  baseline, 1 fetch, 1 thread         {sequential:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
