"""A failing metric source never stops an incident: evidence says what is missing and why; it is counted."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from demo.processes import ManagedProcess, free_port
from receiver.evidence.context import collect_alert_context
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.promql import generator_url_for
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from receiver.evidence.source import MetricSourceError
from tests.evidence.scenario import Scenario


def errors(registry: CollectorRegistry, kind: str) -> float:
    return registry.get_sample_value("alert_analyst_metric_source_errors_total", {"kind": kind}) or 0.0


async def test_prometheus_down_fails_fast_and_marks_evidence_unavailable(scenario: Scenario):
    registry = CollectorRegistry()
    source = PrometheusSource(
        PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0), registry=registry
    )
    started = time.monotonic()
    evidence = await collect_alert_context(scenario.incident(), source, ContextSettings(), now=scenario.end)
    await source.close()

    assert time.monotonic() - started < 3
    [alert] = evidence.series
    assert alert.role == "alert" and not alert.available
    assert alert.unavailable_reason is not None and alert.unavailable_reason.startswith("unreachable")
    assert any("related series skipped" in note for note in evidence.notes)
    assert errors(registry, "unreachable") >= 1


async def test_a_slow_backend_times_out_without_holding_a_worker(aiohttp_server, scenario: Scenario):
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": []}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    server = await aiohttp_server(app)
    registry = CollectorRegistry()
    source = PrometheusSource(
        PrometheusSettings(url=str(server.make_url("")), retries=0, timeout_seconds=0.3), registry=registry
    )
    started = time.monotonic()
    evidence = await collect_alert_context(scenario.incident(), source, ContextSettings(), now=scenario.end)
    await source.close()

    assert time.monotonic() - started < 3
    alert = evidence.series[0]
    assert not alert.available and alert.unavailable_reason is not None
    assert alert.unavailable_reason.startswith("timeout")
    assert errors(registry, "timeout") >= 1


async def test_a_bad_expression_is_a_bad_query_and_the_rest_still_comes(
    scenario: Scenario, source: PrometheusSource, registry: CollectorRegistry
):
    """With no rule of the alert's name to fall back on (`test_context_prometheus` has one that does)."""
    incident = scenario.incident(
        generator_url=generator_url_for("http://x", "rate(demo_order_error_ratio[5m] > 1")
    )
    incident = replace(incident, alertname="Unruled", labels={**incident.labels, "alertname": "Unruled"})
    evidence = await collect_alert_context(incident, source, ContextSettings(), now=scenario.end)

    alert = next(s for s in evidence.series if s.role == "alert")
    assert not alert.available and alert.unavailable_reason is not None
    assert alert.unavailable_reason.startswith("bad_query") and "parse error" in alert.unavailable_reason
    assert any(s.metric == "demo_db_pool_in_use" and s.available for s in evidence.series)
    assert errors(registry, "bad_query") == 1


async def test_an_expression_longer_than_any_query_is_not_asked_and_the_rest_still_comes(
    scenario: Scenario, source: PrometheusSource
):
    """A webhook's generatorURL can hold megabytes of PromQL; before, it was parsed (on the event loop)
    and sent whatever its length."""
    long = "demo_order_error_ratio" + " + demo_order_error_ratio" * 2000 + " > 1"
    incident = scenario.incident(generator_url=generator_url_for("http://x", long))
    evidence = await collect_alert_context(incident, source, ContextSettings(), now=scenario.end)

    assert any(note.startswith("alert expression not queried: 50") for note in evidence.notes)
    assert not any(s.role == "alert" and s.query == long for s in evidence.series)
    assert any(s.metric == "demo_db_pool_in_use" and s.available for s in evidence.series)


async def test_an_expression_that_cannot_be_evaluated_is_an_execution_error(
    scenario: Scenario, source: PrometheusSource, registry: CollectorRegistry
):
    with pytest.raises(MetricSourceError) as caught:
        await source.query_range('{job="shop"} + on(job) {job="shop"}', scenario.end - 600, scenario.end, 15)

    assert caught.value.kind == "execution" and "many-to-many" in str(caught.value)
    assert errors(registry, "execution") == 1


