"""HTTP answers to delivery outcomes: 408/429/5xx may succeed later, other 4xx never will (401/403 may
once the credentials are fixed)."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from analyst.retry_after import retry_after_seconds
from receiver.delivery.errors import (
    CredentialsRejectedError,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)


def maybe_sent(exc: BaseException) -> bool:
    """Whether a request that raised `exc` may still have reached the destination: anything but a
    connection that was never made (a timeout may come after the server stored the request)."""
    return not isinstance(exc, aiohttp.ClientConnectorError)


def error_for_status(destination: str, status: int, body: str, headers: Mapping[str, str]) -> DeliveryError:
    detail = f"{destination} answered HTTP {status}: {body[:300]}"
    if status in (408, 429) or status >= 500:
        return RetryableDeliveryError(detail, retry_after=retry_after_seconds(headers))
    if status in (401, 403):
        return CredentialsRejectedError(detail)
    return PermanentDeliveryError(detail)
