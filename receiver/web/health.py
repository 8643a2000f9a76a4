"""Probes and metrics: /-/healthy, /-/ready, /metrics."""

from __future__ import annotations

import asyncio
import sqlite3

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from receiver.storage.incidents import ping
from receiver.web.keys import MATERIALIZER, METRICS, PIPELINE, STORE


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


async def ready(request: web.Request) -> web.Response:
    problems = []
    store = request.app[STORE]
    try:
        await store.read(ping)  # the reader's thread: the writer's may be waiting for a lock
    except (sqlite3.Error, RuntimeError) as exc:
        problems.append(f"database: {exc}")
    else:
        if (problem := await asyncio.to_thread(store.write_problem)) is not None:
            problems.append(f"database: {problem}")
    if not request.app[PIPELINE].alive:
        problems.append("pipeline workers are not running")
    if not request.app[MATERIALIZER].alive:
        problems.append("the notification materialiser is not running")
    if problems:
        return web.json_response({"status": "not ready", "problems": problems}, status=503)
    return web.Response(text="OK\n")


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def health_routes() -> list[web.RouteDef]:
    return [web.get("/-/healthy", healthy), web.get("/-/ready", ready), web.get("/metrics", metrics)]
