"""The `MetricSource` protocol: range queries, series lookup and rules, whatever speaks PromQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

import numpy as np

from receiver.errors import ReceiverError

T = TypeVar("T")

ErrorKind = Literal[
    "unreachable", "timeout", "circuit_open", "bad_query", "execution", "too_large", "other", "deadline"
]
WARNING_NOTES = 5  # distinct backend warnings an incident's notes show
_WARNINGS: ContextVar[list[str] | None] = ContextVar("metric_source_warnings", default=None)
# The kinds a backend's answer can have, each a label of the error counter; `deadline` is the fetch's own
# time limit (`deadline.DeadlineSource`), not the backend's.
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

    async def metric_types(self) -> dict[str, str]:
        """Each metric's declared type (`counter`, `gauge`, `histogram`, ...) as its exporters' `# TYPE`
        lines said (Prometheus /api/v1/metadata: of the targets it scrapes now), else {}."""
        ...

    async def close(self) -> None: ...


async def gather_then_raise(calls: Iterable[Awaitable[T]]) -> list[T]:
    """The answers of `calls`, run at once; a failure is raised only when every call is done, so none is
    left running behind its caller (asyncio.run would report it on exit, `diagnose` as a traceback)."""
    answers = await asyncio.gather(*calls, return_exceptions=True)
    failures = [answer for answer in answers if isinstance(answer, BaseException)]
    if failures:
        raise failures[0]
    return [answer for answer in answers if not isinstance(answer, BaseException)]


@contextmanager
def collecting_warnings() -> Iterator[list[str]]:
    """The `warnings` of successful backend answers (Thanos' "partial response...") to calls made in this
    context and in the tasks it starts: a source reports them with `report_warnings`."""
    found: list[str] = []
    token = _WARNINGS.set(found)
    try:
        yield found
    finally:
        _WARNINGS.reset(token)


def report_warnings(warnings: Iterable[object]) -> None:
    """Add a backend answer's warnings to the collection in progress, if any."""
    found = _WARNINGS.get()
    if found is not None:
        found.extend(str(w) for w in warnings)


def warning_notes(warnings: Iterable[str], limit: int = WARNING_NOTES) -> list[str]:
    """Evidence notes for backend warnings: each distinct one once (up to `limit`, each cut to 300
    characters), then how many more there were."""
    distinct = list(dict.fromkeys(w.strip()[:300] for w in warnings if w.strip()))
    notes = [f"the metric source warned (the data may be partial): {w}" for w in distinct[:limit]]
    if len(distinct) > limit:
        notes.append(f"the metric source gave {len(distinct) - limit} more warnings")
    return notes
