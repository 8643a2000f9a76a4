"""Soak: `alert-analyst serve` with a real Prometheus and a Slack destination under a steady
Alertmanager-like stream, minute by minute; the same stream against a bare aiohttp handler first.

    python -m bench.soak [--minutes 30] [--rate 150] [--warmup-minutes 2] [--baseline-minutes 1] [--workers N]
                         [--distinct-labels]

The stream (`AlertmanagerTraffic`): 75 % re-sends of a firing group unchanged, 15 % new occurrences (a
new group, or new `startsAt` for every alert of a group once `--groups` are firing), 10 % resolutions (a
firing group sent as resolved, which leaves the set). Groups are corpus payloads (tests/data/webhooks)
with their own group key and fingerprints, so groups made from one corpus payload carry the same alert
labels; with `--distinct-labels` each group's alerts also carry its number as a label (`soak_group`), so
every new group is a set of alerts never seen before. Bodies are built once per occurrence and re-sent.
Requests are sent on schedule (open loop) over one keep-alive session, whatever the answers take.

Printed per minute and overall: ack latency p50/p99/max, webhooks/s, 5xx and failed requests, the
notifications waiting to become incidents (`alert_analyst_notifications_pending`), incidents through the
pipeline per second (deliver stage) and superseded per second (their alert fired again before the
pipeline reached them), incidents waiting for pipeline work, receiver RSS, WAL and database
sizes, load average. At the end: seconds until no notification waits after the load stops and until
no incident waits for the pipeline, RSS change after warm-up, the largest WAL against
max(64 MB, database size).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import math
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.ingest import BARE_SERVER, CORPUS, rss_mb, start
from bench.inputs import BenchArgumentParser, require_binaries
from demo.processes import (
    ManagedProcess,
    ReceiverProcess,
    free_port,
    start_prometheus,
    start_receiver,
    wait_http_ok,
)

RESEND, NEW, RESOLVED = "resend", "new", "resolved"
MIX = ((RESEND, 0.75), (NEW, 0.15), (RESOLVED, 0.10))
WAL_FLOOR_BYTES = 64 * 1024 * 1024
JSON_HEADERS = {"Content-Type": "application/json"}
ROOT = Path(__file__).resolve().parents[1]


# --- the stream -------------------------------------------------------------------------------------


@dataclass
class Group:
    number: int
    payload: dict[str, Any]
    body: bytes  # the firing notification, re-sent unchanged


class AlertmanagerTraffic:
    """Bodies of an Alertmanager-like stream: re-sends, new occurrences and resolutions of groups."""

    def __init__(self, seed: int = 17, max_groups: int = 300, distinct_labels: bool = False) -> None:
        self.rng = random.Random(seed)
        self.max_groups = max_groups
        self.distinct_labels = distinct_labels
        self.templates = [
            json.loads(p.read_bytes()) for p in sorted(CORPUS.glob("*.json")) if "resolved" not in p.name
        ]
        self.firing: list[Group] = []
        self.numbers = 0
        self.occurrences = 0
        self._last_start = 0.0

    def next_body(self) -> tuple[str, bytes]:
        kind = self.rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        if not self.firing:
            kind = NEW
        if kind == RESEND:
            return kind, self.rng.choice(self.firing).body
        if kind == RESOLVED:
            group = self.firing.pop(self.rng.randrange(len(self.firing)))
            return kind, self._resolved(group)
        return kind, self._occurrence()

    def _occurrence(self) -> bytes:
        if len(self.firing) < self.max_groups:
            self.numbers += 1
            group = Group(self.numbers, self._new_group(self.numbers), b"")
            self.firing.append(group)
        else:
            group = self.rng.choice(self.firing)
        self.occurrences += 1
        self._last_start = max(time.time(), self._last_start + 0.001)  # each occurrence its own startsAt
        starts = _iso(self._last_start)
        for alert in group.payload["alerts"]:
            alert["startsAt"] = starts
        group.body = json.dumps(group.payload).encode()
        return group.body

    def _new_group(self, number: int) -> dict[str, Any]:
        payload = json.loads(json.dumps(self.rng.choice(self.templates)))
        payload["status"] = "firing"
        payload["groupKey"] = f'{{}}:{{soak_group="{number}"}}'
        payload["groupLabels"] = {**payload.get("groupLabels", {}), "soak_group": str(number)}
        for i, alert in enumerate(payload["alerts"]):
            alert.update(status="firing", endsAt="0001-01-01T00:00:00Z", fingerprint=f"{number:08x}{i:08x}")
            if self.distinct_labels:
                alert["labels"] = {**alert["labels"], "soak_group": str(number)}
        return payload

    @staticmethod
    def _resolved(group: Group) -> bytes:
        payload = json.loads(group.body)
        ends = _iso(time.time())
        payload["status"] = "resolved"
        for alert in payload["alerts"]:
            alert.update(status="resolved", endsAt=ends)
        return json.dumps(payload).encode()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


# --- what is measured -------------------------------------------------------------------------------


@dataclass
class Sample:
    """The receiver's state at one instant (every second)."""

    at: float
    pending: float  # notifications waiting to become incidents
    delivered: float  # deliver-stage completions so far
    superseded: float  # incidents closed by a newer occurrence of their alert so far
    rss_mb: float
    wal_bytes: int
    db_bytes: int
    pipeline_waiting: int | None = None  # incidents with a stage or resolution left (every 5th sample)


