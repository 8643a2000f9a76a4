"""Alert storm benchmark: how long a lone alert of another group waits behind a storm in one group.

    python -m bench.storm [--alerts 5000] [--analysis-ms 25] [--lone-after 1.0] [--queue-size 1000]
                          [--prometheus]

One notification of `--alerts` alerts in one group (InstanceDown across a fleet; Alertmanager's webhook
`max_alerts` is 0, all, by default), then, `--lone-after` seconds later, one alert of another group.
Both go the way a webhook's notification goes: committed as the webhook commits it, materialised into
incidents by the receiver's Materializer, analysed by its Pipeline over a fresh SQLite file (the
receiver's defaults: 16 workers, 4 analysis slots, `--queue-size`). The analysis is a stand-in of fixed
cost: `collect_evidence` holds an analysis slot for `--analysis-ms` (the other stages only record). With
`--prometheus`, the real stages instead (evidence over PromQL, detection, the built-in analyst; no
delivery) against a local Prometheus scraping itself, the alerts labelled with its job and instance.

Two runs in one: the fair queue (alert groups in turn, the sweeper's refill too), and a FIFO baseline
(one lane, refusing what does not fit, the sweeper oldest first: the pipeline's queue before fair
scheduling; its analysis slots are today's fair ones, which cannot help an alert no worker has taken).
With `--prometheus` a third between them: the fair queue with every alert asking Prometheus for itself
(`prometheus.share_seconds` 0; the default shares identical queries made at once or within 15 s).
Prints for each: the lone alert's time from its notification to its diagnosis (the `diagnose` stage
done) and how many of the storm were diagnosed meanwhile, and the storm's throughput (diagnoses/s from
its notification until its last diagnosis).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from unittest import mock

import sqlite_utils

from analyst.builtin.analyst import BuiltinAnalyst
from bench.inputs import BenchArgumentParser, require_binaries
from bench.sweep import FIFO_SQL
from demo.processes import ManagedProcess, free_port, start_prometheus
from receiver.config import PipelineSettings
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from receiver.evidence.shared import SharedSource
from receiver.evidence.source import MetricSource
from receiver.logs import configure_logging
from receiver.metrics import create_metrics
from receiver.payload import parse_webhook
from receiver.pipeline.fair_queue import FairQueue
from receiver.pipeline.materializer import Materializer
from receiver.pipeline.stages import StagePlugins, build_stages
from receiver.pipeline.workers import Pipeline, StageContext, StageFn, StageOutcome
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store
from receiver.testing import wait_idle

# Of scrapes, for the evidence to find: more than two query steps (15 s each), so that a window that ends
# at the last whole step always holds some (10 s did not, in about half the runs: their evidence was empty).
PROMETHEUS_HISTORY_SECONDS = 35.0
TEMPLATE = (
    Path(__file__).resolve().parents[1] / "tests" / "data" / "webhooks" / "captured-am025-prom242-firing.json"
)


def group_notification(group: str, alerts: int, labels: dict[str, str]) -> bytes:
    """A notification of alert group `group` firing since now: `alerts` alerts, one per node."""
    payload = json.loads(TEMPLATE.read_bytes())
    template = payload["alerts"][0]
    payload["groupKey"] = f'{{}}:{{alertname="{group}"}}'
    payload["groupLabels"] = {"alertname": group}
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    payload["alerts"] = []
    for n in range(alerts):
        alert = copy.deepcopy(template)
        alert["labels"] = {**alert["labels"], **labels, "alertname": group, "node": f"node-{n}"}
        alert["fingerprint"] = f"{group}-{n:08d}"
        alert["startsAt"] = starts
        payload["alerts"].append(alert)
    return json.dumps(payload).encode()


class FifoQueue(FairQueue[Hashable, str]):
    """The queue before fair scheduling: one lane, first in first out, refusing what does not fit."""

    def put(self, lane: Hashable, item: str) -> str | None:
        return super().put(None, item)


def fifo_work_ids(db: sqlite_utils.Database, limit: int) -> dict[str, str]:
    """The sweeper's order before fair scheduling: the oldest incidents first (`bench.sweep.FIFO_SQL`)."""
    rows = db.conn.execute(FIFO_SQL, (limit,)).fetchall()
    return {str(incident_id): str(group) for incident_id, group in rows}


