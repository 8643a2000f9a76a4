"""The real components end to end in one process: Prometheus down, yet the incident is diagnosed and
delivered to fake Slack, PagerDuty and Grafana servers; resolution closes the thread, incident and region."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from demo.processes import free_port
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE
from receiver.web.resources import pipeline_parts as build_components
from tests.fakes.grafana import FakeGrafana
from tests.fakes.pagerduty import PATH as PD_PATH
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.support.polling import eventually

from .conftest import ClientFactory

FIRING = "captured-am025-prom242-firing.json"
RESOLVED = "captured-am025-prom242-resolved.json"


async def serve(app: Any) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_prometheus_down_still_diagnoses_and_delivers_everywhere(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    slack, pagerduty, grafana = FakeSlack(), FakePagerDuty(), FakeGrafana()
    servers = [await serve(fake.app()) for fake in (slack, pagerduty, grafana)]
    try:
        client = await make_client(
            build_components,
            prometheus={"url": f"http://127.0.0.1:{free_port()}", "retries": 0, "timeout_seconds": 2},
            slack={"token": slack.token, "channel": "C0ALERTS", "api_url": str(servers[0].make_url("/api/"))},
            pagerduty={"routing_key": "R" * 32, "url": str(servers[1].make_url(PD_PATH))},
            grafana={"url": str(servers[2].make_url("")), "token": grafana.token},
        )
        headers = {"Content-Type": "application/json"}
        firing = await client.post(
            "/webhook/alertmanager", data=(webhook_corpus / FIRING).read_bytes(), headers=headers
        )
        ids = (await firing.json())["incidents"]
        await wait_idle(client.app[PIPELINE])
        await eventually(lambda: len(pagerduty.accepted) == 2 and len(grafana.annotations) == 2, within=20)
        await eventually(
            lambda: len(slack.parents()) == 1 and len(slack.replies(slack.parents()[0]["ts"])) >= 2,
            within=20,
        )

        detail = await (await client.get(f"/api/v1/incidents/{ids[0]}")).json()
        stages = {s["stage"]: s for s in detail["stages"]}
        assert stages["collect_evidence"]["outcome"] == "unavailable"
        assert "unreachable" in stages["collect_evidence"]["detail"]
        assert detail["diagnosis"]["backend"] == "builtin"
        assert {d["destination"] for d in detail["deliveries"]} >= {"slack", "pagerduty", "grafana"}
        page = await (await client.get(f"/ui/incidents/{ids[0]}")).text()
        assert detail["diagnosis"]["primary_hypothesis"]["title"] in page
        assert "unreachable" in page  # the evidence table says why the series are missing
        metrics = await (await client.get("/metrics")).text()
        assert 'alert_analyst_metric_source_errors_total{kind="unreachable"}' in metrics
        assert 'alert_analyst_stage_duration_seconds_count{outcome="ok",stage="diagnose"} 2.0' in metrics

        await client.post(
            "/webhook/alertmanager", data=(webhook_corpus / RESOLVED).read_bytes(), headers=headers
        )
        await wait_idle(client.app[PIPELINE])
        await eventually(lambda: len(slack.updates) == 1, within=20)
        # One PagerDuty alert per group: both triggers share the group's dedup_key; one resolve closes it.
        await eventually(lambda: any(e["event_action"] == "resolve" for e in pagerduty.accepted), within=20)
        triggers = {e["dedup_key"] for e in pagerduty.accepted if e["event_action"] == "trigger"}
        resolves = {e["dedup_key"] for e in pagerduty.accepted if e["event_action"] == "resolve"}
        assert len(triggers) == 1
        assert triggers == resolves
        assert all(a.get("timeEnd") for a in grafana.annotations.values())
    finally:
        for server in servers:
            await server.close()
