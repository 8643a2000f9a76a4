"""Local stand-ins for Slack and Grafana, so the demo's write-back can be seen without accounts.

They speak just enough of each API for alert-analyst's sinks (Slack Web API chat.postMessage, chat.update,
conversations.history/replies; Grafana /api/annotations and /api/dashboards/uid) and show what would have
been posted on one page. They are not Slack or Grafana, and the page says so.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DASHBOARD_UID = "alert-analyst-trading"  # the shipped trading dashboard


@dataclass
class Posted:
    """Everything the sinks sent, in arrival order."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)
    clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def standin_app(posted: Posted) -> web.Application:
    app = web.Application()

    async def post_message(request: web.Request) -> web.Response:
        body = await _body(request)
        ts = f"{time.time():.6f}"
        posted.messages.append({**body, "ts": ts})
        return web.json_response({"ok": True, "channel": body.get("channel"), "ts": ts, "message": body})

    async def update(request: web.Request) -> web.Response:
        body = await _body(request)
        posted.updates.append(body)
        return web.json_response({"ok": True, "channel": body.get("channel"), "ts": body.get("ts")})

    async def history(request: web.Request) -> web.Response:
        body = {**request.query, **(await _body(request))}
        thread = body.get("ts")
        found = [
            m for m in posted.messages if thread is None or m.get("thread_ts") == thread or m["ts"] == thread
        ]
        return web.json_response({"ok": True, "channel": body.get("channel"), "messages": found})

    async def dashboard(request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if uid != DASHBOARD_UID:
            return web.json_response({"message": "Dashboard not found"}, status=404)
        return web.json_response({"dashboard": {"uid": uid, "title": "alert-analyst: trading"}})

    async def create_annotation(request: web.Request) -> web.Response:
        annotation_id = next(posted.clock)
        posted.annotations[annotation_id] = {**await request.json(), "id": annotation_id}
        return web.json_response({"id": annotation_id, "message": "Annotation added"})

    async def patch_annotation(request: web.Request) -> web.Response:
        annotation = posted.annotations.get(int(request.match_info["id"]))
        if annotation is None:
            return web.json_response({"message": "Annotation not found"}, status=404)
        annotation.update(await request.json())
        return web.json_response({"message": "Annotation patched"})

    async def find_annotations(request: web.Request) -> web.Response:
        return web.json_response(list(posted.annotations.values()))

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=render_page(posted), content_type="text/html")

    app.router.add_post("/slack/api/chat.postMessage", post_message)
    app.router.add_post("/slack/api/chat.update", update)
    app.router.add_route("*", "/slack/api/conversations.history", history)
    app.router.add_route("*", "/slack/api/conversations.replies", history)
    app.router.add_get("/grafana/api/dashboards/uid/{uid}", dashboard)
    app.router.add_post("/grafana/api/annotations", create_annotation)
    app.router.add_get("/grafana/api/annotations", find_annotations)
    app.router.add_patch("/grafana/api/annotations/{id}", patch_annotation)
    app.router.add_get("/", page)
    return app


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = await request.json()
        return dict(data) if isinstance(data, dict) else {}
    return dict(await request.post())


