"""Map free-form alert severities onto the four PagerDuty levels, which also order noise thresholds."""

from __future__ import annotations

from typing import Literal

PagerDutySeverity = Literal["info", "warning", "error", "critical"]

_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}
_ALIASES: dict[str, PagerDutySeverity] = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "p0": "critical",
    "p1": "critical",
    "error": "error",
    "err": "error",
    "high": "error",
    "major": "error",
    "p2": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "p3": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
    "p4": "info",
}


def normalise_severity(severity: str) -> PagerDutySeverity:
    """The PagerDuty level of an alert's `severity` label; unknown values count as warning."""
    return _ALIASES.get(severity.strip().lower(), "warning")


def severity_at_least(severity: str, threshold: PagerDutySeverity) -> bool:
    return _RANK[normalise_severity(severity)] >= _RANK[threshold]
