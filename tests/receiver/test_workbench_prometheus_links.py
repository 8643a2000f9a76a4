"""The workbench's "Prometheus graph" links: built on `prometheus.external_url` when it is set (Prometheus as
browsers reach it), else on `prometheus.url`, and never with the credentials a URL may carry."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from receiver.config import load_settings
from receiver.errors import ConfigError
from receiver.web.links import alertmanager_silence, grafana_explore, prometheus_graph
from receiver.web.resources import pipeline_parts

from .conftest import ClientFactory

SECRET = "S3cretPromPass"


def test_links_leave_out_the_credentials_of_their_base() -> None:
    base = f"http://promuser:{SECRET}@prom:9090/"
    for link in (
        prometheus_graph(base, "up", 1000, 4600),
        grafana_explore(base, "up", 1000, 4600),
        alertmanager_silence(base, {"alertname": "X"}),
    ):
        assert link is not None and urlsplit(link).netloc == "prom:9090", link
        assert SECRET not in link and "promuser" not in link


async def graph_links(make_client: ClientFactory, **prometheus: Any) -> tuple[list[str], str]:
    """The graph links of an on-demand diagnosis' page (its metric source unreachable), and the page."""
    client = await make_client(pipeline_parts, prometheus={"retries": 0, **prometheus})
    form = {"expr": 'errors{service="orders"}', "start": "-1h", "end": "now"}
    answer = await client.post("/ui/diagnose", data=form, allow_redirects=False)
    assert answer.status == 303
    html = await (await client.get(answer.headers["Location"])).text()
    return re.findall(r'href="([^"]*/graph\?[^"]*)"', html), html


async def test_graph_links_on_a_url_with_credentials_show_none(make_client: ClientFactory) -> None:
    links, html = await graph_links(make_client, url=f"http://promuser:{SECRET}@127.0.0.1:9")
    assert links and all(link.startswith("http://127.0.0.1:9/graph?") for link in links), links
    assert SECRET not in html


async def test_graph_links_go_to_the_external_url_when_set(make_client: ClientFactory) -> None:
    links, _ = await graph_links(
        make_client, url="http://prometheus-operated.monitoring.svc:9", external_url="https://prom.example/"
    )
    assert links and all(link.startswith("https://prom.example/graph?") for link in links), links


@pytest.mark.parametrize("value", ["prom.example", "ftp://prom.example"])
def test_an_external_url_that_is_not_http_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError, match=r"prometheus\.external_url: Value error, must start with http"):
        load_settings(None, environ={"ALERT_ANALYST_PROMETHEUS__EXTERNAL_URL": value})