def render_page(posted: Posted) -> str:
    """The page: Slack threads (parent, replies, updates) and Grafana regions, all text escaped."""
    esc = html.escape
    updates = {u.get("ts"): u for u in posted.updates}
    parents = [m for m in posted.messages if not m.get("thread_ts")]
    threads = []
    for parent in reversed(parents):
        shown = updates.get(parent["ts"], parent)
        replies = [m for m in posted.messages if m.get("thread_ts") == parent["ts"]]
        items = "".join(f"<li><pre>{slack_html(_message_text(r))}</pre></li>" for r in replies)
        updated = " <em>(updated)</em>" if parent["ts"] in updates else ""
        threads.append(
            f"<section><h3>#{esc(str(parent.get('channel')))} {updated}</h3>"
            f"<pre>{slack_html(_message_text(shown))}</pre><ol>{items}</ol></section>"
        )
    regions = []
    for annotation in sorted(posted.annotations.values(), key=lambda a: -int(a["id"])):
        start = time.strftime("%H:%M:%S", time.gmtime(annotation.get("time", 0) / 1000))
        end = time.strftime("%H:%M:%S", time.gmtime(annotation.get("timeEnd", 0) / 1000))
        tags = ", ".join(map(str, annotation.get("tags", [])))
        dashboard = str(annotation.get("dashboardUID") or "org-wide")
        regions.append(
            f"<tr><td>{esc(start)}-{esc(end)} UTC</td><td>{esc(dashboard)}</td><td>{esc(tags)}</td>"
            f"<td><pre>{esc(_plain(str(annotation.get('text', ''))))}</pre></td></tr>"
        )
    return (
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=5>"
        "<title>alert-analyst demo: Slack and Grafana stand-ins</title></head><body>"
        "<h1>Stand-ins for Slack and Grafana</h1><p><strong>These are local stand-ins started by the demo, "
        "not Slack or Grafana.</strong> They show what alert-analyst would have posted: one Slack thread per "
        "alert group and one Grafana region annotation per diagnosis. The page refreshes every 5 s.</p>"
        f"<h2>Slack (stand-in): {len(parents)} threads</h2>{''.join(threads) or '<p>nothing yet</p>'}"
        f"<h2>Grafana annotations (stand-in): {len(posted.annotations)}</h2>"
        "<table border=1><tr><th>region</th><th>dashboard</th><th>tags</th><th>text</th></tr>"
        f"{''.join(regions)}</table></body></html>"
    )


def _message_text(message: dict[str, Any]) -> str:
    """The message as Slack mrkdwn: the text of its blocks (sections, context; buttons as `[label]`), else its
    `text`."""
    blocks = message.get("blocks")
    if isinstance(blocks, str):  # form-encoded posts carry blocks as JSON text
        blocks = json.loads(blocks)
    parts = []
    for block in blocks or []:
        if isinstance(block.get("text"), dict):
            parts.append(str(block["text"].get("text", "")))
        elements = [e for e in block.get("elements", []) if isinstance(e, dict)]
        buttons = [e["text"] for e in elements if isinstance(e.get("text"), dict)]
        parts += [str(e.get("text", "")) for e in elements if not isinstance(e.get("text"), dict)]
        if buttons:
            parts.append(" ".join(f"[{b.get('text', '')}]" for b in buttons))
    return "\n".join(p for p in parts if p) or str(message.get("text", ""))


_CONTROL = re.compile(r"<([^<>]*)>")


def slack_html(mrkdwn: str) -> str:
    """Slack mrkdwn as the page shows it, escaped: `<url|label>` a link, `<!date^...|fallback>` its fallback,
    `<!here>` @here, and Slack's own `&lt;` `&gt;` `&amp;` the characters they stand for."""
    out, at = [], 0
    for match in _CONTROL.finditer(mrkdwn):
        out.append(_plain_slack(mrkdwn[at : match.start()]))
        target, _, label = match.group(1).partition("|")
        if target.startswith("!"):
            out.append(_plain_slack(label) if label else html.escape("@" + target[1:]))
        elif target.startswith(("http://", "https://")):
            shown = _plain_slack(label) if label else html.escape(target)
            out.append(f'<a href="{html.escape(html.unescape(target))}">{shown}</a>')
        else:  # a user or channel mention
            out.append(_plain_slack(label or target))
        at = match.end()
    out.append(_plain_slack(mrkdwn[at:]))
    return "".join(out)


def _plain_slack(text: str) -> str:
    """Text outside Slack's control sequences, escaped for the page (Slack's three entities decoded first)."""
    return html.escape(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def _plain(annotation_html: str) -> str:
    """Grafana annotation text is HTML: shown here as its text (line breaks kept, tags dropped)."""
    return html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"<br\s*/?>", "\n", annotation_html)))


class StandIns:
    """Serves the stand-ins on 127.0.0.1:`port` from a thread of its own until `stop()`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.posted = Posted()
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(standin_app(self.posted), access_log=None)
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-standins", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)

    async def _serve(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
