"""Per-call latency series: how the evidence names them and how the analyst reads them.

The evidence turns each call's latency, as the caller's or the callee's side of the call timed it (a
mesh's or a trace pipeline's metrics: `receiver.evidence.call_latency`), into a series of the callee named
CALL_LATENCY_METRIC, labelled CALLEE, CALLER (when the source names it) and MEASURED_BY (the side).
The caller's side times the network both ways and the callee's work; the callee's side only its work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

CALL_LATENCY_METRIC = "call_latency"
CALLEE = "callee"
CALLER = "caller"
MEASURED_BY = "measured_by"

Side = Literal["caller", "callee"]


def measured_by_caller(labels: Mapping[str, str]) -> bool:
    """The series times calls from the caller's side."""
    return labels.get(MEASURED_BY) == "caller"


def callee_view(labels: Mapping[str, str], caller: str | None) -> bool:
    """The series is the callee's own view of the calls from `caller` (or of all its calls, where the
    source does not name callers)."""
    return labels.get(MEASURED_BY) == "callee" and labels.get(CALLER) in (None, caller)
