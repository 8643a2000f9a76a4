"""A fake Grafana: the annotations API (POST/GET/PATCH/PUT/DELETE), dashboard lookup by UID, and
bearer or basic auth, with the documented codes and bodies. Unknown dashboard UIDs are silently
dropped on create, as Grafana does."""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeGrafana:
    token: str | None = "glsa_test"
    basic: tuple[str, str] | None = None
    dashboards: set[str] = field(default_factory=lambda: {"trading"})
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    hold_creates: asyncio.Event | None = None  # set: a create is stored, its answer waits for the event
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/api/dashboards/uid/{uid}", self._dashboard)
        app.router.add_post("/api/annotations", self._create)
        app.router.add_get("/api/annotations", self._find)
        app.router.add_get("/api/annotations/{id}", self._get)
        app.router.add_patch("/api/annotations/{id}", self._patch)
        app.router.add_put("/api/annotations/{id}", self._put)
        app.router.add_delete("/api/annotations/{id}", self._delete)
        return app

    def requests_to(self, method: str, prefix: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [r for r in self.requests if r[0] == method and r[1].startswith(prefix)]

    def _authorised(self, header: str) -> bool:
        if self.token is not None and header == f"Bearer {self.token}":
            return True
        if self.basic is not None:
            expected = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            return header == f"Basic {expected}"
        return False

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path_qs, dict(request.headers), body))
        if not self._authorised(request.headers.get("Authorization", "")):
            return web.json_response({"message": "Unauthorized"}, status=401)
        if self.failures:
            status, answer = self.failures.pop(0)
            return web.json_response(answer, status=status)
        return await handler(request)

    async def _dashboard(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if uid not in self.dashboards:
            return web.json_response({"message": "Dashboard not found"}, status=404)
        return web.json_response({"dashboard": {"uid": uid, "title": uid}, "meta": {"slug": uid}})

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()  # aiohttp keeps the bytes the middleware read
        if not isinstance(body, dict):
            return web.json_response({"message": "bad request data"}, status=400)
        if not body.get("text"):
            return web.json_response({"message": "Failed to save annotation"}, status=400)
        start = int(body.get("time") or 0)
        end = int(body.get("timeEnd") or start)
        start, end = min(start, end), max(start, end)
        uid = body.get("dashboardUID")
        known = uid in self.dashboards
        annotation_id = next(self._ids)
        self.annotations[annotation_id] = {
            "id": annotation_id,
            "dashboardUID": uid if known else None,
            "panelId": body.get("panelId", 0) if known else 0,
            "time": start,
            "timeEnd": end,
            "text": body["text"],
            "tags": list(body.get("tags") or []),
            "data": body.get("data") or {},
        }
        if self.hold_creates is not None:
            await self.hold_creates.wait()  # stored, but the answer is late: past the client's timeout
        return web.json_response({"message": "Annotation added", "id": annotation_id})

    async def _find(self, request: web.Request) -> web.Response:
        query = request.query
        found = list(self.annotations.values())
        if "from" in query and "to" in query:
            start, end = int(query["from"]), int(query["to"])
            found = [a for a in found if a["time"] <= end and a["timeEnd"] >= start]
        tags = query.getall("tags", [])
        if tags:
            match = any if query.get("matchAny") == "true" else all
            found = [a for a in found if match(t in a["tags"] for t in tags)]
        limit = int(query.get("limit", 100))
        return web.json_response(sorted(found, key=lambda a: -a["id"])[:limit])

    def _lookup(self, request: web.Request) -> dict[str, Any] | None:
        return self.annotations.get(int(request.match_info["id"]))

    async def _get(self, request: web.Request) -> web.Response:
        found = self._lookup(request)
        if found is None:
            return web.json_response({"message": "Annotation not found"}, status=404)
        return web.json_response(found)

    async def _patch(self, request: web.Request) -> web.Response:
        found = self._lookup(request)
        if found is None:
            return web.json_response({"message": "Annotation not found"}, status=404)
        body = await request.json()
        for key in ("text", "tags", "time", "timeEnd", "data"):
            if key in body:
                found[key] = body[key]
        return web.json_response({"message": "Annotation patched"})

    async def _put(self, request: web.Request) -> web.Response:
        found = self._lookup(request)
        if found is None:
            return web.json_response({"message": "Annotation not found"}, status=404)
        body = await request.json()
        found.update({k: body.get(k) for k in ("text", "tags", "time", "timeEnd", "data")})
        return web.json_response({"message": "Annotation updated"})

    async def _delete(self, request: web.Request) -> web.Response:
        self.annotations.pop(int(request.match_info["id"]), None)
        return web.json_response({"message": "Annotation deleted"})
