"""A fake Slack speaking the documented Web API (chat.postMessage, chat.update, conversations.history and
.replies) and an incoming webhook, recording every request. It also plays Slack's side of interactivity:
`signed_click` builds a `block_actions` request signed with the app's signing secret, and `response_url`
posts (`/actions/...`) replace the original message as Slack does. Errors are HTTP 200 `ok:false`, except
rate limiting (HTTP 429 + Retry-After), as Slack does. Messages over Block Kit's limits are refused as Slack
refuses them (`block_kit_error`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

WEBHOOK_PATH = "/services/T000/B000/secret"

# Block Kit's limits (INTERFACES 4.5): blocks per message, characters per section and header, the top-level
# text, and the undocumented total of a message's blocks (JSON) that Slack refuses as msg_blocks_too_long.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_TEXT = 40_000
MAX_BLOCKS_JSON = 13_000


def block_kit_error(text: str | None, blocks: list[dict[str, Any]] | None) -> str | None:
    """The error Slack answers for a message over Block Kit's limits, or None if it is within them."""
    if text is not None and len(text) > MAX_TEXT:
        return "msg_too_long"
    if not blocks:
        return None
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    for block in blocks:
        limit = {"section": MAX_SECTION_TEXT, "header": MAX_HEADER_TEXT}.get(block.get("type", ""))
        if limit is not None and len((block.get("text") or {}).get("text", "")) > limit:
            return "invalid_blocks"
    if len(json.dumps(blocks)) > MAX_BLOCKS_JSON:
        return "msg_blocks_too_long"
    return None


@dataclass
class Failure:
    error: str | None = None
    status: int = 200
    retry_after: int | None = None
    body: str | None = None  # a non-JSON body, as a proxy in front of Slack may send


