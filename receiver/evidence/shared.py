"""Identical metric-source calls share one backend call: those made at once, and those made within
`prometheus.share_seconds` of an answer.

An alert storm is the usual case: Alertmanager sends a rule's alerts together, with one `startsAt`, so
their evidence windows (aligned to the query step) are the same, and so are the queries for the scope
they share (the namespace's related series, the configured context queries, the call graph). Before,
each alert of a storm asked them again: 200 alerts of one rule made 2,897 range queries of which 237
differed. Answers are kept in the order they came, the oldest dropped first once older than
`share_seconds` or beyond `share_max_bytes`; a failure is never kept (the next call tries again).
Each caller gets its own list and label dicts; the value and timestamp arrays are shared, read-only.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter

from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import (
    MetricSource,
    RuleInfo,
    SeriesData,
    collecting_warnings,
    report_warnings,
)

T = TypeVar("T")
# What a label pair costs in memory, about (two short strings in a dict), for the byte budget.
LABEL_BYTES = 100


@dataclass(frozen=True)
class _Answer(Generic[T]):
    value: T
    warnings: tuple[str, ...]
    expires: float
    size: int


def range_bytes(answer: Sequence[SeriesData]) -> int:
    """About what a range query's answer holds in memory."""
    return sum(s.values.nbytes + s.timestamps.nbytes + LABEL_BYTES * len(s.labels) for s in answer)


def series_bytes(answer: Sequence[dict[str, str]]) -> int:
    """About what a series lookup's answer holds in memory."""
    return sum(LABEL_BYTES * len(labels) for labels in answer)


class SharedSource:
    """A MetricSource over `source` whose identical range queries and series lookups share one call
    (see the module's doc). `shared` counts the calls answered without one, by call."""

    def __init__(
        self,
        source: MetricSource,
        settings: PrometheusSettings,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self._seconds = settings.share_seconds
        self._max_bytes = settings.share_max_bytes
        self._clock = clock
        self._answers: OrderedDict[Hashable, _Answer[Any]] = OrderedDict()
        self._bytes = 0
        self._pending: dict[Hashable, asyncio.Task[_Answer[Any]]] = {}
        self.shared: Counter | None = None
        if registry is not None:
            self.shared = Counter(
                "alert_analyst_metric_source_shared",
                "Metric-source calls answered by an identical call made at once or shortly before.",
                ["call"],
                registry=registry,
            )
            for call in ("query_range", "series"):
                self.shared.labels(call)

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        if self._seconds <= 0:
            return await self.source.query_range(query, start, end, step)
        answer = await self._answer(
            ("query_range", query, start, end, step),
            lambda: self._read_only(self.source.query_range(query, start, end, step)),
            range_bytes,
        )
        return [SeriesData(dict(s.labels), s.timestamps, s.values) for s in answer]

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        if self._seconds <= 0:
            return await self.source.series(matchers, start, end, limit)
        answer = await self._answer(
            ("series", tuple(matchers), start, end, limit),
            lambda: self.source.series(matchers, start, end, limit),
            series_bytes,
        )
        return [dict(labels) for labels in answer]

    async def rules(self) -> list[RuleInfo]:
        return await self.source.rules()

    async def external_labels(self) -> dict[str, str]:
        return await self.source.external_labels()

    async def metric_types(self) -> dict[str, str]:
        return await self.source.metric_types()

    async def close(self) -> None:
        for pending in list(self._pending.values()):
            pending.cancel()
        self._answers.clear()
        self._bytes = 0
        await self.source.close()

    async def _answer(
        self, key: tuple[Any, ...], call: Callable[[], Awaitable[T]], size: Callable[[T], int]
    ) -> T:
        self._expire()
        answer: _Answer[Any] | None = self._answers.get(key)
        if answer is None:
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = asyncio.ensure_future(self._fetch(key, call, size))
                pending.add_done_callback(_retrieved)
            elif self.shared is not None:
                self.shared.labels(key[0]).inc()
            answer = await asyncio.shield(pending)
        elif self.shared is not None:
            self.shared.labels(key[0]).inc()
        report_warnings(answer.warnings)
        value: T = answer.value
        return value

    async def _fetch(
        self, key: Hashable, call: Callable[[], Awaitable[T]], size: Callable[[T], int]
    ) -> _Answer[Any]:
        """One backend call for every caller of `key` (its own task: a caller cancelled, by its stage's
        timeout say, does not cancel it for the others); its warnings kept for each of them."""
        try:
            with collecting_warnings() as warnings:
                value = await call()
        finally:
            self._pending.pop(key, None)
        answer = _Answer(value, tuple(warnings), self._clock() + self._seconds, size(value))
        self._keep(key, answer)
        return answer

    def _keep(self, key: Hashable, answer: _Answer[Any]) -> None:
        if answer.size > self._max_bytes:
            return
        if (old := self._answers.pop(key, None)) is not None:
            self._bytes -= old.size
        self._answers[key] = answer
        self._bytes += answer.size
        while self._bytes > self._max_bytes:
            _, dropped = self._answers.popitem(last=False)
            self._bytes -= dropped.size

    def _expire(self) -> None:
        """Drop the answers older than `share_seconds` (the oldest come first)."""
        now = self._clock()
        while self._answers:
            key, oldest = next(iter(self._answers.items()))
            if oldest.expires > now:
                return
            del self._answers[key]
            self._bytes -= oldest.size

    @staticmethod
    async def _read_only(call: Awaitable[list[SeriesData]]) -> list[SeriesData]:
        answer = await call
        for s in answer:
            s.values.flags.writeable = False
            s.timestamps.flags.writeable = False
        return answer


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A shared call's failure is its callers' to raise; one whose callers were all cancelled is not an
    unretrieved exception."""
    if not task.cancelled():
        task.exception()
