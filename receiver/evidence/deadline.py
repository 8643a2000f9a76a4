"""The time limit of one alert's evidence fetch (`context.deadline_seconds`).

A slow backend answers every query, only late: the fetch's phases (the alert's expression, the series
lookups, the related groups, the call latency, the window reaching back) add up to tens of seconds. Past the
deadline no call is made and none in flight is waited for; each fails as any failed call does (an unavailable
series, a note), and the analyst diagnoses what came in time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from receiver.evidence.source import MetricSource, MetricSourceError, RuleInfo, SeriesData

T = TypeVar("T")


class DeadlineSource:
    """A MetricSource whose calls end `seconds` after it was made (monotonic clock): a call past it fails at
    once, one in flight is cut at it, both as `deadline` errors; `cut` counts them."""

    def __init__(self, inner: MetricSource, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds
        self.at = time.monotonic() + seconds
        self.cut = 0

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def note(self) -> str | None:
        """The evidence note saying what the deadline left out; None when it cut nothing."""
        if not self.cut:
            return None
        calls = "call" if self.cut == 1 else "calls"
        return (
            f"evidence cut short: {self.cut} metric-source {calls} not made or not answered within"
            f" {self.seconds:g} s (context.deadline_seconds); the diagnosis rests on what came by then"
        )

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        return await self._bounded(lambda: self.inner.query_range(query, start, end, step))

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        return await self._bounded(lambda: self.inner.series(matchers, start, end, limit))

    async def rules(self) -> list[RuleInfo]:
        return await self._bounded(self.inner.rules)

    async def external_labels(self) -> dict[str, str]:
        return await self._bounded(self.inner.external_labels)

    async def metric_types(self) -> dict[str, str]:
        return await self._bounded(self.inner.metric_types)

    async def close(self) -> None:
        """The inner source belongs to the caller: it stays open."""

    async def _bounded(self, call: Callable[[], Awaitable[T]]) -> T:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            self.cut += 1
            raise MetricSourceError(
                "deadline", f"not asked: past context.deadline_seconds ({self.seconds:g} s)"
            )
        try:
            return await asyncio.wait_for(call(), remaining)
        except TimeoutError:
            if not self.passed:
                raise  # the call's own, not the deadline's
            self.cut += 1
            raise MetricSourceError(
                "deadline", f"not answered within context.deadline_seconds ({self.seconds:g} s)"
            ) from None
