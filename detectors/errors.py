"""Exceptions raised by the detectors package."""


class DetectorError(Exception):
    """Base class for detector errors (only for misuse: bad data never raises, it yields a typed outcome)."""
