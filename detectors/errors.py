"""Exceptions raised by the detectors package."""


class DetectorError(Exception):
    """Base class for detector errors (only for misuse: bad data never raises, it yields a typed outcome)."""


class InvalidRuleError(DetectorError):
    """A `DetectionRule` field is out of range; `field` names it, the message says what is accepted."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field
