"""A configuration reload reaches the live pipeline: the next incident is fetched and judged under the new
`context` and `analyst` settings (the reload answers that it applied them), not those of the start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient, TestServer

from demo.processes import ManagedProcess
from receiver.config import load_settings
from receiver.testing import wait_idle
from receiver.times import format_time
from receiver.web.app import build_app
from receiver.web.keys import PIPELINE
from receiver.web.reload import ConfigSource
from tests.evidence.scenario import Scenario


def document(tmp_path: Path, prometheus: ManagedProcess, probe: str) -> dict[str, Any]:
    """A configuration whose only context query is named `probe`."""
    return {
        "storage": {"path": str(tmp_path / "aa.db")},
        "detection": {"enabled": False},
        "prometheus": {"url": prometheus.url, "retries": 0},
        "context": {"context_queries": [{"name": probe, "query": "sum(demo_cpu_usage_ratio)"}]},
    }


def webhook(alertname: str, starts_at: float) -> dict[str, Any]:
    alert = {"labels": {"alertname": alertname, "service": "orders"}, "startsAt": format_time(starts_at)}
    return {"version": "4", "status": "firing", "groupKey": alertname, "alerts": [alert]}


async def context_queries_of(client: TestClient[Any, Any], alertname: str, starts_at: float) -> set[str]:
    """The context queries whose series the evidence of a new incident holds (a series without a metric
    name is named after its query)."""
    answer = await client.post("/webhook/alertmanager", json=webhook(alertname, starts_at))
    assert answer.status == 200, await answer.text()
    [incident_id] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["evidence"] is not None, detail["stages"]
    return {s["metric"] for s in detail["evidence"]["series"]} & {"before_reload", "after_reload"}


async def test_the_pipeline_fetches_with_the_context_settings_of_a_reload(
    tmp_path: Path, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(document(tmp_path, prometheus, "before_reload")))
    source = ConfigSource(str(config))
    app = build_app(load_settings(source.path, environ={}), config_source=source)
    async with TestClient(TestServer(app)) as client:
        start = scenario.effect_at + 60
        assert await context_queries_of(client, "First", start) == {"before_reload"}

        config.write_text(yaml.safe_dump(document(tmp_path, prometheus, "after_reload")))
        reloaded = await client.post("/-/reload")
        assert reloaded.status == 200
        assert "context" in json.loads(await reloaded.text())["applied"]

        assert await context_queries_of(client, "Second", start) == {"after_reload"}
