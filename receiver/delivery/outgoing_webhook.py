"""Generic webhook sink: the diagnosis as JSON, signed with HMAC-SHA256.

Headers: `X-Alert-Analyst-Timestamp: <unix seconds>` and
`X-Alert-Analyst-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>`;
`X-Alert-Analyst-Delivery: <outbox id>` lets receivers drop the duplicates a retry can cause.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import aiohttp
import sqlite_utils

from analyst.diagnosis import DiagnosisResult
from analyst.llm.redact import redact_document
from receiver.delivery.errors import RetryableDeliveryError
from receiver.delivery.http_errors import error_for_status
from receiver.delivery.protocol import Delivery
from receiver.delivery.recovery import RecoveryCheck
from receiver.delivery.settings import OutgoingWebhookSettings
from receiver.delivery.summary import IncidentLinks
from receiver.models import Incident

DESTINATION = "webhook"
QUEUE = DESTINATION
SIGNATURE_HEADER = "X-Alert-Analyst-Signature"
TIMESTAMP_HEADER = "X-Alert-Analyst-Timestamp"
DELIVERY_HEADER = "X-Alert-Analyst-Delivery"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` over `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, tolerance: float = 300.0) -> bool:
    """Receiver-side check: constant-time compare and a replay window of `tolerance` seconds."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def build_event(
    event: str,
    incident: Incident,
    diagnosis: DiagnosisResult | None,
    links: IncidentLinks,
    recovery: RecoveryCheck | None = None,
) -> dict[str, Any]:
    """The JSON document posted for `diagnosis` and `resolved` events, secrets redacted. A `resolved`
    event's diagnosis has follow-ups as its immediate actions, and `recovery` is the recovery checked at
    resolution (null when none was)."""
    document = {
        "event": event,
        "incident": {
            "id": incident.id,
            "alertname": incident.alertname,
            "severity": incident.severity,
            "status": incident.status,
            "labels": dict(incident.labels),
            "annotations": dict(incident.annotations),
            "starts_at": incident.starts_at,
            "ends_at": incident.ends_at,
            "group_key": incident.group_key,
            "fingerprint": incident.fingerprint,
        },
        "diagnosis": asdict(diagnosis) if diagnosis is not None else None,
        "links": {"ui": links.ui, "api": links.api},
    }
    if event == "resolved":
        document["recovery"] = asdict(recovery) if recovery is not None else None
    return dict(redact_document(document))


class OutgoingWebhookSink:
    destination = DESTINATION

    def __init__(self, settings: OutgoingWebhookSettings, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._url = settings.url or ""
        self._secret = settings.secret_value()
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)

    async def send(self, delivery: Delivery) -> dict[str, Any]:
        body = json.dumps(delivery.payload["document"], separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: str(delivery.id),
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                text = await response.text()
                if not 200 <= response.status < 300:
                    raise error_for_status("outgoing webhook", response.status, text, response.headers)
                return {"status": response.status}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"outgoing webhook: {type(exc).__name__}: {exc}") from exc

    async def recover(self, delivery: Delivery) -> dict[str, Any] | None:
        """Resend: receivers deduplicate on X-Alert-Analyst-Delivery."""
        return None

    def record_result(self, db: sqlite_utils.Database, delivery: Delivery, result: Mapping[str, Any]) -> None:
        return None
