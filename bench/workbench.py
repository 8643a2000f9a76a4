"""Web workbench benchmark: server time of the list and incident pages over 100,000 stored incidents.

    python -m bench.workbench [--incidents 100000] [--repeat 30]

Seeds SQLite through the app's own migrations (so the FTS triggers fill the search index), then runs the
receiver app in-process with a timing middleware, and times each page against two baselines measured in
the same run: a bare aiohttp handler and the JSON API's list endpoint. Also prints the page weight
(HTML plus every asset the page loads). Targets (issue 14): list <= 150 ms, incident <= 100 ms, <= 300 KB.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.inputs import BenchArgumentParser, output_file
from receiver.config import load_settings
from receiver.storage.database import open_database
from receiver.web.app import build_app
from receiver.web.resources import PipelineParts
from receiver.web.templating import STATIC_DIR

SAMPLE = json.loads((Path(__file__).with_name("workbench_sample.json")).read_text())
ALERTNAMES = [
    f"{kind}{n}" for kind in ("HighLatency", "ErrorRate", "DiskFull", "PodCrash", "PnLDrop") for n in range(8)
]
CATEGORIES = ["resource.cpu", "dependency.database", "network", "deployment", "market.volatility", "unknown"]
WORDS = ["checkout", "payments", "orders", "ledger", "search", "gateway", "inventory", "auth", "quotes"]
SEVERITIES = ["critical", "warning", "info"]
TIMER = web.AppKey("bench_timer", list)


def seed(path: Path, count: int, seed_value: int = 11) -> list[str]:
    """`count` incidents over 60 days, 95% diagnosed, 1% with stored evidence; returns the ids."""
    rng = random.Random(seed_value)
    db = open_database(path)
    now = time.time()
    diagnosis = SAMPLE["diagnosis"]
    evidence = json.dumps(SAMPLE["evidence"])
    ids = []
    incidents, diagnoses = [], []
    for n in range(count):
        incident_id = f"inc-{n:012x}"
        ids.append(incident_id)
        service = rng.choice(WORDS)
        alertname = rng.choice(ALERTNAMES)
        starts = now - rng.random() * 60 * 86400
        resolved = rng.random() < 0.9
        labels = {
            **SAMPLE["labels"],
            "alertname": alertname,
            "service": service,
            "pod": f"{service}-{n % 97}",
        }
        annotations = {**SAMPLE["annotations"], "summary": f"{alertname} on {service} ({n})"}
        incidents.append(
            (
                incident_id, f"{n:016x}", starts, starts + 600 if resolved else None,
                "resolved" if resolved else "firing", alertname, rng.choice(SEVERITIES), json.dumps(labels),
                json.dumps(annotations), "", f"group-{n % 5000}", "alertmanager", starts, starts,
                "done", evidence if n % 100 == 0 else None,
            )
        )  # fmt: skip
        if rng.random() < 0.95:
            category = rng.choice(CATEGORIES)
            primary = {
                **diagnosis["primary_hypothesis"],
                "category": category,
                "title": f"{category} on {service}",
            }
            body = {**diagnosis, "incident_id": incident_id, "primary_hypothesis": primary}
            body["executive_summary"] = f"{alertname} on {service}: most likely {category}."
            diagnoses.append(
                (incident_id, starts + rng.uniform(2, 30), "builtin", category, 0.7, json.dumps(body))
            )
    with db.conn:
        db.conn.executemany(
            "INSERT INTO incidents (id, fingerprint, starts_at, ends_at, status, alertname, severity, labels,"
            " annotations, generator_url, group_key, source, first_seen, last_seen, stage, evidence)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            incidents,
        )
        db.conn.executemany(
            "INSERT INTO diagnoses (incident_id, created_at, backend, category, confidence, body)"
            " VALUES (?,?,?,?,?,?)",
            diagnoses,
        )
    db.conn.execute("ANALYZE")
    db.conn.close()
    return ids


@web.middleware
async def timed(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    request.app[TIMER].append(time.perf_counter() - started)
    return response


async def bare(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def measure(
    client: aiohttp.ClientSession, base: str, app: web.Application, path: str, repeat: int
) -> dict[str, float]:
    times: list[float] = []
    size = 0
    for _ in range(repeat):
        app[TIMER].clear()
        async with client.get(base + path) as answer:
            body = await answer.read()
            assert answer.status == 200, (path, answer.status, body[:300])
        times.append(app[TIMER][-1])
        size = len(body)
    ordered = sorted(times)
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
        "bytes": size,
    }


async def no_parts(app: web.Application, settings: Any, store: Any) -> PipelineParts:
    return PipelineParts()


def asset_bytes(*names: str) -> int:
    return sum((STATIC_DIR / n).stat().st_size for n in names)


async def run(count: int, repeat: int, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="aa-bench-wb-") as tmp:
        db_path = keep or Path(tmp) / "aa.db"
        started = time.perf_counter()
        if keep is not None and keep.exists():
            ids = [f"inc-{n:012x}" for n in range(count)]
            print(f"reusing {db_path} ({db_path.stat().st_size >> 20} MiB)")
        else:
            ids = seed(db_path, count)
            print(
                f"seeded {count} incidents in {time.perf_counter() - started:.1f} s"
                f" ({db_path.stat().st_size >> 20} MiB)"
            )
        settings = load_settings(
            None,
            environ={},
            overrides={"storage": {"path": str(db_path)}, "detection": {"enabled": False},
                       "prometheus": {"url": "http://127.0.0.1:9", "retries": 0}},
        )  # fmt: skip
        app = build_app(settings, no_parts)
        app[TIMER] = []
        app.middlewares.append(timed)
        app.router.add_get("/bench/bare", bare)
        server = TestServer(app)
        await server.start_server()
        base = str(server.make_url(""))
        with_evidence = ids[0]
        pages = {
            "baseline: bare aiohttp handler": "/bench/bare",
            "baseline: JSON API list (limit 50)": "/api/v1/incidents?limit=50",
            "list: no filter": "/ui/",
            "list: status=firing": "/ui/?status=firing",
            "list: severity=critical": "/ui/?severity=critical",
            "list: category=network": "/ui/?category=network",
            "list: alertname=DiskFull3": "/ui/?alertname=DiskFull3",
            "list: since=-6h": "/ui/?since=-6h",
            "list: search 'payments'": "/ui/?q=payments",
            "list: search 'DiskFull3 ledger'": "/ui/?q=DiskFull3+ledger",
            "list: status+severity+category+search": (
                "/ui/?status=resolved&severity=warning&category=deployment&q=orders"
            ),
            "list: page 40": "/ui/?page=40",
            "list rows (live update poll)": "/ui/rows?status=firing",
            "incident page (with evidence, 5 charts)": f"/ui/incidents/{with_evidence}",
            "incident page (no evidence)": f"/ui/incidents/{ids[1]}",
            "overview (14 days)": "/ui/overview",
        }
        results = {}
        async with aiohttp.ClientSession() as client:
            for path in pages.values():  # warm-up: page cache, template compilation
                async with client.get(base + path) as answer:
                    await answer.read()
            for name, path in pages.items():
                results[name] = await measure(client, base, app, path, repeat)
        await server.close()
    print(f"\n{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'HTML KB':>8}")
    for name, r in results.items():
        print(f"{name:44} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['bytes'] / 1024:8.1f}")
    common = asset_bytes("workbench.css", "workbench.js")
    charts = asset_bytes("uplot/uPlot.iife.min.js", "uplot/uPlot.min.css")
    list_kb = (results["list: no filter"]["bytes"] + common) / 1024
    incident_kb = (results["incident page (with evidence, 5 charts)"]["bytes"] + common + charts) / 1024
    print(
        f"\npage weight, uncompressed, assets included: list {list_kb:.0f} KB, incident {incident_kb:.0f} KB"
        " (+ one JSON of <= 600 points per chart)"
    )


def main() -> None:
    parser = BenchArgumentParser(prog="python -m bench.workbench", description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--db", type=output_file, help="seed this file once and reuse it on later runs")
    args = parser.parse_args()
    asyncio.run(run(args.incidents, args.repeat, args.db))


if __name__ == "__main__":
    main()
