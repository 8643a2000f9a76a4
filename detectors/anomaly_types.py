"""Infer an `AnomalyType` from the series name, the direction of the change and its shape."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from detectors.types import AnomalyType

Shape = Literal["spike", "level_shift", "trend", "gap"]

_RULES: tuple[tuple[str, Literal["up", "down", "any"], AnomalyType], ...] = (
    (r"error|fail|5\d\d|exception|reject", "up", AnomalyType.ERROR_RATE_SPIKE),
    (r"delay|lag|queue_?time|execution|backlog", "up", AnomalyType.EXECUTION_DELAY),
    (r"latency|duration|response_?time|rtt|p9\d", "up", AnomalyType.LATENCY_SPIKE),
    (r"volatil|funding|vix|spread", "any", AnomalyType.MARKET_VOLATILITY),
    (r"pnl|profit|revenue|equity|balance|margin", "down", AnomalyType.SUDDEN_LOSS),
    (
        r"throughput|success|fill_?rate|hit_?rate|apdex|sharpe|performance|availability",
        "down",
        AnomalyType.PERFORMANCE_DROP,
    ),
    (
        r"pool|connection|cpu|memory|mem_|disk|saturat|utili[sz]ation|usage|file_?descriptor|threads",
        "up",
        AnomalyType.RESOURCE_SATURATION,
    ),
    (r"volume|request|rps|qps|traffic|orders|trades|messages|events", "up", AnomalyType.VOLUME_SPIKE),
)

_GENERIC = {
    AnomalyType.SPIKE,
    AnomalyType.DIP,
    AnomalyType.LEVEL_SHIFT,
    AnomalyType.TREND,
}


def is_generic(anomaly_type: AnomalyType) -> bool:
    """True for shape-only types (SPIKE, DIP, LEVEL_SHIFT, TREND) that inference may refine."""
    return anomaly_type in _GENERIC


_NAME_LABEL = re.compile(r'__name__="((?:[^"\\]|\\.)*)"')
# A request's outcome: `code="503"` says the server failed whatever the metric's name.
_OUTCOME = re.compile(r'[{,]\s*(?:code|status|status_code|http_status|response_code)="([^"]*)"')


def what_it_measures(series_name: str) -> str:
    """The part of a series' name that says what it measures: its metric name (or, for an expression's
    series, `{__name__="sum(rate(...))"}`, the expression) and its outcome labels' values; not its other
    labels, where a pod `p90` or a port `9500` says nothing of the kind of anomaly."""
    head, _, labels = series_name.partition("{")
    if not head and (named := _NAME_LABEL.search(series_name)):
        head = named.group(1)
    return " ".join([head, *_OUTCOME.findall("{" + labels)])


@lru_cache(maxsize=65536)
def infer_anomaly_type(
    series_name: str, direction: Literal["up", "down"] | None, shape: Shape
) -> AnomalyType:
    """Domain type when the name says what the series measures, otherwise the generic shape type."""
    if shape == "gap":
        return AnomalyType.DATA_GAP
    name = what_it_measures(series_name).lower()
    for pattern, wanted, anomaly_type in _RULES:
        if re.search(pattern, name) and (wanted == "any" or wanted == direction):
            return anomaly_type
    if shape == "level_shift":
        return AnomalyType.LEVEL_SHIFT
    if shape == "trend":
        return AnomalyType.TREND
    return AnomalyType.DIP if direction == "down" else AnomalyType.SPIKE