@dataclass
class FakeSlack:
    token: str = "xoxb-test-token"
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhook_posts: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    hold_replies: asyncio.Event | None = None
    hold_parents: asyncio.Event | None = None
    signing_secret: str = "8f742231b10e8888abcd99yyyzzz85a5"  # the example secret of Slack's docs
    responses: list[dict[str, Any]] = field(default_factory=list)
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(
        self,
        method: str,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        body: str | None = None,
    ) -> None:
        failures = (Failure(error, status, retry_after, body) for _ in range(times))
        self.failures.setdefault(method, []).extend(failures)

    @staticmethod
    def channel_id(channel: str) -> str:
        return "C" + channel.lstrip("#").upper().replace("-", "") if channel.startswith("#") else channel

    def parents(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if not m.get("thread_ts")]

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("thread_ts") == thread_ts]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/chat.postMessage", self._post_message)
        app.router.add_post("/api/chat.update", self._update)
        app.router.add_route("*", "/api/conversations.history", self._history)
        app.router.add_route("*", "/api/conversations.replies", self._replies)
        app.router.add_post(WEBHOOK_PATH, self._webhook)
        app.router.add_post("/actions/{channel}/{ts}/{token}", self._response_url)
        return app

    def signed_click(
        self,
        message: dict[str, Any],
        verdict: str,
        base_url: str,
        *,
        user: str = "ana",
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """Body and headers of Slack's request when `user` clicks the `verdict` button of `message`."""
        action = next(
            element
            for block in message["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
            if element["action_id"] == f"feedback_{verdict}"
        )
        payload = {
            "type": "block_actions",
            "user": {"id": "U" + user.upper(), "username": user, "name": user, "team_id": "T000"},
            "api_app_id": "A000",
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
            "trigger_id": "1.2.3",
            "team": {"id": "T000", "domain": "example"},
            "channel": {"id": message["channel"], "name": "alerts"},
            "message": {
                "type": "message",
                "ts": message["ts"],
                "text": message["text"],
                "blocks": message["blocks"],
            },
            "response_url": f"{base_url}/actions/{message['channel']}/{message['ts']}/{next(self._clock)}",
            "actions": [{**action, "block_id": "alert_analyst_feedback", "action_ts": str(time.time())}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(
            (secret or self.signing_secret).encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
        }
        return body, headers

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append(body)
        channel, ts = request.match_info["channel"], request.match_info["ts"]
        target = next((m for m in self.messages if m["ts"] == ts and m["channel"] == channel), None)
        if target is not None and body.get("replace_original"):
            target.update(text=body.get("text"), blocks=body.get("blocks"))
        return web.Response(text="ok")

    async def _call(self, request: web.Request, method: str) -> tuple[dict[str, Any], web.Response | None]:
        if request.method == "POST" and request.content_type == "application/json":
            args = await request.json()
        elif request.method == "POST":
            args = dict(await request.post())
        else:
            args = dict(request.query)
        self.requests.append((method, args))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return args, web.json_response({"ok": False, "error": "invalid_auth"})
        queued = self.failures.get(method)
        if queued:
            failure = queued.pop(0)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            if failure.body is not None:
                return args, web.Response(status=failure.status, text=failure.body, content_type="text/html")
            error = failure.error or ("ratelimited" if failure.status == 429 else "internal_error")
            return args, web.json_response(
                {"ok": False, "error": error}, status=failure.status, headers=headers
            )
        return args, None

    async def _post_message(self, request: web.Request) -> web.Response:
        args, failed = await self._call(request, "chat.postMessage")
        if failed is not None:
            return failed
        if not args.get("text") and not args.get("blocks"):
            return web.json_response({"ok": False, "error": "no_text"})
        if args.get("channel", "").lstrip("#").startswith("missing"):
            return web.json_response({"ok": False, "error": "channel_not_found"})
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if blocks is not None and len(blocks) > 50:
            return web.json_response({"ok": False, "error": "invalid_blocks"})
        if (refused := block_kit_error(args.get("text"), blocks)) is not None:
            return web.json_response({"ok": False, "error": refused})
        n = next(self._clock)
        message = {
            "channel": self.channel_id(args["channel"]),
            "ts": f"{1_700_000_000 + n}.{n:06d}",
            "text": args.get("text"),
            "blocks": blocks,
            "thread_ts": args.get("thread_ts"),
            "metadata": args.get("metadata"),
        }
        self.messages.append(message)
        hold = self.hold_replies if message["thread_ts"] else self.hold_parents
        if hold is not None:
            await hold.wait()  # the message exists but the answer is late: the crash window
        return web.json_response(
            {"ok": True, "channel": message["channel"], "ts": message["ts"], "message": {}}
        )

    async def _update(self, request: web.Request) -> web.Response:
        args, failed = await self._call(request, "chat.update")
        if failed is not None:
            return failed
        target = next(
            (m for m in self.messages if m["ts"] == args.get("ts") and m["channel"] == args.get("channel")),
            None,
        )
        if target is None:
            return web.json_response({"ok": False, "error": "message_not_found"})
        if (refused := block_kit_error(args.get("text"), args.get("blocks"))) is not None:
            return web.json_response({"ok": False, "error": refused})
        target.update(text=args.get("text"), blocks=args.get("blocks"))
        self.updates.append(args)
        return web.json_response(
            {"ok": True, "channel": target["channel"], "ts": target["ts"], "text": target["text"]}
        )

    def _visible(self, message: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
        shown = {k: v for k, v in message.items() if k != "metadata"}
        if with_metadata and message.get("metadata"):
            shown["metadata"] = message["metadata"]
        return shown

    async def _history(self, request: web.Request) -> web.Response:
        args, failed = await self._call(request, "conversations.history")
        if failed is not None:
            return failed
        channel = args.get("channel", "")
        if not channel.startswith("C"):
            return web.json_response({"ok": False, "error": "channel_not_found"})
        with_metadata = str(args.get("include_all_metadata")).lower() in ("1", "true")
        found = [
            self._visible(m, with_metadata)
            for m in reversed(self.messages)
            if m["channel"] == channel and not m.get("thread_ts")
        ]
        return web.json_response({"ok": True, "messages": found, "has_more": False})

    async def _replies(self, request: web.Request) -> web.Response:
        args, failed = await self._call(request, "conversations.replies")
        if failed is not None:
            return failed
        with_metadata = str(args.get("include_all_metadata")).lower() in ("1", "true")
        thread = [
            m
            for m in self.messages
            if m["channel"] == args.get("channel")
            and (m["ts"] == args.get("ts") or m.get("thread_ts") == args.get("ts"))
        ]
        if not thread:
            return web.json_response({"ok": False, "error": "thread_not_found"})
        return web.json_response({"ok": True, "messages": [self._visible(m, with_metadata) for m in thread]})

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        queued = self.failures.get("webhook")
        if queued:
            failure = queued.pop(0)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return web.Response(status=failure.status, text=failure.error or "rollup_error", headers=headers)
        if not body.get("text") and not body.get("blocks"):
            return web.Response(status=400, text="invalid_payload")
        if (refused := block_kit_error(body.get("text"), body.get("blocks"))) is not None:
            return web.Response(status=400, text=refused)
        self.webhook_posts.append(body)
        return web.Response(text="ok")
