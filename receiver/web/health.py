"""Probes and metrics: /-/healthy, /-/ready, /metrics."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from receiver.storage.database import Store
from receiver.storage.incidents import ping
from receiver.web.keys import MATERIALIZER, METRICS, PIPELINE, STORE

# How long /-/ready waits for the write lock: within Kubernetes' default probe timeout (1 s).
LOCK_WAIT_SECONDS = 0.5


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


@dataclass
class LockWatch:
    """When the probe first found the write lock held elsewhere, in an unbroken run of probes that did."""

    held_since: float | None = None

    async def problem(self, store: Store) -> tuple[str | None, str | None]:
        """(why the receiver cannot write, a note for a lock held shorter than the busy timeout): a write
        refused recently, the lock held elsewhere past `storage.busy_timeout_seconds`, or a database
        that cannot take the lock at all. Answers within about LOCK_WAIT_SECONDS."""
        if (refused := store.recent_write_error()) is not None:
            return refused, None
        started = time.monotonic()
        try:
            free = await asyncio.to_thread(store.write_lock_free, LOCK_WAIT_SECONDS)
        except sqlite3.Error as exc:
            return f"cannot take the write lock: {exc}", None
        if free:
            self.held_since = None
            return None, None
        self.held_since = self.held_since if self.held_since is not None else started
        held = time.monotonic() - self.held_since
        if held < store.busy_timeout:
            return None, (
                f"the write lock is held by another connection ({held:.1f} s so far); a write waits for"
                f" it up to storage.busy_timeout_seconds ({store.busy_timeout:g} s)"
            )
        return (
            f"the write lock has been held by another connection for {held:.0f} s, longer than"
            f" storage.busy_timeout_seconds ({store.busy_timeout:g} s): writes fail until it is released"
        ), None


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def health_routes() -> list[web.RouteDef]:
    """The probes and /metrics; /-/ready remembers, per app, since when it has found the lock held."""
    watch = LockWatch()

    async def ready(request: web.Request) -> web.Response:
        """200 (with a note while the write lock is held elsewhere for a moment, or a full-text index
        is damaged: derived data), else 503 with the reasons; never waits for the write lock longer than
        LOCK_WAIT_SECONDS."""
        problems = []
        note = None
        store = request.app[STORE]
        try:
            await store.read(ping)  # the reader's thread: the writer's may be waiting for a lock
        except (sqlite3.Error, RuntimeError) as exc:
            problems.append(f"database: {exc}")
        else:
            problem, note = await watch.problem(store)
            if problem is not None:
                problems.append(f"database: {problem}")
        if not request.app[PIPELINE].alive:
            problems.append("pipeline workers are not running")
        if not request.app[MATERIALIZER].alive:
            problems.append("the notification materialiser is not running")
        if problems:
            return web.json_response({"status": "not ready", "problems": problems}, status=503)
        notes = [n for n in (note, store.search_index_problem) if n]
        return web.Response(text="OK\n" + "".join(f"note: {n}\n" for n in notes))

    return [web.get("/-/healthy", healthy), web.get("/-/ready", ready), web.get("/metrics", metrics)]
