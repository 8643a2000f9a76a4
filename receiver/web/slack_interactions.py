"""Slack interactivity: the feedback buttons of a diagnosis reply post here (`POST /slack/interactions`).

Every request is checked against the app's signing secret (v0 HMAC-SHA256 of `v0:{timestamp}:{body}`),
must be at most five minutes old and is accepted once (the signature is remembered). The answer is an
empty 200 right after the judgement is stored; the message is updated through `response_url` behind it.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import aiohttp
import structlog
from aiohttp import web

from receiver.delivery.slack_blocks import (
    FEEDBACK_ACTION_PREFIX,
    FEEDBACK_BLOCK_ID,
    context_block,
    escape_mrkdwn,
)
from receiver.storage import feedback as db_feedback
from receiver.storage.feedback import VERDICTS, Feedback, Verdict
from receiver.web.feedback import store_feedback
from receiver.web.json_errors import error_response
from receiver.web.keys import HTTP_SESSION, SETTINGS, STORE

MAX_AGE_SECONDS = 300
VERDICT_BLOCK_ID = "alert_analyst_verdict"
RESPONSE_TIMEOUT_SECONDS = 10.0
FOLLOWUPS = web.AppKey("slack_followups", set[asyncio.Task[None]])
log = structlog.get_logger(__name__)


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` (Slack's request signing, version 0)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signature_problem(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> str | None:
    """Why the request is not Slack's (None when it is)."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return "stale request: X-Slack-Request-Timestamp is more than 5 minutes away"
    if not hmac.compare_digest(slack_signature(secret, timestamp, body), signature):
        return "bad signature"
    return None


def _feedback_action(payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """(verdict, incident id) of a click on one of our buttons."""
    for action in payload.get("actions") or ():
        action_id = str(action.get("action_id", ""))
        verdict = action_id.removeprefix(FEEDBACK_ACTION_PREFIX)
        if action_id.startswith(FEEDBACK_ACTION_PREFIX) and verdict in VERDICTS and action.get("value"):
            return verdict, str(action["value"])
    return None


def _who(payload: Mapping[str, Any]) -> str:
    user = payload.get("user") or {}
    return "slack:" + str(user.get("username") or user.get("name") or user.get("id") or "unknown")


def judged_blocks(blocks: list[dict[str, Any]], verdict: str, who: str) -> list[dict[str, Any]]:
    """The message's blocks with a line saying who judged it how, just above the (kept) buttons."""
    kept = [copy.deepcopy(b) for b in blocks if b.get("block_id") != VERDICT_BLOCK_ID]
    line = context_block(f"Judged *{verdict}* by {escape_mrkdwn(who.removeprefix('slack:'))}")
    line["block_id"] = VERDICT_BLOCK_ID
    at = next((i for i, b in enumerate(kept) if b.get("block_id") == FEEDBACK_BLOCK_ID), len(kept))
    return [*kept[:at], line, *kept[at:]]


def trusted_response_url(url: str, api_url: str) -> bool:
    """Slack's own hosts over https, or the host of `slack.api_url` (a proxy or a test server)."""
    target, api = urlsplit(url), urlsplit(api_url)
    slack = target.scheme == "https" and (target.hostname or "").endswith(".slack.com")
    return slack or (target.hostname, target.port) == (api.hostname, api.port)


async def _update_message(app: web.Application, payload: Mapping[str, Any], verdict: str, who: str) -> None:
    url = str(payload.get("response_url") or "")
    message = payload.get("message") or {}
    if not url or not message.get("blocks"):
        return
    if not trusted_response_url(url, app[SETTINGS].slack.api_url):
        log.warning("slack_response_url_refused", host=urlsplit(url).hostname)
        return
    body = {
        "replace_original": True,
        "text": message.get("text") or "",
        "blocks": judged_blocks(message["blocks"], verdict, who),
    }
    try:
        timeout = aiohttp.ClientTimeout(total=RESPONSE_TIMEOUT_SECONDS)
        async with app[HTTP_SESSION].post(url, json=body, timeout=timeout) as response:
            if response.status >= 300:
                log.warning("slack_response_url_failed", status=response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("slack_response_url_failed", error=str(exc))


async def slack_interactions(request: web.Request) -> web.Response:
    secret = request.app[SETTINGS].slack.signing_secret_value()
    if not secret:
        return error_response(404, "Slack interactivity is off: set slack.signing_secret")
    body = await request.read()
    now = time.time()
    problem = signature_problem(secret, body, request.headers, now)
    if problem is not None:
        return error_response(401, problem)
    signature = request.headers["X-Slack-Signature"]
    if not await request.app[STORE].write(db_feedback.remember_replay, signature, now, 2 * MAX_AGE_SECONDS):
        return error_response(401, "replayed request")
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (KeyError, ValueError, UnicodeDecodeError):
        return error_response(400, "body must be form-encoded with a JSON payload", "payload")
    action = _feedback_action(payload)
    if action is None:
        return web.Response(status=200)  # another interaction: acknowledged, nothing to do
    verdict, incident_id = action
    who = _who(payload)
    feedback = Feedback(who=who, verdict=cast(Verdict, verdict), source="slack")
    if await store_feedback(request.app, incident_id, feedback) is None:
        return web.json_response({"response_type": "ephemeral", "text": "This incident is no longer stored."})
    task = asyncio.create_task(_update_message(request.app, payload, verdict, who))
    request.app[FOLLOWUPS].add(task)
    task.add_done_callback(request.app[FOLLOWUPS].discard)
    return web.Response(status=200)


async def followups(app: web.Application) -> AsyncIterator[None]:
    """Message updates still in flight get a few seconds to finish before the HTTP session closes."""
    tasks: set[asyncio.Task[None]] = set()
    app[FOLLOWUPS] = tasks
    yield
    if tasks:
        _, late = await asyncio.wait(list(tasks), timeout=5)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)


def slack_routes() -> list[web.RouteDef]:
    return [web.post("/slack/interactions", slack_interactions)]
