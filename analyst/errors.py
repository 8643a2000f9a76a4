"""Exceptions raised by the analyst package."""


class AnalystError(Exception):
    """Base class for analyst errors."""