@dataclass
class Window:
    """Acks and samples of one minute (or of the whole run)."""

    label: str
    latencies: list[float] = field(default_factory=list)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: int = 0
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 60.0
    load: float = 0.0

    def quantile(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100)[q - 1] * 1000

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    def summary(self) -> dict[str, Any]:
        first, last = (self.samples[0], self.samples[-1]) if self.samples else (None, None)
        span = (last.at - first.at) if first and last and last.at > first.at else float("nan")

        def rate(field: str) -> float:
            return (getattr(last, field) - getattr(first, field)) / span if first and last else float("nan")

        waiting = [s.pipeline_waiting for s in self.samples if s.pipeline_waiting is not None]
        return {
            "window": self.label,
            "acks": len(self.latencies),
            "webhooks_per_s": len(self.latencies) / self.seconds,
            "p50_ms": self.quantile(50),
            "p99_ms": self.quantile(99),
            "max_ms": max(self.latencies, default=float("nan")) * 1000,
            "5xx": self.server_errors,
            "failed": self.failures,
            "pending_max": max((s.pending for s in self.samples), default=float("nan")),
            "pending_end": last.pending if last else float("nan"),
            "incidents_per_s": rate("delivered"),
            "superseded_per_s": rate("superseded"),
            "pipeline_waiting_end": waiting[-1] if waiting else None,
            "rss_mb": last.rss_mb if last else float("nan"),
            "wal_mb_max": max((s.wal_bytes for s in self.samples), default=0) / 2**20,
            "db_mb": last.db_bytes / 2**20 if last else float("nan"),
            "load": self.load,
        }


def parse_metrics(text: str) -> tuple[float, float, float]:
    """Notifications pending, deliver-stage completions and superseded incidents, from /metrics."""
    pending = delivered = superseded = 0.0
    for line in text.splitlines():
        if line.startswith("alert_analyst_notifications_pending "):
            pending = float(line.split()[-1])
        elif line.startswith("alert_analyst_stage_duration_seconds_count{") and 'stage="deliver"' in line:
            delivered += float(line.split()[-1])
        elif line.startswith("alert_analyst_incidents_superseded_total "):
            superseded = float(line.split()[-1])
    return pending, delivered, superseded


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def table_sizes(db_path: Path, top: int = 8) -> dict[str, float]:
    """The largest tables and indexes of the database, in MB (SQLite's dbstat)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute(
            "SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT ?", (top,)
        ).fetchall()
    return {name: size / 2**20 for name, size in rows}


def count_pipeline_waiting(db_path: Path) -> int:
    """Incidents with a stage left to run or a resolution to deliver (a read-only look at the database)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM incidents WHERE stage != 'done' OR resolve_pending = 1")
        return int(row.fetchone()[0])


