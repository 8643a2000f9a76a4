"""The backend's configuration (a YAML document of up to megabytes) is parsed off the event loop."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import yaml
from aiohttp import web

from receiver.evidence import prometheus
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings

CONFIG = "global:\n  external_labels:\n    cluster: eu-1\n    replica: 0\n"


async def test_external_labels_are_parsed_on_a_worker_thread(
    aiohttp_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def config(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "data": {"yaml": CONFIG}})

    app = web.Application()
    app.router.add_get("/api/v1/status/config", config)
    server = await aiohttp_server(app)
    parsed_on: list[str] = []
    load = yaml.safe_load

    def safe_load(text: str) -> Any:
        parsed_on.append(threading.current_thread().name)
        return load(text)

    monkeypatch.setattr(prometheus.yaml, "safe_load", safe_load)
    source = PrometheusSource(PrometheusSettings(url=str(server.make_url("")).rstrip("/"), retries=0))
    try:
        assert await source.external_labels() == {"cluster": "eu-1", "replica": "0"}
    finally:
        await source.close()

    assert len(parsed_on) == 1 and parsed_on[0].startswith("promql")


@pytest.mark.parametrize("text", ["", "- a list", "global: [1]", ": :\n\t"])
def test_a_config_without_external_labels_has_none(text: str) -> None:
    assert prometheus.external_labels_of(text) == {}