async def test_a_huge_result_is_refused_as_too_large(scenario: Scenario, prometheus: ManagedProcess):
    registry = CollectorRegistry()
    source = PrometheusSource(
        PrometheusSettings(url=prometheus.url, retries=0, max_series_per_query=3), registry=registry
    )
    with pytest.raises(MetricSourceError) as refused:
        await source.query_range('{job="shop"}', scenario.end - 600, scenario.end, 60)
    incident = scenario.incident(generator_url=generator_url_for("http://x", '{job="shop"} > 0'))
    evidence = await collect_alert_context(incident, source, ContextSettings(), now=scenario.end)
    await source.close()

    assert refused.value.kind == "too_large"
    alert = next(s for s in evidence.series if s.role == "alert")  # narrowed to the alert's own labels
    assert (
        alert.available and alert.labels["service"] == "orders" and alert.query.startswith('({job="shop"})')
    )
    assert any(
        note.startswith("the alert expression has too many series (too_large") for note in evidence.notes
    )
    assert errors(registry, "too_large") == 2


async def test_long_ranges_are_split_to_respect_the_points_limit(
    scenario: Scenario, source: PrometheusSource
):
    start, end = scenario.end - 6 * 3600, scenario.end
    [series] = await source.query_range('demo_db_pool_in_use{job="shop"}', start, end, 1)

    assert series.timestamps.size == 6 * 3600 + 1
    assert series.timestamps[0] == start and series.timestamps[-1] == end
    assert (series.timestamps[1:] > series.timestamps[:-1]).all()


async def test_special_values_become_floats(source: PrometheusSource, scenario: Scenario):
    [series] = await source.query_range("vector(1) / 0", scenario.end - 60, scenario.end, 30)
    [nan] = await source.query_range("vector(0) / 0", scenario.end - 60, scenario.end, 30)

    assert series.values.dtype.kind == "f" and (series.values == float("inf")).all()
    assert (nan.values != nan.values).all()


async def test_a_hung_backend_opens_the_circuit_and_a_recovered_one_closes_it(aiohttp_server) -> None:
    """A backend that accepts and never answers costs a timeout per query only until the circuit opens;
    then calls fail at once, and after the open period one call may try again."""
    answering = asyncio.Event()

    async def hang_until_told(request: web.Request) -> web.Response:
        await answering.wait()
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": []}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hang_until_told)
    server = await aiohttp_server(app)
    registry = CollectorRegistry()
    settings = PrometheusSettings(
        url=str(server.make_url("")),
        retries=0,
        timeout_seconds=0.2,
        circuit_failures=3,
        circuit_open_seconds=1.0,
    )
    source = PrometheusSource(settings, registry=registry)
    try:
        kinds = []
        for _ in range(3):
            with pytest.raises(MetricSourceError) as failed:
                await source.query_range("up", 1000.0, 1060.0, 15.0)
            kinds.append(failed.value.kind)
        assert kinds == ["timeout"] * 3
        started = time.monotonic()
        with pytest.raises(MetricSourceError, match="not asked again") as fast:
            await source.query_range("up", 1000.0, 1060.0, 15.0)
        # not asked: a query that went out would have waited out the timeout
        assert fast.value.kind == "circuit_open" and time.monotonic() - started < settings.timeout_seconds
        # what failed is said, and the wait is never "0s" while the circuit is open
        assert "(the last: timeout:" in str(fast.value) and "again for 1s" in str(fast.value)
        assert errors(registry, "circuit_open") == 1 and errors(registry, "timeout") == 3

        answering.set()
        await asyncio.sleep(1.1)
        assert await source.query_range("up", 1000.0, 1060.0, 15.0) == []
        assert await source.query_range("up", 1000.0, 1060.0, 15.0) == []  # closed again
    finally:
        answering.set()
        await source.close()