# --- load and sampling ------------------------------------------------------------------------------


class Soak:
    """Drives one receiver (or the bare handler) at `rate` webhooks/s and collects minute windows."""

    def __init__(self, url: str, pid: int, db_path: Path | None, rate: float, window_seconds: float) -> None:
        self.url = url
        self.pid = pid
        self.db_path = db_path
        self.rate = rate
        self.window_seconds = window_seconds
        self.windows: list[Window] = []
        self.duration = 0.0
        self.live = False
        self.kinds: collections.Counter[str] = collections.Counter()
        self._inflight: set[asyncio.Task[None]] = set()

    def _window(self, started: float, now: float) -> Window:
        last = max(0, math.ceil(self.duration / self.window_seconds) - 1)
        index = min(last, int((now - started) // self.window_seconds))
        while len(self.windows) <= index:
            self.windows.append(Window(f"{len(self.windows) + 1}", seconds=self.window_seconds))
        return self.windows[index]

    async def run(self, traffic: AlertmanagerTraffic, seconds: float) -> None:
        self.duration = seconds
        timeout = aiohttp.ClientTimeout(total=60)
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            started = time.monotonic()
            sampler = asyncio.create_task(self._sample_forever(session, started))
            try:
                await self._send_steady(session, traffic, started, seconds)
                await asyncio.gather(*self._inflight)
            finally:
                sampler.cancel()
        for number, window in enumerate(self.windows):
            window.seconds = max(1e-3, min(self.window_seconds, seconds - number * self.window_seconds))
            window.load = window.load or os.getloadavg()[0]

    async def _send_steady(
        self, session: aiohttp.ClientSession, traffic: AlertmanagerTraffic, started: float, seconds: float
    ) -> None:
        interval = 1.0 / self.rate
        due = started
        while due < started + seconds:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            kind, body = traffic.next_body()
            self.kinds[kind] += 1
            task = asyncio.create_task(self._post(session, body, self._window(started, due)))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            due += interval

    async def _post(self, session: aiohttp.ClientSession, body: bytes, window: Window) -> None:
        sent = time.perf_counter()
        try:
            async with session.post(self.url, data=body, headers=JSON_HEADERS) as resp:
                await resp.read()
                window.statuses[resp.status] += 1
        except (aiohttp.ClientError, TimeoutError):
            window.failures += 1
            return
        window.latencies.append(time.perf_counter() - sent)

    async def _sample_forever(self, session: aiohttp.ClientSession, started: float) -> None:
        tick = 0
        while True:
            now = time.monotonic()
            sample = await self.sample(session, count_waiting=tick % 5 == 0)
            window = self._window(started, now)
            if self.live and len(self.windows) > 1 and window is self.windows[-1] and not window.samples:
                print(format_row(self.windows[-2].summary()), flush=True)  # as it goes; the table at the end
            window.samples.append(sample)
            window.load = os.getloadavg()[0]
            tick += 1
            await asyncio.sleep(max(0.0, started + tick - time.monotonic()))

    async def sample(self, session: aiohttp.ClientSession, count_waiting: bool = False) -> Sample:
        pending = delivered = superseded = float("nan")
        if self.db_path is not None:
            base = self.url.rsplit("/webhook/", 1)[0]
            async with session.get(f"{base}/metrics") as resp:
                pending, delivered, superseded = parse_metrics(await resp.text())
        waiting = None
        if self.db_path is not None and count_waiting:
            waiting = await asyncio.to_thread(count_pipeline_waiting, self.db_path)
        wal = file_size(Path(f"{self.db_path}-wal")) if self.db_path else 0
        db = file_size(self.db_path) if self.db_path else 0
        return Sample(time.monotonic(), pending, delivered, superseded, rss_mb(self.pid), wal, db, waiting)

    async def seconds_until_drained(self, within: float) -> float:
        """After the load: seconds until no notification waits to become an incident (inf: not within)."""
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - started < within:
                sample = await self.sample(session)
                if sample.pending == 0:
                    return time.monotonic() - started
                await asyncio.sleep(0.1)
        return float("inf")

    async def pipeline_after_load(self, within: float) -> tuple[float, int, float]:
        """After the load: seconds until no incident waits for pipeline work (inf: not within), how many
        still wait then, and the deliver-stage rate meanwhile (incidents/s)."""
        if self.db_path is None:
            return float("nan"), 0, float("nan")
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            first = await self.sample(session)
            while True:
                waiting = await asyncio.to_thread(count_pipeline_waiting, self.db_path)
                elapsed = time.monotonic() - started
                if waiting == 0 or elapsed >= within:
                    last = await self.sample(session)
                    rate = (last.delivered - first.delivered) / max(last.at - first.at, 1e-3)
                    return (elapsed if waiting == 0 else float("inf")), waiting, rate
                await asyncio.sleep(0.5)


def overall(windows: list[Window], label: str) -> Window:
    total = Window(label, seconds=sum(w.seconds for w in windows) or 1.0)
    for w in windows:
        total.latencies.extend(w.latencies)
        total.statuses.update(w.statuses)
        total.failures += w.failures
        total.samples.extend(w.samples)
    total.load = max((w.load for w in windows), default=0.0)
    return total


# --- processes --------------------------------------------------------------------------------------


SLACK_TOKEN = "xoxb-soak-token"


@dataclass
class LeanSlack:
    """Slack's Web API as the Slack sink calls it (chat.postMessage, chat.update, conversations.history and
    .replies; errors as HTTP 200 `ok: false`), keeping of each message only its channel and ts (a soak
    posts for hours) and the number of calls per method (`GET /stats`)."""

    token: str = SLACK_TOKEN
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    posted: set[tuple[str, str]] = field(default_factory=set)
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/chat.postMessage", self._post_message)
        app.router.add_post("/api/chat.update", self._update)
        app.router.add_route("*", "/api/conversations.history", self._history)
        app.router.add_route("*", "/api/conversations.replies", self._replies)
        app.router.add_get("/stats", self._stats)
        return app

    async def _arguments(self, request: web.Request, method: str) -> dict[str, Any] | None:
        """The call's arguments (JSON body, form or query string), counted; None if the token is wrong."""
        self.calls[method] += 1
        if request.method == "POST" and request.content_type == "application/json":
            args = dict(await request.json())
        elif request.method == "POST":
            args = dict(await request.post())
        else:
            args = dict(request.query)
        return args if request.headers.get("Authorization") == f"Bearer {self.token}" else None

    async def _post_message(self, request: web.Request) -> web.Response:
        args = await self._arguments(request, "chat.postMessage")
        if args is None:
            return slack_error("invalid_auth")
        blocks = json.loads(args["blocks"]) if isinstance(args.get("blocks"), str) else args.get("blocks")
        if not args.get("text") and not blocks:
            return slack_error("no_text")
        if blocks is not None and len(blocks) > 50:
            return slack_error("invalid_blocks")
        if not args.get("channel"):
            return slack_error("channel_not_found")
        n = next(self._clock)
        channel, ts = str(args["channel"]), f"{1_700_000_000 + n}.{n:06d}"
        self.posted.add((channel, ts))
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": {}})

    async def _update(self, request: web.Request) -> web.Response:
        args = await self._arguments(request, "chat.update")
        if args is None:
            return slack_error("invalid_auth")
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if (channel, ts) not in self.posted:
            return slack_error("message_not_found")
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "text": ""})

    async def _history(self, request: web.Request) -> web.Response:
        if await self._arguments(request, "conversations.history") is None:
            return slack_error("invalid_auth")
        return web.json_response({"ok": True, "messages": [], "has_more": False})  # no bodies kept

    async def _replies(self, request: web.Request) -> web.Response:
        args = await self._arguments(request, "conversations.replies")
        if args is None:
            return slack_error("invalid_auth")
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if (channel, ts) not in self.posted:
            return slack_error("thread_not_found")
        return web.json_response({"ok": True, "messages": [{"channel": channel, "ts": ts}]})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.calls))


