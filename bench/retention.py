"""Retention prune benchmark: how long pruning takes, and what it does to webhook ack latency meanwhile.

    python -m bench.retention [--incidents 5000] [--rate 50] [--seconds 20]

Fills a fresh database with `--incidents` incidents resolved 120 days ago, each with the rows the
pipeline and delivery write (two webhook bodies, five stage results, evidence, a diagnosis, a memory
signature and full-text row, a sent delivery, group membership, a noise decision), through the storage
functions the receiver uses. Then runs the real receiver app (no analysis stages) in this process and
sends webhooks at a fixed `--rate` (open loop; corpus payloads, 1-31 alerts, every one new): first for
`--seconds` without pruning, then while one whole prune (retention 90 days) runs. Then as many expired
incidents again are pruned with no load and no pauses: the prune's own speed and its longest transaction
(their webhook bodies stay: stored after recent ones, they wait until those expire too). Prints the
prune's duration and rows/s, and ack p50/p99/max in both phases. The load generator shares the event loop with
the receiver, so absolute latencies are higher than in `bench.ingest`; the two phases are comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import sqlite_utils
from aiohttp import web

from analyst.memory import EvidenceSignature
from bench.ingest import make_bodies, timed_post
from demo.processes import free_port
from receiver.config import load_settings
from receiver.logs import configure_logging
from receiver.payload import parse_webhook
from receiver.pipeline import retention as pipeline_retention
from receiver.storage import incidents as db_incidents
from receiver.storage import outbox
from receiver.storage.database import Store
from receiver.storage.memory import index_text, save_signature
from receiver.storage.retention import prune_before
from receiver.testing import complete_stages
from receiver.web.app import build_app
from receiver.web.keys import RETENTION, STORE
from receiver.web.resources import PipelineParts

DAY = 86400.0
CHUNK = 500  # incidents filled per transaction
EVIDENCE = {"series": [{"series_id": f"s{n}", "values": list(range(60))} for n in range(8)]}


def expired_webhook(n: int, ended: float) -> tuple[bytes, bytes]:
    """The firing and the resolving notification of incident `n`, which ended at `ended`."""

    def body(status: str) -> bytes:
        alert = {
            "status": status,
            "labels": {"alertname": f"Bench{n % 50}", "instance": f"host-{n}", "severity": "warning"},
            "annotations": {"summary": f"bench incident {n} on host-{n}"},
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ended - 600)),
            "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ended))
            if status == "resolved"
            else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local/graph",
            "fingerprint": f"bench{n:010d}",
        }
        return json.dumps(
            {
                "version": "4",
                "groupKey": f'{{}}:{{alertname="Bench{n % 50}"}}',
                "status": status,
                "receiver": "alert-analyst",
                "groupLabels": {},
                "commonLabels": {},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager.local",
                "alerts": [alert],
            }
        ).encode()

    return body("firing"), body("resolved")


def fill_expired(db: sqlite_utils.Database, first: int, count: int, ended: float) -> None:
    """Incidents `first` to `first + count - 1`, analysed, delivered and resolved near `ended`."""
    for n in range(first, first + count):
        firing, resolved = expired_webhook(n, ended + n % 3600)
        at = ended + n % 3600
        (incident_id,) = db_incidents.ingest_notification(db, parse_webhook(firing), firing, at - 600).created
        db_incidents.ingest_notification(db, parse_webhook(resolved), resolved, at)
        complete_stages(db, incident_id, at - 600)
        db_incidents.save_evidence(db, incident_id, EVIDENCE)
        diagnosis = db_incidents.save_diagnosis(
            db,
            incident_id,
            {"executive_summary": f"bench {n}"},
            backend="builtin",
            category="other",
            confidence=0.5,
        )
        signature = EvidenceSignature(f"Bench{n % 50}", f"Bench{n % 50}{{}}", ("db|level|up",))
        save_signature(
            db, incident_id, signature, diagnosis_id=diagnosis, category="other", suspect="db", now=at
        )
        index_text(db, incident_id, f"bench incident {n}", "other")
        group = f"bench-{n % 50}"
        row = outbox.NewDelivery(incident_id, group, "slack", "slack", "announce", {"n": n}, status="sent")
        outbox.insert_delivery(db, row, at - 600)
        outbox.join_group(db, incident_id, group, at - 600, at)
        outbox.record_decision(db, incident_id, f"Bench{n % 50}", at - 600, None)


async def send_at_rate(url: str, bodies: list[bytes], rate: float, until: asyncio.Event) -> list[float]:
    """POST `bodies` in order, one every 1/`rate` s (not waiting for answers), until `until` is set."""
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:

        async def post(body: bytes) -> None:
            latencies.append(await timed_post(session, url, body))

        tasks = []
        began = time.perf_counter()
        for n, body in enumerate(bodies):
            if until.is_set():
                break
            await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(post(body)))
        await asyncio.gather(*tasks)
    return latencies


def quantiles_ms(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50": cuts[49] * 1000, "p99": cuts[98] * 1000, "max": max(latencies) * 1000}


async def no_stages(app: web.Application, settings: Any, store: Any) -> PipelineParts:
    return PipelineParts()


async def measure(db_path: Path, incidents: int, rate: float, seconds: float) -> dict[str, Any]:
    pipeline_retention.START_DELAY_SECONDS = 24 * 3600.0  # the bench starts the prune itself
    port = free_port()
    settings = load_settings(
        None,
        environ={},
        overrides={
            "web": {"listen_address": f"127.0.0.1:{port}"},
            "storage": {"path": str(db_path), "retention_days": 90},
            "detection": {"enabled": False},
            "log": {"level": "warning"},
        },
    )
    app = build_app(settings, no_stages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}/webhook/alertmanager"
    bodies = make_bodies(int(rate * (seconds * 20 + 5)))
    try:
        await send_at_rate(url, bodies[: int(rate * 2)], rate, asyncio.Event())  # warm-up
        checkpointer = app[STORE].checkpointer
        truncations = checkpointer.truncations if checkpointer else 0
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        quiet = await send_at_rate(url, bodies[int(rate * 2) :], rate, stop)
        quiet_truncations = (checkpointer.truncations if checkpointer else 0) - truncations
        stop = asyncio.Event()
        load = asyncio.create_task(send_at_rate(url, bodies[int(rate * (seconds + 2)) :], rate, stop))
        truncations = checkpointer.truncations if checkpointer else 0
        started = time.perf_counter()
        deleted = await app[RETENTION].prune_once()
        prune_seconds = time.perf_counter() - started
        truncations = (checkpointer.truncations if checkpointer else 0) - truncations
        stop.set()
        during = await load
        store = app[STORE]  # the same again, without load and without pauses: the prune's own speed
        for first in range(incidents, 2 * incidents, CHUNK):
            await store.write(fill_expired, first, min(CHUNK, 2 * incidents - first), time.time() - 120 * DAY)
        batches: list[float] = []
        alone: dict[str, int] = {}
        started = time.perf_counter()
        async for batch in prune_before(store, time.time() - 90 * DAY):
            batches.append(time.perf_counter() - started)
            for table, count in batch.items():
                alone[table] = alone.get(table, 0) + count
        alone_seconds = time.perf_counter() - started
        batch_seconds = [b - a for a, b in zip([0.0, *batches], batches, strict=False)]
    finally:
        await runner.cleanup()
    return {
        "deleted": deleted,
        "prune_seconds": prune_seconds,
        "truncations": truncations,
        "quiet_truncations": quiet_truncations,
        "alone": alone,
        "alone_seconds": alone_seconds,
        "longest_batch": max(batch_seconds),
        "batches": len(batch_seconds),
        "quiet": quiet,
        "during": during,
    }


def run(incidents: int, rate: float, seconds: float) -> int:
    configure_logging("warning", "console")
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "retention.db"
        store = Store(db_path)
        ended = time.time() - 120 * DAY
        started = time.perf_counter()
        for first in range(0, incidents, CHUNK):
            store.write_sync(fill_expired, first, min(CHUNK, incidents - first), ended)
        fill_seconds = time.perf_counter() - started
        store.close()
        size_mb = db_path.stat().st_size / 1e6
        result = asyncio.run(measure(db_path, incidents, rate, seconds))
    deleted, alone = result["deleted"], result["alone"]
    print(f"{incidents} expired incidents filled in {fill_seconds:.1f} s ({size_mb:.0f} MB database)")
    print(
        f"prune under {rate:.0f} webhooks/s (pausing for quiet intake between batches):"
        f" {result['prune_seconds']:.1f} s, {sum(deleted.values())} rows"
    )
    print("  rows by table:", ", ".join(f"{t} {n}" for t, n in sorted(deleted.items())))
    rows, seconds_alone = sum(alone.values()), result["alone_seconds"]
    print(
        f"prune alone (no load, no pauses): {seconds_alone:.2f} s for {alone.get('incidents', 0)} incidents,"
        f" {rows} rows: {rows / seconds_alone:.0f} rows/s, {alone.get('incidents', 0) / seconds_alone:.0f}"
        f" incidents/s; {result['batches']} transactions, the longest {result['longest_batch'] * 1000:.0f} ms"
    )
    for name, latencies, truncated in (
        ("without prune", result["quiet"], result["quiet_truncations"]),
        ("during prune", result["during"], result["truncations"]),
    ):
        q = quantiles_ms(latencies)
        print(
            f"  acks {name:<14} n={len(latencies):5d}  p50 {q['p50']:6.2f} ms  p99 {q['p99']:6.2f} ms"
            f"  max {q['max']:6.1f} ms  ({truncated} WAL truncations)"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.retention",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=50.0, help="webhooks per second during both phases")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the phase without pruning")
    args = parser.parse_args()
    return run(args.incidents, args.rate, args.seconds)


if __name__ == "__main__":
    raise SystemExit(main())
