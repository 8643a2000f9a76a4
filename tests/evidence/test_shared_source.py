"""Identical metric-source calls share one backend call (`receiver.evidence.shared.SharedSource`): those
made at once and those made within `share_seconds` of an answer; failures are not kept, a cancelled caller
does not cancel the call for the others, and each caller gets the backend's warnings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.shared import SharedSource, range_bytes
from receiver.evidence.source import (
    MetricSourceError,
    SeriesData,
    collecting_warnings,
    report_warnings,
)
from tests.support.quiet_source import QuietSource


class CountingSource(QuietSource):
    """A backend that answers after `delay` seconds with one series per query (its value the call's
    number), warns once per call, and fails the queries named in `failing`."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.calls: list[tuple[object, ...]] = []
        self.failing: set[str] = set()
        self.closed = False

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        self.calls.append(("query_range", query, start, end, step))
        await asyncio.sleep(self.delay)
        if query in self.failing:
            raise MetricSourceError("timeout", f"{query} timed out")
        report_warnings([f"partial answer to {query}"])
        times = np.arange(start, end + step, step)
        return [SeriesData({"__name__": query}, times, np.full(times.size, float(len(self.calls))))]

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        self.calls.append(("series", tuple(matchers), start, end, limit))
        await asyncio.sleep(self.delay)
        return [{"__name__": m} for m in matchers]

    async def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shared(
    backend: CountingSource,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    **settings: float,
) -> SharedSource:
    return SharedSource(backend, PrometheusSettings(**settings), registry=registry, clock=clock or Clock())


async def test_calls_made_at_once_share_one_backend_call() -> None:
    backend, registry = CountingSource(), CollectorRegistry()
    source = shared(backend, registry=registry)

    answers = await asyncio.gather(*(source.query_range("up", 0.0, 60.0, 15.0) for _ in range(5)))

    assert len(backend.calls) == 1
    assert all(a[0].values.tolist() == [1.0] * 5 for a in answers)
    assert len({id(a) for a in answers}) == 5 and len({id(a[0].labels) for a in answers}) == 5
    assert not answers[0][0].values.flags.writeable  # shared: nobody may change it for the others
    assert registry.get_sample_value("alert_analyst_metric_source_shared_total", {"call": "query_range"}) == 4


async def test_a_call_within_share_seconds_is_answered_and_a_later_one_asks_again() -> None:
    backend, clock = CountingSource(), Clock()
    source = shared(backend, clock, share_seconds=15.0)

    await source.query_range("up", 0.0, 60.0, 15.0)
    clock.now += 14.0
    again = await source.query_range("up", 0.0, 60.0, 15.0)
    clock.now += 2.0
    later = await source.query_range("up", 0.0, 60.0, 15.0)

    assert len(backend.calls) == 2
    assert again[0].values[0] == 1.0 and later[0].values[0] == 2.0


async def test_different_windows_queries_and_lookups_are_not_shared() -> None:
    backend = CountingSource()
    source = shared(backend)

    await source.query_range("up", 0.0, 60.0, 15.0)
    await source.query_range("up", 15.0, 75.0, 15.0)
    await source.query_range("down", 0.0, 60.0, 15.0)
    await source.series(["up"], 0.0, 60.0, limit=10)
    await source.series(["up"], 0.0, 60.0, limit=20)
    lookups = await asyncio.gather(source.series(["up"], 0.0, 60.0, 10), source.series(["up"], 0.0, 60.0, 10))

    assert len(backend.calls) == 5
    assert lookups[0] == lookups[1] == [{"__name__": "up"}] and lookups[0][0] is not lookups[1][0]


async def test_a_failure_reaches_every_caller_and_is_not_kept() -> None:
    backend = CountingSource()
    backend.failing.add("slow")
    source = shared(backend)

    answers = await asyncio.gather(
        *(source.query_range("slow", 0.0, 60.0, 15.0) for _ in range(3)), return_exceptions=True
    )
    assert len(backend.calls) == 1
    assert all(isinstance(a, MetricSourceError) and a.kind == "timeout" for a in answers)

    backend.failing.clear()
    assert (await source.query_range("slow", 0.0, 60.0, 15.0))[0].values[0] == 2.0
    assert len(backend.calls) == 2


async def test_a_cancelled_caller_does_not_cancel_the_call_for_the_others() -> None:
    backend = CountingSource(delay=0.05)
    source = shared(backend)
    first = asyncio.ensure_future(source.query_range("up", 0.0, 60.0, 15.0))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(source.query_range("up", 0.0, 60.0, 15.0))
    await asyncio.sleep(0.01)

    first.cancel()
    answer = await second

    assert first.cancelled() and answer[0].values[0] == 1.0 and len(backend.calls) == 1


async def test_each_caller_collects_the_backends_warnings() -> None:
    source = shared(CountingSource())

    async def one() -> list[str]:
        with collecting_warnings() as found:
            await source.query_range("up", 0.0, 60.0, 15.0)
        return found

    first, second = await asyncio.gather(one(), one())
    kept = await one()

    assert first == second == kept == ["partial answer to up"]


async def test_answers_beyond_the_memory_budget_go_oldest_first() -> None:
    backend = CountingSource(delay=0.0)
    one_answer = range_bytes(await CountingSource(delay=0.0).query_range("q0", 0.0, 60.0, 15.0))
    source = shared(backend, share_max_bytes=2 * one_answer)

    for name in ("q0", "q1", "q2"):  # q0 is dropped to keep q2
        await source.query_range(name, 0.0, 60.0, 15.0)
    for name in ("q1", "q2", "q0"):
        await source.query_range(name, 0.0, 60.0, 15.0)

    assert [c[1] for c in backend.calls] == ["q0", "q1", "q2", "q0"]


async def test_an_answer_larger_than_the_budget_is_not_kept() -> None:
    backend = CountingSource(delay=0.0)
    source = shared(backend, share_max_bytes=10)

    await source.query_range("up", 0.0, 60.0, 15.0)
    await source.query_range("up", 0.0, 60.0, 15.0)

    assert len(backend.calls) == 2


async def test_share_seconds_zero_asks_the_backend_every_time() -> None:
    backend = CountingSource()
    source = shared(backend, share_seconds=0.0)

    answers = await asyncio.gather(*(source.query_range("up", 0.0, 60.0, 15.0) for _ in range(3)))

    assert len(backend.calls) == 3 and answers[0][0].values.flags.writeable


async def test_close_closes_the_backend_and_stops_the_calls_in_flight() -> None:
    backend = CountingSource(delay=10.0)
    source = shared(backend)
    waiting = asyncio.ensure_future(source.query_range("up", 0.0, 60.0, 15.0))
    await asyncio.sleep(0.01)

    await source.close()

    assert backend.closed
    with pytest.raises(asyncio.CancelledError):
        await waiting
