"""Backtests ask Prometheus through a source of their own: backtests whose fetches time out while the
backend hangs trip that source's circuit, never the one new alerts' evidence goes through."""

from __future__ import annotations

import json

from demo.processes import ManagedProcess
from receiver.web.resources import pipeline_parts
from tests.evidence.scenario import ALERT_EXPR, Scenario
from tests.support.holding_proxy import holding_proxy

from .conftest import ClientFactory
from .test_ondemand import adhoc_alert

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

        answer = await client.post("/api/v1/diagnoses", json={"alert": adhoc_alert(scenario)})
        evidence = (await answer.json())["evidence"]
        assert not [note for note in evidence["notes"] if "circuit_open" in note], evidence["notes"]
        alert = next(s for s in evidence["series"] if s["role"] == "alert")
        assert alert["available"], json.dumps(alert)
