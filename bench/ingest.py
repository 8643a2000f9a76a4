"""Webhook ingest benchmark: `alert-analyst serve` against a bare aiohttp handler, same load, same run.

    python -m bench.ingest [--requests 10000] [--concurrency 50] [--rate 150 --seconds 20]

Each request is a corpus payload (1-31 alerts) with fresh fingerprints and startsAt, so every webhook
creates incidents (the worst case: nothing is a duplicate). Prints p50/p99 ack latency, throughput and
the receiver's RSS after the run (the larger of: right after the last ack, after the backlog is drained),
and how long after the last ack every notification had become incidents (the answer waits for the raw
notification's commit; incidents are materialised right behind it).

Two loads. *Closed loop* (`--concurrency` clients, each posting as soon as its last answer came) measures
throughput; its latency is `concurrency / throughput` by Little's law, so comparing it against the bare
handler compares throughputs. *Open loop* (`--rate` webhooks/s offered on a fixed schedule, whatever the
answers, for `--seconds`) is what Alertmanagers do: both servers get the same offered load, and each
latency runs from the request's scheduled time (a server that falls behind is charged for the queue it
builds, not spared it). The p99 target compares the open-loop tails; `--rate 0` skips that run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from demo.processes import free_port, wait_http_ok

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "webhooks"

BARE_SERVER = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.json_response({"status": "ok"})
app = web.Application(client_max_size=4 * 1024 * 1024)
app.router.add_post("/webhook/alertmanager", ok)
app.router.add_get("/-/ready", lambda r: web.Response(text="OK"))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def make_bodies(count: int, seed: int = 7, first: int = 0) -> list[bytes]:
    """`count` corpus payloads with unique fingerprints, numbered from `first`."""
    rng = random.Random(seed)
    templates = [json.loads(p.read_bytes()) for p in sorted(CORPUS.glob("*.json"))]
    bodies = []
    for n in range(first, first + count):
        payload = json.loads(json.dumps(rng.choice(templates)))
        for i, alert in enumerate(payload["alerts"]):
            alert["fingerprint"] = f"{n:08x}{i:08x}"
            alert["startsAt"] = f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:{i % 60:02d}:00Z"
        bodies.append(json.dumps(payload).encode())
    return bodies


async def timed_post(session: aiohttp.ClientSession, url: str, body: bytes) -> float:
    """Seconds until `url` answered the POST of `body` (anything but 200 raises)."""
    started = time.perf_counter()
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
    return time.perf_counter() - started


async def drive(url: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                latencies.append(await timed_post(session, url, queue.get_nowait()))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, wall


async def drive_at_rate(url: str, bodies: list[bytes], rate: float) -> tuple[list[float], float]:
    """Post `bodies` at `rate` a second on a fixed schedule (open loop); each latency from its scheduled
    send time to its answer. One task per request, started at its time (not all created up front)."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def one(due: float, body: bytes) -> None:
            await timed_post(session, url, body)
            latencies.append(loop.time() - due)

        tasks = []
        for index, body in enumerate(bodies):
            due = started + index / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            tasks.append(asyncio.create_task(one(due, body)))
        await asyncio.gather(*tasks)
        wall = loop.time() - started
    return latencies, wall


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summarize(name: str, latencies: list[float], wall: float) -> dict[str, Any]:
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "name": name,
        "requests": len(latencies),
        "throughput": len(latencies) / wall,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def drain_seconds(base: str, timeout: float = 300.0) -> float:
    """Seconds until the receiver has turned every acknowledged notification into incidents."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        if "\nalert_analyst_notifications_pending 0.0\n" in text:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise TimeoutError("notifications still pending")


def count_incidents(db_path: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM incidents").fetchone()[0])


def start(argv: list[str], port: int, cwd: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http_ok(f"http://127.0.0.1:{port}/-/ready", proc=proc)
    return proc


def alert_count(bodies: list[bytes]) -> int:
    return sum(len(json.loads(b)["alerts"]) for b in bodies)


def run(requests: int, concurrency: int, rate: float, seconds: float) -> int:
    bodies = make_bodies(requests)
    paced = make_bodies(int(rate * seconds), seed=11, first=requests + 500)
    alerts = alert_count(bodies)
    results = []
    open_loop = []
    with tempfile.TemporaryDirectory() as tmp:
        bare_port, aa_port = free_port(), free_port()
        bare = start([sys.executable, "-c", BARE_SERVER, str(bare_port)], bare_port, tmp)
        try:
            asyncio.run(
                drive(f"http://127.0.0.1:{bare_port}/webhook/alertmanager", bodies[:500], concurrency)
            )
            results.append(
                summarize(
                    "bare aiohttp handler",
                    *asyncio.run(
                        drive(f"http://127.0.0.1:{bare_port}/webhook/alertmanager", bodies, concurrency)
                    ),
                )
            )
            if paced:
                url = f"http://127.0.0.1:{bare_port}/webhook/alertmanager"
                open_loop.append(
                    summarize("bare aiohttp handler", *asyncio.run(drive_at_rate(url, paced, rate)))
                )
        finally:
            bare.terminate()
            bare.wait()
        serve = start(
            [
                sys.executable,
                "-m",
                "receiver",
                "serve",
                f"--web.listen-address=127.0.0.1:{aa_port}",
                f"--storage.path={tmp}/bench.db",
                "--log.level=warning",
            ],
            aa_port,
            tmp,
        )
        try:
            warm = make_bodies(500, seed=99, first=requests)
            asyncio.run(drive(f"http://127.0.0.1:{aa_port}/webhook/alertmanager", warm, concurrency))
            drain_seconds(f"http://127.0.0.1:{aa_port}")
            before = count_incidents(f"{tmp}/bench.db")
            results.append(
                summarize(
                    "alert-analyst serve",
                    *asyncio.run(
                        drive(f"http://127.0.0.1:{aa_port}/webhook/alertmanager", bodies, concurrency)
                    ),
                )
            )
            rss = rss_mb(serve.pid)
            drained = drain_seconds(f"http://127.0.0.1:{aa_port}")
            created = count_incidents(f"{tmp}/bench.db") - before
            rss = max(rss, rss_mb(serve.pid))
            if paced:
                url = f"http://127.0.0.1:{aa_port}/webhook/alertmanager"
                open_loop.append(
                    summarize("alert-analyst serve", *asyncio.run(drive_at_rate(url, paced, rate)))
                )
                paced_drained = drain_seconds(f"http://127.0.0.1:{aa_port}")
                paced_created = count_incidents(f"{tmp}/bench.db") - before - created
                rss = max(rss, rss_mb(serve.pid))
        finally:
            serve.terminate()
            serve.wait()
    print(f"closed loop: {requests} webhooks ({alerts} alerts, 1-31 per webhook), concurrency {concurrency}")
    for r in results:
        print(
            f"  {r['name']:<22} {r['throughput']:8.0f} webhooks/s"
            f"   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms"
        )
    bare_r, aa = results
    print(f"  p99 ratio (serve / bare): {aa['p99_ms'] / bare_r['p99_ms']:.2f}x   RSS after run: {rss:.0f} MB")
    print(
        f"  every notification materialised {drained:.1f} s after the last ack:"
        f" {created} incidents created for {alerts} alerts"
    )
    ok = aa["throughput"] >= 1000 and rss <= 150 and created == alerts
    if open_loop:
        paced_alerts = alert_count(paced)
        print(f"open loop: {len(paced)} webhooks ({paced_alerts} alerts) offered at {rate:.0f}/s")
        for r in open_loop:
            print(
                f"  {r['name']:<22} {r['throughput']:8.0f} webhooks/s"
                f"   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms"
            )
        bare_paced, aa_paced = open_loop
        print(
            f"  p99 ratio (serve / bare): {aa_paced['p99_ms'] / bare_paced['p99_ms']:.2f}x;"
            f" materialised {paced_drained:.1f} s after the last ack: {paced_created} incidents for"
            f" {paced_alerts} alerts"
        )
        ok = ok and aa_paced["p99_ms"] <= 3 * bare_paced["p99_ms"] and paced_created == paced_alerts
    print(
        "targets (closed loop >= 1000/s, open-loop p99 <= 3x bare, RSS <= 150 MB, every alert an incident):",
        "met" if ok else "NOT met",
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rate", type=float, default=150.0, help="open-loop webhooks/s (0: skip)")
    parser.add_argument("--seconds", type=float, default=20.0, help="open-loop duration")
    args = parser.parse_args()
    return run(args.requests, args.concurrency, args.rate, args.seconds)


if __name__ == "__main__":
    raise SystemExit(main())
