"""Exceptions of the receiver package, in a module of their own so every layer can raise them.

ReceiverError
├── ConfigError
├── StorageUnusable (storage: the lock held by another process, a newer schema, an SQLite too old)
├── PayloadError (status, field)
├── RuleConflict
├── RuleNotFound
└── InvalidRuleField (field; also a ValueError)

Feature packages add their own subclasses (DeliveryError, MetricSourceError, BinaryNotFound, BacktestError,
storage's FeedbackRefused: a judgement with no diagnosis to judge, and the backtest route's Refused: a
request answered with a 4xx or 502).
"""


class ReceiverError(Exception):
    """Base class for receiver errors."""


class ConfigError(ReceiverError):
    """The configuration is invalid; the message names the key path and the reason."""


class StorageUnusable(ReceiverError):
    """The database at storage.path cannot be used by this process; the message names the path, the reason
    and what to do. `serve` logs it as `startup_failed` and exits 1."""


class PayloadError(ReceiverError):
    """A webhook payload was rejected; `status` is the HTTP answer and `field` the offending field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class RuleConflict(ReceiverError):
    """The detection rule exists already, or is read-only (defined in the configuration file)."""


class RuleNotFound(ReceiverError):
    """No detection rule has that name."""


class InvalidRuleField(ReceiverError, ValueError):
    """A detection rule's `field` is out of range (a ValueError, so pydantic reports it as invalid)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field
