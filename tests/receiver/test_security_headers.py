"""Answers outside the workbench (JSON API, webhook, health, errors) carry headers that keep a browser from
sniffing them into HTML or framing them: they are data, never a page that runs anything."""

from __future__ import annotations

import pytest

from .conftest import ClientFactory


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/incidents"),
        ("GET", "/api/v1/incidents/no-such"),  # an error answer
        ("POST", "/webhook/alertmanager"),  # refused: no JSON body
        ("GET", "/-/healthy"),
        ("GET", "/metrics"),
        ("GET", "/no/such/path"),  # aiohttp's own 404
    ],
)
async def test_data_answers_are_neither_sniffed_nor_framed(
    make_client: ClientFactory, method: str, path: str
) -> None:
    client = await make_client()

    answer = await client.request(method, path)

    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy


async def test_an_unauthorized_answer_carries_them_too(make_client: ClientFactory) -> None:
    client = await make_client(webhook={"bearer_token": "s3cret"})

    answer = await client.get("/api/v1/incidents")

    assert answer.status == 401
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
