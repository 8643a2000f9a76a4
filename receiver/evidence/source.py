"""The `MetricSource` protocol: range queries, series lookup and rules, whatever speaks PromQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from receiver.errors import ReceiverError

ErrorKind = Literal["unreachable", "timeout", "circuit_open", "bad_query", "execution", "too_large", "other"]
ERROR_KINDS: tuple[ErrorKind, ...] = (
    "unreachable",
    "timeout",
    "circuit_open",
    "bad_query",
    "execution",
    "too_large",
    "other",
)


class MetricSourceError(ReceiverError):
    """A metric-source call failed; `kind` says how (and labels the error counter)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind

    def __str__(self) -> str:
        return f"{self.kind}: {self.args[0]}"


@dataclass(frozen=True, eq=False)
class SeriesData:
    """One series of a range query: float64 `values` at Unix-second `timestamps` (NaN/±Inf kept)."""

    labels: Mapping[str, str]
    timestamps: np.ndarray
    values: np.ndarray

    @property
    def metric(self) -> str:
        return self.labels.get("__name__", "")


@dataclass(frozen=True)
class RuleInfo:
    """An alerting or recording rule as listed by /api/v1/rules."""

    name: str
    query: str
    type: Literal["alerting", "recording"]
    labels: Mapping[str, str] = field(default_factory=dict)
    group: str = ""


class MetricSource(Protocol):
    """What evidence collection and scheduled detection need from a metrics backend."""

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        """Evaluate `query` at start + k*step up to end (splitting to respect the backend's point limit)."""
        ...

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        """Label sets of the series matching any selector in `matchers` within [start, end]."""
        ...

    async def rules(self) -> list[RuleInfo]:
        """Alerting and recording rules known to the backend (empty if it has no ruler)."""
        ...

    async def external_labels(self) -> dict[str, str]:
        """The backend's external labels when it exposes them (Prometheus /api/v1/status/config), else {}."""
        ...

    async def close(self) -> None: ...
