"""Whether an on-demand diagnosis could read any metric: the first failure of its metric source, and the
test that no series was read because of it (the CLI warns; a re-diagnosis keeps the stored one)."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

from analyst.evidence import Evidence
from receiver.evidence.source import MetricSource, MetricSourceError, RuleInfo, SeriesData

T = TypeVar("T")


class FailureRecordingSource:
    """A MetricSource that passes every call on to `inner` and keeps the first MetricSourceError raised,
    so the caller can say why the evidence is missing."""

    def __init__(self, inner: MetricSource) -> None:
        self.inner = inner
        self.first_error: MetricSourceError | None = None

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        return await self._recorded(self.inner.query_range(query, start, end, step))

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        return await self._recorded(self.inner.series(matchers, start, end, limit))

    async def rules(self) -> list[RuleInfo]:
        return await self._recorded(self.inner.rules())

    async def external_labels(self) -> dict[str, str]:
        return await self._recorded(self.inner.external_labels())

    async def metric_types(self) -> dict[str, str]:
        return await self._recorded(self.inner.metric_types())

    async def close(self) -> None:
        await self.inner.close()

    async def _recorded(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except MetricSourceError as exc:
            self.first_error = self.first_error or exc
            raise


def unread_because(evidence: Evidence, error: MetricSourceError | None) -> MetricSourceError | None:
    """`error` when no series of `evidence` could be read and the metric source failed (down, timing out,
    circuit open, 5xx): the evidence is missing, not quiet. None when a series was read, or none failed."""
    if error is None or any(series.available for series in evidence.series):
        return None
    return error
