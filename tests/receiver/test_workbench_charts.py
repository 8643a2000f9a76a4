"""The workbench's chart points (`/ui/series.json`) against a real, backfilled Prometheus: what a chart
fetch costs the pipeline when the backend is slow (the aiohttp test client; drawing is in the browser
tests)."""

from __future__ import annotations

import json

from demo.processes import ManagedProcess
from receiver.web.resources import pipeline_parts
from tests.evidence.scenario import ALERT_EXPR, Scenario
from tests.support.holding_proxy import holding_proxy

from .conftest import ClientFactory
from .test_ondemand import adhoc_alert

CIRCUIT_FAILURES = 3


async def test_charts_that_time_out_leave_the_pipelines_circuit_closed(
    make_client: ClientFactory, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    """A page of charts opened while Prometheus hangs times out more often than `circuit_failures`; an alert
    diagnosed once Prometheus answers again still gets its evidence (before, it found the circuit open)."""
    async with holding_proxy(prometheus.url) as (holding, url):
        settings = {"url": url, "retries": 0, "timeout_seconds": 0.3, "circuit_failures": CIRCUIT_FAILURES}
        client = await make_client(pipeline_parts, prometheus=settings)
        holding.hold = True
        chart = {"query": ALERT_EXPR, "start": scenario.end - 3600, "end": scenario.end, "match": "{}"}
        for _ in range(CIRCUIT_FAILURES + 1):
            answer = await client.get("/ui/series.json", params=chart)
            assert answer.status == 502  # a timeout, then the charts' own circuit open
        holding.hold = False

        answer = await client.post("/api/v1/diagnoses", json={"alert": adhoc_alert(scenario)})
        evidence = (await answer.json())["evidence"]
        assert not [note for note in evidence["notes"] if "circuit_open" in note], evidence["notes"]
        alert = next(s for s in evidence["series"] if s["role"] == "alert")
        assert alert["available"], json.dumps(alert)
