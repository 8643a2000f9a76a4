"""Backtests ask Prometheus through a source of their own: backtests whose fetches time out while the
backend hangs trip that source's circuit, never the one new alerts' evidence goes through."""

from __future__ import annotations

from demo.processes import ManagedProcess
from receiver.web.resources import pipeline_parts
from tests.evidence.scenario import ALERT_EXPR, Scenario
from tests.support.holding_proxy import holding_proxy

from .conftest import ClientFactory
from .test_ondemand import assert_diagnosed_with_evidence

CIRCUIT_FAILURES = 3


async def test_backtests_that_time_out_leave_the_pipelines_circuit_closed(
    make_client: ClientFactory, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    """More timed-out backtests than `circuit_failures` while Prometheus hangs; an alert diagnosed once it
    answers again still gets its evidence (before, it found the circuit the backtests had opened)."""
    async with holding_proxy(prometheus.url) as (holding, url):
        settings = {"url": url, "retries": 0, "timeout_seconds": 0.3, "circuit_failures": CIRCUIT_FAILURES}
        client = await make_client(pipeline_parts, prometheus=settings)
        holding.hold = True
        backtest = {"rule": {"query": ALERT_EXPR}, "from": scenario.end - 3600, "to": scenario.end}
        for _ in range(CIRCUIT_FAILURES + 1):
            answer = await client.post("/api/v1/backtest", json=backtest)
            assert answer.status == 502, await answer.text()  # a timeout, then the backtests' circuit open
        holding.hold = False

        await assert_diagnosed_with_evidence(client, scenario)