@contextlib.contextmanager
def scheduling(fair: bool, queue_size: int) -> Iterator[FairQueue[Hashable, str] | None]:
    """The queue to give the Pipeline (None: its own); for the FIFO baseline, an oldest-first sweep."""
    if fair:
        yield None
        return
    with mock.patch.object(db_incidents, "work_ids", fifo_work_ids):
        yield FifoQueue(queue_size)


@dataclass
class Diagnoses:
    """When each incident's `diagnose` stage finished (perf_counter seconds), and how many series its
    evidence held."""

    at: dict[str, float]
    series: list[int] = field(default_factory=list)

    def timed(self, stages: dict[str, StageFn]) -> dict[str, StageFn]:
        """`stages`, with the end of `diagnose` (or of its stand-in) noted."""
        diagnosis = stages.get("diagnose")

        async def diagnose(ctx: StageContext) -> StageOutcome:
            outcome = await diagnosis(ctx) if diagnosis is not None else StageOutcome("ok")
            self.at[ctx.incident.id] = time.perf_counter()
            if ctx.state.evidence is not None:
                self.series.append(len(ctx.state.evidence.series))
            return outcome

        return {**stages, "diagnose": diagnose}


def fixed_cost_stages(analysis_seconds: float) -> dict[str, StageFn]:
    """A stand-in analysis: an analysis slot held for `analysis_seconds`."""

    async def collect_evidence(ctx: StageContext) -> StageOutcome:
        async with ctx.heavy_work():
            await asyncio.sleep(analysis_seconds)
        return StageOutcome("ok")

    return {"collect_evidence": collect_evidence}


def real_stages(source: MetricSource) -> dict[str, StageFn]:
    """The receiver's stages over `source` and the built-in analyst, delivering nowhere."""
    return build_stages(StagePlugins(source, ContextSettings(), BuiltinAnalyst(), delivery=None))


