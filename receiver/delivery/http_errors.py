"""HTTP answers to delivery outcomes: 408/429/5xx may succeed later, other 4xx never will."""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from receiver.delivery.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), case-insensitive lookup."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_for_status(destination: str, status: int, body: str, headers: Mapping[str, str]) -> DeliveryError:
    detail = f"{destination} answered HTTP {status}: {body[:300]}"
    if status in (408, 429) or status >= 500:
        return RetryableDeliveryError(detail, retry_after=parse_retry_after(headers))
    return PermanentDeliveryError(detail)
