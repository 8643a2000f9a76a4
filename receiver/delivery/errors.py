"""Exceptions of the delivery package: sinks raise them, the outbox decides what happens next.

DeliveryError
├── RetryableDeliveryError
├── PermanentDeliveryError
│   └── CredentialsRejectedError
└── OutcomeUnknownError
"""

from __future__ import annotations

from receiver.errors import ReceiverError


class DeliveryError(ReceiverError):
    """A delivery to a destination failed."""


class RetryableDeliveryError(DeliveryError):
    """The destination may accept the same request later (429, 5xx, timeouts, connection errors).

    `retry_after` is the wait in seconds the destination asked for (Retry-After), if any. `maybe_sent`:
    the request may have reached the destination (no answer in time, the connection lost after sending,
    Slack's `fatal_error`), so the next attempt asks the sink's `recover` before sending it again.
    """

    def __init__(self, message: str, retry_after: float | None = None, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (bad credentials, unknown channel, invalid payload): fix the config."""


class CredentialsRejectedError(PermanentDeliveryError):
    """The destination refused the credentials (HTTP 401/403, Slack `invalid_auth`): the row fails, and is
    queued again when a configuration reload changes that destination's settings."""


class OutcomeUnknownError(DeliveryError):
    """A send was interrupted and the destination cannot tell whether it happened."""