@contextlib.contextmanager
def local_prometheus(workdir: Path) -> Iterator[ManagedProcess]:
    """A Prometheus that scraped itself every second for PROMETHEUS_HISTORY_SECONDS, then stopped
    (reloaded without targets): every run's evidence sees the same data, however long the runs take."""
    port = free_port()
    scraping = (
        "global:\n  scrape_interval: 1s\nscrape_configs:\n"
        f"  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    prometheus = start_prometheus(workdir, scraping, port=port)
    try:
        time.sleep(PROMETHEUS_HISTORY_SECONDS)
        (workdir / "prometheus.yml").write_text("global:\n  scrape_interval: 1s\n")
        urllib.request.urlopen(
            urllib.request.Request(f"{prometheus.url}/-/reload", method="POST"), timeout=10
        )
        yield prometheus
    finally:
        prometheus.stop()


@dataclass(frozen=True)
class Storm:
    """One run's shape: the storm's size, when the lone alert comes, the analysis, the queue."""

    alerts: int
    lone_after: float
    analysis_seconds: float
    queue_size: int
    prometheus: ManagedProcess | None = None  # None: the fixed-cost stand-in

    def labels(self) -> dict[str, str]:
        """Labels every alert gets: Prometheus's own job and instance, so evidence has series to find."""
        if self.prometheus is None:
            return {}
        return {"job": "prometheus", "instance": f"127.0.0.1:{self.prometheus.port}"}


@dataclass
class Result:
    name: str
    lone_seconds: float
    storm_meanwhile: int
    storm_per_second: float
    storm_seconds: float
    series: float | None = None  # the evidence's series per incident, median (real stages only)


async def run_once(name: str, fair: bool, storm: Storm, share: bool = True) -> Result:
    """One run; `share`: identical queries share one answer (`prometheus.share_seconds`, the default)."""
    storm_body = group_notification("InstanceDown", storm.alerts, storm.labels())
    lone_body = group_notification("PaymentsFailing", 1, storm.labels())
    [lone] = db_incidents.incident_ids(parse_webhook(lone_body))
    diagnoses = Diagnoses({})
    settings = PipelineSettings(queue_size=storm.queue_size)
    source = None
    if storm.prometheus is not None:
        backend = PrometheusSettings(url=storm.prometheus.url, share_seconds=15.0 if share else 0.0)
        source = SharedSource(PrometheusSource(backend), backend)
        stages = real_stages(source)
    else:
        stages = fixed_cost_stages(storm.analysis_seconds)
    with tempfile.TemporaryDirectory() as tmp, scheduling(fair, storm.queue_size) as queue:
        store = Store(Path(tmp) / "storm.db")
        metrics = create_metrics()
        pipeline = Pipeline(store, diagnoses.timed(stages), settings, metrics, queue=queue)
        materializer = Materializer(store, pipeline, settings, metrics)
        await pipeline.start()
        await materializer.start()
        storm_sent = await accept(store, materializer, storm_body)
        await asyncio.sleep(storm.lone_after)
        lone_sent = await accept(store, materializer, lone_body)
        await wait_idle(pipeline, within=3600)
        await materializer.stop()
        await pipeline.stop()
        store.close()
    if source is not None:
        await source.close()
    storm_done = [at for incident, at in diagnoses.at.items() if incident != lone]
    lone_done, last = diagnoses.at[lone], max(storm_done)
    return Result(
        name,
        lone_seconds=lone_done - lone_sent,
        storm_meanwhile=sum(lone_sent <= at < lone_done for at in storm_done),
        storm_per_second=len(storm_done) / (last - storm_sent),
        storm_seconds=last - storm_sent,
        series=statistics.median(diagnoses.series) if diagnoses.series else None,
    )


async def accept(store: Store, materializer: Materializer, body: bytes) -> float:
    """What the webhook does before it answers: commit the notification and wake the materializer."""
    sent = time.perf_counter()
    await store.write(db_incidents.accept_notification, parse_webhook(body), body)
    materializer.accepted()
    return sent


def report(storm: Storm) -> None:
    analysis = (
        "the real stages against a local Prometheus"
        if storm.prometheus is not None
        else f"a {storm.analysis_seconds * 1000:g}-ms stand-in analysis"
    )
    print(
        f"storm of {storm.alerts} alerts in one group, a lone alert of another group {storm.lone_after:g} s"
        f" later; {analysis}, 4 analysis slots; queue {storm.queue_size}"
    )
    runs = [("fair", True, True), ("FIFO", False, True)]
    if storm.prometheus is not None:  # and the queries of the storm's alerts asked one by one
        runs.insert(1, ("fair, queries not shared", True, False))
    for name, fair, share in runs:
        result = asyncio.run(run_once(name, fair, storm, share))
        print(
            f"  {result.name:<25} lone alert diagnosed after {result.lone_seconds:7.2f} s"
            f" ({result.storm_meanwhile:5d} of the storm meanwhile);"
            f" storm {result.storm_per_second:6.1f} diagnoses/s, all in {result.storm_seconds:6.1f} s"
            + (f"; evidence {result.series:g} series each" if result.series is not None else ""),
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = BenchArgumentParser(
        prog="python -m bench.storm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--alerts", type=int, default=5000, help="alerts in the storm's one notification")
    parser.add_argument("--analysis-ms", type=float, default=25.0, help="stand-in analysis time per incident")
    parser.add_argument(
        "--lone-after", type=float, default=1.0, help="seconds from the storm to the lone alert"
    )
    parser.add_argument("--queue-size", type=int, default=PipelineSettings().queue_size)
    parser.add_argument(
        "--prometheus", action="store_true", help="the real stages against a local Prometheus"
    )
    args = parser.parse_args(argv)
    if args.alerts < 1 or args.analysis_ms < 0 or args.lone_after < 0 or args.queue_size < 1:
        parser.error(
            "--alerts and --queue-size must be at least 1, --analysis-ms and --lone-after at least 0"
        )
    configure_logging("warning", "console")
    storm = Storm(args.alerts, args.lone_after, args.analysis_ms / 1000, args.queue_size)
    if not args.prometheus:
        report(storm)
        return 0
    with parser.input_errors():
        require_binaries("prometheus")
    with tempfile.TemporaryDirectory() as tmp, local_prometheus(Path(tmp)) as prometheus:
        report(replace(storm, prometheus=prometheus))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
