"""Feedback buttons on the Slack diagnosis reply: signed clicks are stored and update the message;
a bad signature, a stale timestamp or a replay is refused with 401 and stores nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from demo.processes import free_port
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE
from receiver.web.resources import pipeline_parts
from tests.fakes.slack import FakeSlack
from tests.receiver.conftest import ClientFactory
from tests.support.polling import eventually

FIRING = "captured-am025-prom242-firing.json"


@pytest.fixture
async def slack() -> AsyncIterator[tuple[FakeSlack, TestServer]]:
    fake = FakeSlack()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, server
    await server.close()


async def diagnosed(
    make_client: ClientFactory, webhook_corpus: Path, slack: tuple[FakeSlack, TestServer]
) -> tuple[Any, dict[str, Any], str]:
    """A client whose first incident's diagnosis reply reached Slack: (client, reply, incident id)."""
    fake, server = slack
    client = await make_client(
        pipeline_parts,
        prometheus={"url": f"http://127.0.0.1:{free_port()}", "retries": 0, "timeout_seconds": 2},
        slack={
            "token": fake.token,
            "channel": "C0ALERTS",
            "api_url": str(server.make_url("/api/")),
            "signing_secret": fake.signing_secret,
        },
    )
    answer = await client.post(
        "/webhook/alertmanager",
        data=(webhook_corpus / FIRING).read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    incident_id = (await answer.json())["incidents"][0]
    await wait_idle(client.app[PIPELINE])

    def reply() -> dict[str, Any] | None:
        return next(
            (
                m
                for m in fake.messages
                if any(
                    b.get("block_id") == "alert_analyst_feedback"
                    and any(e["value"] == incident_id for e in b["elements"])
                    for b in m["blocks"] or []
                )
            ),
            None,
        )

    await eventually(lambda: reply() is not None, within=20)
    message = reply()
    assert message is not None
    return client, message, incident_id


async def test_a_signed_click_stores_the_verdict_and_updates_the_message(
    make_client: ClientFactory, webhook_corpus: Path, slack: tuple[FakeSlack, TestServer]
) -> None:
    fake, server = slack
    client, message, incident_id = await diagnosed(make_client, webhook_corpus, slack)
    body, headers = fake.signed_click(message, "wrong", str(server.make_url("")), user="ana")
    started = time.monotonic()
    answer = await client.post("/slack/interactions", data=body, headers=headers)
    assert answer.status == 200
    assert time.monotonic() - started < 3
    feedback = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert [(c["who"], c["verdict"], c["source"]) for c in feedback["current"]] == [
        ("slack:ana", "wrong", "slack")
    ]
    await eventually(lambda: len(fake.responses) == 1, within=10)
    texts = [e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert "Judged *wrong* by ana" in texts
    assert message["blocks"][-1]["block_id"] == "alert_analyst_feedback"  # others can still judge


async def test_bad_signature_stale_timestamp_and_replay_are_refused(
    make_client: ClientFactory, webhook_corpus: Path, slack: tuple[FakeSlack, TestServer]
) -> None:
    fake, server = slack
    client, message, incident_id = await diagnosed(make_client, webhook_corpus, slack)
    base = str(server.make_url(""))
    forged = fake.signed_click(message, "correct", base, secret="not-the-secret")
    stale = fake.signed_click(message, "correct", base, timestamp=int(time.time()) - 301)
    tampered_body, tampered_headers = fake.signed_click(message, "correct", base)
    for body, headers in (forged, stale, (tampered_body.replace(b"correct", b"partly"), tampered_headers)):
        answer = await client.post("/slack/interactions", data=body, headers=headers)
        assert answer.status == 401
    unsigned = await client.post("/slack/interactions", data=tampered_body)
    assert unsigned.status == 401
    feedback = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert feedback["current"] == [] and feedback["history"] == []

    body, headers = fake.signed_click(message, "correct", base)
    assert (await client.post("/slack/interactions", data=body, headers=headers)).status == 200
    replay = await client.post("/slack/interactions", data=body, headers=headers)
    assert replay.status == 401
    assert "replayed" in (await replay.json())["error"]
    feedback = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert len(feedback["history"]) == 1


async def test_interactions_are_off_without_a_signing_secret(make_client: ClientFactory) -> None:
    client = await make_client()
    answer = await client.post("/slack/interactions", data=b"payload=%7B%7D")
    assert answer.status == 404
    assert "signing_secret" in (await answer.json())["error"]


def test_message_updates_go_only_to_slack_or_the_configured_api_host() -> None:
    from receiver.web.slack_interactions import trusted_response_url

    api = "https://slack.com/api/"
    assert trusted_response_url("https://hooks.slack.com/actions/T1/2/abc", api)
    assert not trusted_response_url("http://hooks.slack.com/actions/T1/2/abc", api)
    assert not trusted_response_url("https://169.254.169.254/latest/meta-data", api)
    assert not trusted_response_url("https://evil.example/slack.com", api)
    assert trusted_response_url("http://127.0.0.1:8080/actions/x", "http://127.0.0.1:8080/api/")
