"""Real Prometheus + Alertmanager with the demo's generated configs deliver PnLDrawdownHigh to a webhook."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from pytest_aiohttp import AiohttpServer

from demo.exporter import DemoExporter
from demo.processes import ManagedProcess, start_alertmanager, start_prometheus
from demo.rules import demo_rules
from demo.runner import alertmanager_config, prometheus_config
from demo.scenario import DEFAULT_SCHEDULE

TOKEN = "demo-test-token"
FAST = DEFAULT_SCHEDULE.scaled(0.5)
# Start 12 s into the (halved) drawdown phase: the drawdown is already above 0.3 and stays there ~30 s.
OFFSET = FAST.starts()["pnl_drawdown"] + 12


class Sink:
    """Records every webhook request; `firing` is set when a firing PnLDrawdownHigh arrives."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.firing = asyncio.Event()

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        if any(
            alert["status"] == "firing" and alert["labels"]["alertname"] == "PnLDrawdownHigh"
            for alert in body["alerts"]
        ):
            self.firing.set()
        return web.Response(text="ok")


async def test_firing_pnl_drawdown_reaches_the_webhook_with_bearer_auth(
    aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    sink = Sink()
    app = web.Application()
    app.router.add_post("/webhook/alertmanager", sink.receive)
    server = await aiohttp_server(app, host="127.0.0.1")
    exporter = DemoExporter(FAST, offset=OFFSET)
    exporter.start()
    started: list[ManagedProcess] = []
    try:
        webhook_url = f"http://127.0.0.1:{server.port}/webhook/alertmanager"
        am_config = alertmanager_config(webhook_url, TOKEN)
        am = await asyncio.to_thread(start_alertmanager, tmp_path / "am", am_config)
        started.append(am)
        rules = tmp_path / "trading-demo.rules.yml"
        rules.write_text(demo_rules())
        config = prometheus_config(exporter.port, am.port, rules)
        started.append(await asyncio.to_thread(start_prometheus, tmp_path / "prom", config))

        await asyncio.wait_for(sink.firing.wait(), timeout=30)
    finally:
        for process in reversed(started):
            await asyncio.to_thread(process.stop)
        exporter.stop()

    headers, body = next(
        (h, b) for h, b in sink.requests if b["alerts"][0]["labels"]["alertname"] == "PnLDrawdownHigh"
    )
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["groupLabels"] == {"alertname": "PnLDrawdownHigh", "desk": "fx-spot", "book": "eurusd"}
    alert = body["alerts"][0]
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["cluster"] == "demo"
    assert alert["labels"]["job"] == "trading-exporter"
    assert alert["annotations"]["summary"].startswith("PnL drawdown ")
    assert "demo_pnl_drawdown_ratio" in alert["generatorURL"]