def slack_error(error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error})


def serve_fake_slack(port: int) -> None:
    """Entry point of the fake Slack's own process."""
    web.run_app(LeanSlack().app(), host="127.0.0.1", port=port, print=None, access_log=None)


def start_fake_slack(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    code = f"from bench.soak import serve_fake_slack; serve_fake_slack({port})"
    with (workdir / "slack.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    wait_http_ok(f"http://127.0.0.1:{port}/stats", proc=proc)
    return proc, f"http://127.0.0.1:{port}"


def prometheus_config(receiver_port: int) -> str:
    return (
        "global:\n  scrape_interval: 5s\n"
        "scrape_configs:\n"
        "  - job_name: prometheus\n    static_configs: [{targets: ['127.0.0.1:__PROM__']}]\n"
        f"  - job_name: alert-analyst\n    static_configs: [{{targets: ['127.0.0.1:{receiver_port}']}}]\n"
    )


@contextmanager
def soak_stack(
    workdir: Path, workers: int | None = None
) -> Iterator[tuple[ReceiverProcess, ManagedProcess, str]]:
    """Prometheus, the fake Slack and `alert-analyst serve` configured with both; stopped on exit.

    `workers`: the receiver's `pipeline.workers` (its default when None)."""
    receiver_port, prom_port = free_port(), free_port()
    config = prometheus_config(receiver_port).replace("__PROM__", str(prom_port))
    prometheus = start_prometheus(workdir / "prometheus", config, port=prom_port)
    slack_proc: subprocess.Popen[bytes] | None = None
    receiver: ReceiverProcess | None = None
    try:
        slack_proc, slack_url = start_fake_slack(workdir)
        receiver = start_receiver(
            workdir / "receiver",
            {
                "prometheus": {"url": prometheus.url},
                "slack": {"token": SLACK_TOKEN, "channel": "C0ALERTS", "api_url": f"{slack_url}/api/"},
                "log": {"level": "warning"},
                **({"pipeline": {"workers": workers}} if workers else {}),
            },
            port=receiver_port,
        )
        yield receiver, prometheus, slack_url
    finally:
        if receiver is not None:
            receiver.terminate()
        if slack_proc is not None:
            slack_proc.terminate()
            slack_proc.wait()
        prometheus.stop()


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class SoakReport:
    baseline: dict[str, Any]
    minutes: list[dict[str, Any]]
    total: dict[str, Any]
    after_warmup: dict[str, Any]
    kinds: dict[str, int]
    drain_seconds: float
    pipeline_idle_seconds: float
    pipeline_left: int
    pipeline_rate_after: float
    rss_warm_mb: float
    rss_end_mb: float
    rss_range_mb: tuple[float, float]
    wal_max_mb: float
    wal_limit_mb: float
    slack_calls: dict[str, int]
    tables_mb: dict[str, float]
    generator_cpu_seconds: float
    log_errors: int

    def goals(self) -> dict[str, bool]:
        return {
            "ack p99 <= 100 ms": self.after_warmup["p99_ms"] <= 100,
            "notifications backlog 0 within 10 s": self.drain_seconds <= 10,
            "pipeline idle within 10 s": self.pipeline_idle_seconds <= 10,
            "RSS +-10 MB after warm-up": max(abs(r - self.rss_warm_mb) for r in self.rss_range_mb) <= 10,
            "WAL <= max(64 MB, db)": self.wal_max_mb <= self.wal_limit_mb,
            "no 5xx": self.total["5xx"] == 0 and self.total["failed"] == 0,
        }


def run_baseline(seconds: float, rate: float, workdir: Path) -> dict[str, Any]:
    """The same stream against a bare aiohttp handler that reads the body and answers 200."""
    port = free_port()
    bare = start([sys.executable, "-c", BARE_SERVER, str(port)], port, str(workdir))
    try:
        soak = Soak(f"http://127.0.0.1:{port}/webhook/alertmanager", bare.pid, None, rate, max(seconds, 1.0))
        asyncio.run(soak.run(AlertmanagerTraffic(seed=3), seconds))
    finally:
        bare.terminate()
        bare.wait()
    return overall(soak.windows, "bare handler").summary()


def run_soak(
    minutes: float,
    rate: float,
    warmup_minutes: float,
    baseline_minutes: float = 1.0,
    groups: int = 300,
    window_seconds: float = 60.0,
    drain_timeout: float = 120.0,
    pipeline_wait: float = 60.0,
    live: bool = False,
    workers: int | None = None,
    distinct_labels: bool = False,
) -> SoakReport:
    cpu_before = time.process_time()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = Path(tmp)
        baseline = run_baseline(baseline_minutes * 60, rate, workdir)
        with soak_stack(workdir, workers) as (receiver, _, slack_url):
            db_path = workdir / "receiver" / "alert-analyst.db"
            soak = Soak(
                f"{receiver.url}/webhook/alertmanager", receiver.proc.pid, db_path, rate, window_seconds
            )
            traffic = AlertmanagerTraffic(max_groups=groups, distinct_labels=distinct_labels)
            soak.live = live
            if live:
                print(HEADER, flush=True)
            asyncio.run(soak.run(traffic, minutes * 60))
            drained = asyncio.run(soak.seconds_until_drained(drain_timeout))
            idle, still_waiting, after_rate = asyncio.run(soak.pipeline_after_load(pipeline_wait))
            slack_calls = read_json(f"{slack_url}/stats")
            tables = table_sizes(db_path)
            log_errors = count_log_errors(receiver.log())
    samples = [s for w in soak.windows for s in w.samples]
    warm_at = samples[0].at + warmup_minutes * 60 if samples else 0.0
    warm = [s for s in samples if s.at >= warm_at] or samples[-1:]
    warm_windows = soak.windows[int(warmup_minutes * 60 // window_seconds) :] or soak.windows[-1:]
    wal_max = max(s.wal_bytes for s in samples)
    db_max = max(s.db_bytes for s in samples)
    return SoakReport(
        baseline=baseline,
        minutes=[w.summary() for w in soak.windows],
        total=overall(soak.windows, "all").summary(),
        after_warmup=overall(warm_windows, "after warm-up").summary(),
        kinds=dict(soak.kinds),
        drain_seconds=drained,
        pipeline_idle_seconds=idle,
        pipeline_left=still_waiting,
        pipeline_rate_after=after_rate,
        rss_warm_mb=warm[0].rss_mb,
        rss_end_mb=warm[-1].rss_mb,
        rss_range_mb=(min(s.rss_mb for s in warm), max(s.rss_mb for s in warm)),
        wal_max_mb=wal_max / 2**20,
        wal_limit_mb=max(WAL_FLOOR_BYTES, db_max) / 2**20,
        slack_calls=slack_calls,
        tables_mb=tables,
        generator_cpu_seconds=time.process_time() - cpu_before,
        log_errors=log_errors,
    )


def read_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def count_log_errors(log: str) -> int:
    """Lines the receiver logged at error level (or tracebacks it printed)."""
    count = 0
    for line in log.splitlines():
        try:
            count += json.loads(line).get("level") in ("error", "critical")
        except (ValueError, AttributeError):
            count += line.startswith("Traceback")
    return count


# --- output -----------------------------------------------------------------------------------------

HEADER = (
    f"{'minute':>8} {'webhooks/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'5xx':>4} {'fail':>4}"
    f" {'pending max/end':>15} {'incidents/s':>11} {'superseded/s':>12} {'pipeline wait':>13} {'RSS MB':>6}"
    f" {'WAL MB max':>10} {'db MB':>6} {'load':>5}"
)


def format_row(row: dict[str, Any]) -> str:
    waiting = "-" if row["pipeline_waiting_end"] is None else str(row["pipeline_waiting_end"])
    return (
        f"{row['window']:>8} {row['webhooks_per_s']:10.1f} {row['p50_ms']:7.1f} {row['p99_ms']:7.1f}"
        f" {row['max_ms']:7.0f} {row['5xx']:4d} {row['failed']:4d}"
        f" {row['pending_max']:7.0f}/{row['pending_end']:<7.0f} {row['incidents_per_s']:11.1f}"
        f" {row['superseded_per_s']:12.1f}"
        f" {waiting:>13} {row['rss_mb']:6.0f} {row['wal_mb_max']:10.1f} {row['db_mb']:6.1f}"
        f" {row['load']:5.2f}"
    )


def print_report(report: SoakReport, minutes: float, rate: float, warmup: float) -> None:
    b = report.baseline
    print(f"soak: {minutes:g} min at {rate:g} webhooks/s, warm-up {warmup:g} min; sent {report.kinds}")
    print(
        f"baseline, bare aiohttp handler, same stream: {b['webhooks_per_s']:.1f} webhooks/s,"
        f" p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, max {b['max_ms']:.0f} ms"
        f" (load {b['load']:.2f})"
    )
    print(HEADER)
    for row in [*report.minutes, report.after_warmup, report.total]:
        print(format_row(row))
    print(
        f"after the load: no notification pending after {report.drain_seconds:.1f} s;"
        f" pipeline idle after {report.pipeline_idle_seconds:.1f} s"
        f" ({report.pipeline_left} incidents still waiting, {report.pipeline_rate_after:.1f} incidents/s)"
    )
    low, high = report.rss_range_mb
    print(
        f"RSS after warm-up {report.rss_warm_mb:.0f} MB, at the end {report.rss_end_mb:.0f} MB"
        f" (range {low:.0f}-{high:.0f} MB); WAL max {report.wal_max_mb:.1f} MB"
        f" vs max(64 MB, db) {report.wal_limit_mb:.1f} MB"
    )
    print(
        f"Slack calls {report.slack_calls}; receiver log errors {report.log_errors};"
        f" load generator CPU {report.generator_cpu_seconds:.0f} s"
    )
    print("largest tables (MB):", ", ".join(f"{name} {mb:.1f}" for name, mb in report.tables_mb.items()))
    goals = report.goals()
    print("goals:", "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in goals.items()))


def main() -> int:
    parser = BenchArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--warmup-minutes", type=float, default=2.0)
    parser.add_argument("--baseline-minutes", type=float, default=1.0)
    parser.add_argument("--groups", type=int, default=300, help="firing groups at most")
    parser.add_argument("--workers", type=int, help="the receiver's pipeline.workers (default: its own)")
    parser.add_argument(
        "--distinct-labels", action="store_true", help="label each group's alerts with its number"
    )
    args = parser.parse_args()
    with parser.input_errors():
        require_binaries("prometheus")
    report = run_soak(
        args.minutes,
        args.rate,
        args.warmup_minutes,
        args.baseline_minutes,
        args.groups,
        live=True,
        workers=args.workers,
        distinct_labels=args.distinct_labels,
    )
    print_report(report, args.minutes, args.rate, args.warmup_minutes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
