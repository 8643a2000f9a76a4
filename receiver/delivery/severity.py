"""Map free-form alert severities onto the four PagerDuty levels, which also order noise thresholds."""

from __future__ import annotations

import re
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
    "p5": "info",
    # incident-management levels (`sev1`, `SEV-1`, `s1`): 0 and 1 page
    "sev0": "critical",
    "sev1": "critical",
    "s0": "critical",
    "s1": "critical",
    "sev2": "error",
    "s2": "error",
    "sev3": "warning",
    "s3": "warning",
    "sev4": "info",
    "s4": "info",
    "sev5": "info",
    # Zabbix's levels, and syslog's
    "disaster": "critical",
    "average": "warning",
    "information": "info",
    "notclassified": "info",
    "alert": "critical",
    "emerg": "critical",
    "notice": "info",
    "debug": "info",
}
_SEPARATORS = re.compile(r"[\s_-]+")


UNKNOWN_AS: PagerDutySeverity = "warning"


def severity_key(severity: str) -> str:
    """The label as it is looked up: lower case, without spaces, `-` and `_` (`SEV-1` is `sev1`)."""
    return _SEPARATORS.sub("", severity.lower())


def is_known_severity(severity: str) -> bool:
    """Whether the label is one of the aliases below (any other counts as `UNKNOWN_AS`)."""
    return severity_key(severity) in _ALIASES


def normalise_severity(severity: str) -> PagerDutySeverity:
    """The PagerDuty level of an alert's `severity` label, case, spaces, `-` and `_` aside (`SEV-1` is
    `sev1`); unknown values count as warning."""
    return _ALIASES.get(severity_key(severity), UNKNOWN_AS)


def severity_at_least(severity: str, threshold: PagerDutySeverity) -> bool:
    return _RANK[normalise_severity(severity)] >= _RANK[threshold]
