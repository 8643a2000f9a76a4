"""Exceptions raised by the receiver package."""


class ReceiverError(Exception):
    """Base class for receiver errors."""


class ConfigError(ReceiverError):
    """The configuration is invalid; the message names the key path and the reason."""


class PayloadError(ReceiverError):
    """A webhook payload was rejected; `status` is the HTTP answer and `field` the offending field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
