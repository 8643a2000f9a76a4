"""Slack sink: chat.postMessage / chat.update through slack_sdk's AsyncWebClient, or an incoming webhook.

The client gets no retry handlers: the outbox owns retries, so a 429 surfaces here with its
Retry-After. Each posted message carries metadata with its outbox id, which lets `recover` find a
message that a crash interrupted before its `ts` was stored (needs `channels:history`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import aiohttp
import sqlite_utils
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from analyst.retry_after import retry_after_seconds
from receiver.delivery.errors import (
    CredentialsRejectedError,
    DeliveryError,
    OutcomeUnknownError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from receiver.delivery.http_errors import error_for_status, maybe_sent
from receiver.delivery.protocol import Delivery
from receiver.delivery.settings import SlackSettings
from receiver.storage import outbox as db_outbox

DESTINATION = "slack"
METADATA_EVENT = "alert_analyst_delivery"
POST, UPDATE, WEBHOOK = "chat.postMessage", "chat.update", "webhook"
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "service_unavailable", "fatal_error", "request_timeout"}
)
# Slack: "the server could not complete your operation(s) without encountering an error, likely due to a
# transient issue on our end", and the post may have half-succeeded: look for it before posting again.
HALF_DONE_ERRORS = frozenset({"internal_error", "fatal_error"})
# The token was refused: fixing `slack.token` (a reload) sends the rows that failed so again.
CREDENTIAL_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
HINTS = {
    "invalid_auth": "check slack.token",
    "not_authed": "check slack.token",
    "token_revoked": "the token was revoked: install the app again and update slack.token",
    "token_expired": "the token expired: update slack.token",
    "account_inactive": "the token's user or app is inactive: update slack.token",
    "channel_not_found": "check slack.channel / slack.routes (use the channel ID) and invite the app",
    "not_in_channel": "invite the app to the channel (/invite @app)",
    "is_archived": "the channel is archived: route to another channel",
    "missing_scope": "add the chat:write scope to the Slack app",
}


def queue_for(settings: SlackSettings, channel: str) -> str:
    """Posts are serialised per channel (Slack allows about one message per second per channel)."""
    return f"{DESTINATION}:{channel}" if settings.uses_web_api else f"{DESTINATION}:webhook"


def _api_error(method: str, exc: SlackApiError) -> DeliveryError:
    """Classify a Slack error. `exc.response` is a SlackResponse, or the raw aiohttp response when the
    body was not JSON (e.g. a proxy's HTML 502)."""
    response = exc.response
    status = int(getattr(response, "status_code", None) or getattr(response, "status", 0) or 0)
    data = getattr(response, "data", None)
    error = str(data.get("error") if isinstance(data, dict) and data.get("error") else f"HTTP {status}")
    retry_after = retry_after_seconds(dict(getattr(response, "headers", None) or {}))
    if status == 429 or status >= 500 or error in RETRYABLE_ERRORS:
        return RetryableDeliveryError(
            f"slack {method}: {error}", retry_after=retry_after, maybe_sent=error in HALF_DONE_ERRORS
        )
    hint = HINTS.get(error, "fix the message or the Slack configuration")
    rejected = error in CREDENTIAL_ERRORS or status in (401, 403)
    return (CredentialsRejectedError if rejected else PermanentDeliveryError)(
        f"slack {method}: {error} ({hint})"
    )


class SlackSink:
    destination = DESTINATION

    def __init__(self, settings: SlackSettings, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._timeout = settings.timeout_seconds
        self._webhook_url = settings.webhook_url_value()
        token = settings.token_value()
        self._client = (
            AsyncWebClient(
                token=token,
                base_url=settings.api_url,
                session=session,
                timeout=math.ceil(settings.timeout_seconds),
                retry_handlers=[],
            )
            if token
            else None
        )

    def _web_client(self) -> AsyncWebClient:
        if self._client is None:
            raise PermanentDeliveryError("slack Web API row but slack.token is not set")
        return self._client

    async def send(self, delivery: Delivery) -> dict[str, Any]:
        method = delivery.payload["method"]
        if method == WEBHOOK:
            await self._post_webhook(delivery.payload["message"])
            return {}
        body = dict(delivery.payload["body"])
        parent = delivery.parent_result
        if parent is not None:
            body["channel"] = parent["channel"]
            body["thread_ts" if method == POST else "ts"] = parent["ts"]
        client = self._web_client()
        try:
            # slack_sdk applies its own timeout only to a session it creates: with ours it waited up to
            # aiohttp's default of 5 minutes
            async with asyncio.timeout(self._timeout):
                if method == POST:
                    metadata = {"event_type": METADATA_EVENT, "event_payload": {"delivery_id": delivery.id}}
                    response = await client.chat_postMessage(
                        **body, metadata=metadata, unfurl_links=False, unfurl_media=False
                    )
                else:
                    response = await client.chat_update(**body)
        except SlackApiError as exc:
            raise _api_error(method, exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(
                f"slack {method}: {type(exc).__name__}: {exc}", maybe_sent=maybe_sent(exc)
            ) from exc
        return {"channel": str(response["channel"]), "ts": str(response["ts"])}

    async def _post_webhook(self, message: Mapping[str, Any]) -> None:
        if not self._webhook_url:
            raise PermanentDeliveryError("slack incoming-webhook row but slack.webhook_url is not set")
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with self._session.post(
                self._webhook_url, json=message, timeout=timeout, allow_redirects=False
            ) as response:
                text = await response.text()
                if response.status != 200:
                    raise error_for_status("slack webhook", response.status, text, response.headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"slack webhook: {type(exc).__name__}: {exc}") from exc

    async def recover(self, delivery: Delivery) -> dict[str, Any] | None:
        """Find a message posted by an interrupted attempt through its metadata, else allow a resend."""
        method = delivery.payload["method"]
        if method == UPDATE:
            return None
        if method == WEBHOOK:
            raise OutcomeUnknownError("incoming webhooks cannot be queried for earlier posts")
        parent = delivery.parent_result
        client = self._web_client()
        try:
            async with asyncio.timeout(self._timeout):
                if parent is not None:
                    response = await client.conversations_replies(
                        channel=parent["channel"], ts=parent["ts"], include_all_metadata=True, limit=200
                    )
                else:
                    response = await client.conversations_history(
                        channel=delivery.payload["body"]["channel"], include_all_metadata=True, limit=200
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"slack recover: {type(exc).__name__}: {exc}") from exc
        except SlackApiError as exc:
            error = _api_error("recover", exc)
            if isinstance(error, RetryableDeliveryError):
                raise error from exc
            raise OutcomeUnknownError(f"{error} (needs channels:history and a channel ID)") from exc
        for message in response.get("messages") or []:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("delivery_id") == delivery.id:
                channel = parent["channel"] if parent is not None else response.get("channel")
                return {
                    "channel": str(channel or delivery.payload["body"]["channel"]),
                    "ts": str(message["ts"]),
                }
        return None

    def record_result(self, db: sqlite_utils.Database, delivery: Delivery, result: Mapping[str, Any]) -> None:
        if delivery.kind == "parent" and result.get("ts"):
            db_outbox.record_thread_message(db, delivery.id, result["channel"], result["ts"])
