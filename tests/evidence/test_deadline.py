"""`context.deadline_seconds`: a backend that answers every query, only late, costs the fetch its deadline,
not the sum of its phases; what came by then is diagnosed, with a note, and the alert's own series is among
it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from analyst.builtin import BuiltinAnalyst
from analyst.evidence import Evidence
from demo.processes import ManagedProcess
from receiver.evidence.context import collect_alert_context
from receiver.evidence.deadline import DeadlineSource
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from receiver.evidence.source import MetricSourceError
from tests.evidence.scenario import Scenario
from tests.support.quiet_source import QuietSource

DELAY = 0.4  # each answer's lateness


def late_proxy_app(upstream: str, asked: list[str], lateness: Callable[[str], float]) -> web.Application:
    """A loopback proxy in front of the real Prometheus that answers each request `lateness(its query)`
    seconds late."""

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        query = (await request.post()).get("query", "") if body else request.query.get("query", "")
        asked.append(str(query))
        await asyncio.sleep(lateness(str(query)))
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                upstream + request.path_qs,
                data=body,
                headers={"Content-Type": request.headers.get("Content-Type", "")},
            ) as answer,
        ):
            return web.Response(
                status=answer.status, body=await answer.read(), content_type=answer.content_type
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def evidence_through(server: TestServer, scenario: Scenario, deadline: float) -> tuple[float, Evidence]:
    source = PrometheusSource(PrometheusSettings(url=str(server.make_url("")), retries=0, timeout_seconds=5))
    started = time.monotonic()
    try:
        evidence = await collect_alert_context(
            scenario.incident(), source, ContextSettings(deadline_seconds=deadline), now=scenario.end
        )
    finally:
        await source.close()
    return time.monotonic() - started, evidence


async def test_a_backend_late_on_every_answer_costs_the_deadline_not_the_sum_of_the_phases(
    aiohttp_server, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    asked: list[str] = []
    server = await aiohttp_server(late_proxy_app(prometheus.url, asked, lambda _: DELAY))

    whole_took, whole = await evidence_through(server, scenario, deadline=60)
    whole_asked = len(asked)
    asked.clear()
    cut_took, cut = await evidence_through(server, scenario, deadline=4 * DELAY)

    assert not any("cut short" in note for note in whole.notes)
    assert whole_took > 5 * DELAY  # without a deadline the phases add up: the case this is about
    assert cut_took < 4 * DELAY + 1.0  # nothing waited for past the deadline (a second for the analysis)
    assert len(asked) < whole_asked
    assert any("evidence cut short" in n and "context.deadline_seconds" in n for n in cut.notes), cut.notes
    alert = next(s for s in cut.series if s.role == "alert")
    assert alert.available and alert.metric == "demo_order_error_ratio"
    cut_off = [s for s in cut.series if not s.available]
    assert cut_off and all((s.unavailable_reason or "").startswith("deadline") for s in cut_off)


async def test_what_came_by_the_deadline_is_diagnosed(
    aiohttp_server, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    """A backend that hangs on one kind of query (the counters' rates) and answers the rest: the fetch ends
    at its deadline, well before the request timeout, and the pool that came in time is named."""
    asked: list[str] = []
    hangs = lambda query: 30.0 if "rate(" in query else 0.0  # noqa: E731
    server = await aiohttp_server(late_proxy_app(prometheus.url, asked, hangs))

    took, evidence = await evidence_through(server, scenario, deadline=1.5)
    diagnosis = await BuiltinAnalyst().diagnose(evidence)

    assert took < 1.5 + 1.0  # the request timeout is 5 s
    assert any("rate(" in query for query in asked)
    counter = next(s for s in evidence.series if s.metric == "demo_http_requests_total")
    assert not counter.available and (counter.unavailable_reason or "").startswith("deadline")
    assert any("evidence cut short" in n for n in evidence.notes)
    assert diagnosis.primary_hypothesis.suspect.startswith("demo_db_pool_in_use{")
    assert "pool" in diagnosis.primary_hypothesis.title.lower()


class Recording(QuietSource):
    """A MetricSource that records the calls it is asked and answers after `delay` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.calls = delay, 0

    async def query_range(self, query: str, start: float, end: float, step: float) -> list:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return []

    async def series(self, matchers, start, end, limit=None) -> list:  # type: ignore[no-untyped-def]
        self.calls += 1
        return []


async def test_a_call_past_the_deadline_is_not_made_and_one_in_flight_is_cut() -> None:
    inner = Recording(delay=10)
    bounded = DeadlineSource(inner, 0.2)
    with pytest.raises(MetricSourceError) as in_flight:
        await bounded.query_range("up", 0, 60, 15)
    assert in_flight.value.kind == "deadline" and "not answered" in str(in_flight.value)
    with pytest.raises(MetricSourceError) as late:
        await bounded.series(["up"], 0, 60)
    assert late.value.kind == "deadline" and "not asked" in str(late.value)
    assert inner.calls == 1 and bounded.cut == 2
    assert bounded.note() is not None and "2 metric-source calls" in (bounded.note() or "")


async def test_a_fetch_within_its_deadline_has_no_note() -> None:
    bounded = DeadlineSource(Recording(), 5)
    assert await bounded.query_range("up", 0, 60, 15) == []
    assert bounded.cut == 0 and bounded.note() is None
