"""Slack interactivity: the feedback buttons of a diagnosis reply post here (`POST /slack/interactions`).

Every request is checked against the app's signing secret (v0 HMAC-SHA256 of `v0:{timestamp}:{body}`),
must be at most five minutes old and is accepted once (the signature is remembered). The answer is an
empty 200 right after the judgement is stored; the message is updated through `response_url` behind it
(Slack shows nothing of a `block_actions` answer's body, so what the clicker must read goes there too).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
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
    parse_feedback_value,
)
from receiver.errors import PayloadError
from receiver.storage import feedback as db_feedback
from receiver.storage.feedback import VERDICTS, Feedback, Verdict
from receiver.web.feedback import FeedbackRefused, store_feedback
from receiver.web.json_errors import decode_json, error_response
from receiver.web.keys import HTTP_SESSION, SETTINGS, STORE

MAX_AGE_SECONDS = 300
VERDICT_BLOCK_ID = "alert_analyst_verdict"
RESPONSE_TIMEOUT_SECONDS = 10.0
WHO_LIMIT = 190  # "slack:" + this stays within the feedback API's 200 characters
# Unix seconds in ASCII digits (str.isdigit also takes "²", which int() refuses).
TIMESTAMP = re.compile(r"[0-9]{1,12}")
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
    if not signature or not TIMESTAMP.fullmatch(timestamp):
        return "missing X-Slack-Request-Timestamp (Unix seconds) or X-Slack-Signature"
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return "stale request: X-Slack-Request-Timestamp is more than 5 minutes away"
    if not hmac.compare_digest(slack_signature(secret, timestamp, body), signature):
        return "bad signature"
    return None


def _feedback_action(payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """(verdict, button value) of a click on one of our buttons; None for any other interaction (another
    type, an action id we do not know, fields of the wrong type)."""
    actions = payload.get("actions")
    if payload.get("type") != "block_actions" or not isinstance(actions, list):
        return None
    for action in actions:
        if not isinstance(action, dict):
            continue
        action_id, value = action.get("action_id"), action.get("value")
        if not isinstance(action_id, str) or not isinstance(value, str) or not value:
            continue
        verdict = action_id.removeprefix(FEEDBACK_ACTION_PREFIX)
        if action_id.startswith(FEEDBACK_ACTION_PREFIX) and verdict in VERDICTS:
            return verdict, value
    return None


def _who(payload: Mapping[str, Any]) -> str:
    user = payload.get("user")
    user = user if isinstance(user, dict) else {}
    name = next((user[k] for k in ("username", "name", "id") if isinstance(user.get(k), str) and user[k]), "")
    return "slack:" + (name[:WHO_LIMIT] or "unknown")


def judged_blocks(blocks: list[dict[str, Any]], verdict: str, who: str) -> list[dict[str, Any]]:
    """The message's blocks with a line saying who judged it how, just above the (kept) buttons."""
    kept = [copy.deepcopy(b) for b in blocks if b.get("block_id") != VERDICT_BLOCK_ID]
    line = context_block(f"Judged *{verdict}* by {escape_mrkdwn(who.removeprefix('slack:'))}")
    line["block_id"] = VERDICT_BLOCK_ID
    at = next((i for i, b in enumerate(kept) if b.get("block_id") == FEEDBACK_BLOCK_ID), len(kept))
    return [*kept[:at], line, *kept[at:]]


def trusted_response_url(url: str, api_url: str) -> bool:
    """Slack's own hosts over https, or the host of `slack.api_url` (a proxy or a test server)."""
    try:
        target, api = urlsplit(url), urlsplit(api_url)
        slack = target.scheme == "https" and (target.hostname or "").endswith(".slack.com")
        return slack or (target.hostname, target.port) == (api.hostname, api.port)
    except ValueError:  # "https://[::1", a port out of range: not a URL to post to
        return False


async def _update_message(app: web.Application, payload: Mapping[str, Any], verdict: str, who: str) -> None:
    message = payload.get("message")
    blocks = message.get("blocks") if isinstance(message, dict) else None
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks) or not blocks:
        return
    text = message.get("text") if isinstance(message, dict) else None
    body = {
        "replace_original": True,
        "text": text if isinstance(text, str) else "",
        "blocks": judged_blocks(blocks, verdict, who),
    }
    await _respond(app, payload, body)


async def _tell_clicker(app: web.Application, payload: Mapping[str, Any], text: str) -> None:
    """A message only the clicker sees, below the original (which stays as it is)."""
    await _respond(app, payload, {"response_type": "ephemeral", "replace_original": False, "text": text})


async def _respond(app: web.Application, payload: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    url = payload.get("response_url")
    if not isinstance(url, str) or not url:
        return
    if not trusted_response_url(url, app[SETTINGS].slack.api_url):
        log.warning("slack_response_url_refused", url=url[:200])
        return
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
        payload = decode_json(parse_qs(body.decode())["payload"][0].encode())
    except (KeyError, UnicodeDecodeError):
        return error_response(400, "body must be form-encoded with a JSON payload", "payload")
    except PayloadError as exc:
        return error_response(400, f"payload: {exc}", "payload")
    if not isinstance(payload, dict):
        return error_response(400, "payload must be a JSON object", "payload")
    action = _feedback_action(payload)
    if action is None:
        log.info("slack_interaction_ignored", type=str(payload.get("type"))[:100])
        return web.Response(status=200)  # another interaction: acknowledged, nothing to do
    verdict, value = action
    incident_id, diagnosis_id = parse_feedback_value(value)  # no diagnosis id: a button posted before it
    who = _who(payload)
    feedback = Feedback(who=who, verdict=cast(Verdict, verdict), source="slack", diagnosis_id=diagnosis_id)
    try:
        await store_feedback(request.app, incident_id, feedback)
    except FeedbackRefused as exc:
        _follow_up(request.app, _tell_clicker(request.app, payload, str(exc)))
        return web.Response(status=200)
    _follow_up(request.app, _update_message(request.app, payload, verdict, who))
    return web.Response(status=200)


def _follow_up(app: web.Application, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` after the answer; the cleanup context waits for it before the HTTP session closes."""
    task = asyncio.create_task(work)
    app[FOLLOWUPS].add(task)
    task.add_done_callback(app[FOLLOWUPS].discard)


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
