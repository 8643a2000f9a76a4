"""A path no route has, or a method its route does not take, is answered like every other error: JSON
naming the problem (a workbench page under /ui/), and counted under the path's route. aiohttp answered
them in plain text, and a GET to the webhook was counted under route "unmatched", outside
`alert_analyst_webhook_requests_total`, so AlertAnalystWebhookRejected never saw a misconfigured sender."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import ClientFactory


async def samples(client: Any, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = await (await client.get("/metrics")).text()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == name]
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name.endswith("_total")}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
async def test_a_wrong_method_on_the_webhook_is_a_counted_json_405(
    make_client: ClientFactory, method: str
) -> None:
    client = await make_client(webhook={"bearer_token": "s3cret"})
    assert (await samples(client, "alert_analyst_webhook_requests"))[(("code", "405"),)] == 0

    answer = await client.request(method, "/webhook/alertmanager")

    assert answer.status == 405
    assert answer.headers["Allow"] == "POST"
    assert await answer.json() == {"status": "error", "error": f"method {method} not allowed here: use POST"}
    assert (await samples(client, "alert_analyst_webhook_requests"))[(("code", "405"),)] == 1
    responses = await samples(client, "alert_analyst_http_responses")
    assert responses[(("code", "405"), ("route", "/webhook/alertmanager"))] == 1


async def test_a_wrong_method_elsewhere_is_a_json_405_under_the_paths_route(
    make_client: ClientFactory,
) -> None:
    client = await make_client()

    answer = await client.post("/api/v1/incidents")

    assert answer.status == 405
    assert answer.headers["Allow"] == "GET, HEAD"
    assert (await answer.json())["error"] == "method POST not allowed here: use GET, HEAD"
    responses = await samples(client, "alert_analyst_http_responses")
    assert responses[(("code", "405"), ("route", "/api/v1/incidents"))] == 1


@pytest.mark.parametrize("path", ["/no/such/path", "/webhook/alertmanager/", "/api/v1/nothing", "/%FF"])
async def test_a_path_no_route_has_is_a_json_404(make_client: ClientFactory, path: str) -> None:
    client = await make_client()

    answer = await client.get(path)

    assert answer.status == 404
    assert answer.content_type == "application/json"
    assert (await answer.json())["error"].startswith("no such path: /")
    responses = await samples(client, "alert_analyst_http_responses")
    assert responses[(("code", "404"), ("route", "unmatched"))] == 1


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/ui/incidents/inc-doesnotexist", "There is no incident inc-doesnotexist"),
        ("/ui/nowhere", "There is no page /ui/nowhere."),
    ],
)
async def test_a_workbench_404_is_a_page_with_the_workbench_navigation(
    make_client: ClientFactory, path: str, said: str
) -> None:
    client = await make_client()

    answer = await client.get(path)

    assert answer.status == 404
    assert answer.content_type == "text/html"
    page = await answer.text()
    assert said in page
    assert '<a href="/ui/overview">Overview</a>' in page  # the header's navigation
