"""Feedback buttons on the Slack diagnosis reply: signed clicks are stored and update the message;
a bad signature, a stale timestamp or a replay is refused with 401 and stores nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from demo.processes import free_port
from receiver.delivery.slack_blocks import feedback_actions, parse_feedback_value
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE
from receiver.web.resources import pipeline_parts
from tests.receiver.conftest import ClientFactory
from tests.support.polling import eventually

from .conftest import SlackServer, click_button, posted, slack_client, stored_incident

FIRING = "captured-am025-prom242-firing.json"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


async def diagnosed(
    make_client: ClientFactory, webhook_corpus: Path, slack: SlackServer
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
                    and any(parse_feedback_value(e["value"])[0] == incident_id for e in b["elements"])
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
    make_client: ClientFactory, webhook_corpus: Path, slack: SlackServer
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
    make_client: ClientFactory, webhook_corpus: Path, slack: SlackServer
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
    assert not trusted_response_url("https://[::1/actions/x", api)  # was a ValueError in the follow-up task


def signed_payload(
    payload: object, secret: str, timestamp: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """A request as Slack signs it, with any payload (Slack's own shape or not)."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = timestamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + digest,
    }
    return body, headers


def click(incident_id: str, action_id: str = "feedback_wrong", **fields: object) -> dict[str, object]:
    return {
        "type": "block_actions",
        "user": {"id": "UANA", "username": "ana"},
        "actions": [{"action_id": action_id, "block_id": "alert_analyst_feedback", "value": incident_id}],
        **fields,
    }


async def test_signed_payloads_of_the_wrong_shape_are_answered_and_store_nothing(
    make_client: ClientFactory,
) -> None:
    """Every one of these was a 500 (AttributeError, TypeError, UnicodeEncodeError in SQLite)."""
    client = await make_client(slack={"signing_secret": SECRET})
    incident_id = await stored_incident(client)
    cases: list[tuple[object, int]] = [
        ([1], 400),
        ("block_actions", 400),
        (click(incident_id, user={"username": "\ud800"}), 400),  # a lone surrogate: not storable text
        ({"type": "block_actions", "actions": 5}, 200),
        ({"type": "block_actions", "actions": ["feedback_wrong"]}, 200),
        (click(incident_id, actions=[{"action_id": ["feedback_wrong"], "value": incident_id}]), 200),
        (click(incident_id, actions=[{"action_id": "feedback_wrong", "value": {"id": incident_id}}]), 200),
        (click(incident_id, type="view_submission"), 200),  # our action id in another kind of interaction
        (click(incident_id, "feedback_maybe"), 200),  # an action id we do not know
        (click(incident_id, "other_app_button"), 200),
    ]
    for payload, status in cases:
        body, headers = signed_payload(payload, SECRET)
        answer = await client.post("/slack/interactions", data=body, headers=headers)
        assert answer.status == status, payload
        if status == 400:
            assert (await answer.json())["field"] == "payload"
    feedback = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert feedback["current"] == [] and feedback["history"] == []


async def test_a_click_whose_user_is_not_an_object_is_stored_as_unknown(make_client: ClientFactory) -> None:
    client = await make_client(slack={"signing_secret": SECRET})
    incident_id = await stored_incident(client)
    body, headers = signed_payload(click(incident_id, user="ana"), SECRET)
    assert (await client.post("/slack/interactions", data=body, headers=headers)).status == 200
    feedback = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert [(c["who"], c["verdict"]) for c in feedback["current"]] == [("slack:unknown", "wrong")]


async def test_a_timestamp_in_other_digits_is_refused_not_a_crash(make_client: ClientFactory) -> None:
    """A timestamp of "²" passes str.isdigit() and int() refuses it: this was a 500."""
    client = await make_client(slack={"signing_secret": SECRET})
    incident_id = await stored_incident(client)
    for stamp in ("\u00b2", "1" * 5000, "-1", f" {int(time.time())}"):
        body, headers = signed_payload(click(incident_id), SECRET, timestamp=stamp)
        answer = await client.post("/slack/interactions", data=body, headers=headers)
        assert answer.status == 401, stamp[:10]
    feedback = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert feedback["current"] == []


async def test_a_click_on_an_incident_no_longer_stored_tells_the_clicker_through_response_url(
    make_client: ClientFactory, slack: SlackServer
) -> None:
    """Slack shows nothing of the body that answers a block_actions request: the ephemeral text that
    was put there never reached anyone. It goes through response_url, and the message stays as it is."""
    fake, _ = slack
    client = await slack_client(make_client, slack)
    message = posted(fake, [feedback_actions("inc-pruned")], "1700000001.000001")
    assert await click_button(client, slack, message, "correct") == 200
    await eventually(lambda: len(fake.responses) == 1, within=10)
    (response,) = fake.responses
    assert response["response_type"] == "ephemeral" and response["replace_original"] is False
    assert "inc-pruned" in response["text"] and "not stored" in response["text"]
    assert message["blocks"] == [feedback_actions("inc-pruned")]
