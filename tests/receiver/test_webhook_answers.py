"""Every answer code of POST /webhook/alertmanager, through a real HTTP server on loopback."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from receiver.testing import drain
from receiver.web.keys import MATERIALIZER, SETTINGS

from .conftest import ClientFactory

FIRING = "captured-am025-prom242-firing.json"
BEARER = {"webhook": {"bearer_token": "s3cr3t-token"}}


def body(corpus: Path, name: str = FIRING) -> bytes:
    return (corpus / name).read_bytes()


def count_stored(client: TestClient[Any, Any]) -> int:
    """Notifications plus incidents in SQLite (a rejected webhook must leave both empty)."""
    path = client.app[SETTINGS].storage.path
    with sqlite3.connect(path) as conn:
        return sum(
            int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("notifications", "incidents")
        )


async def post(client: TestClient[Any, Any], data: bytes, **headers: str) -> ClientResponse:
    headers.setdefault("Content-Type", "application/json")
    return await client.post("/webhook/alertmanager", data=data, headers=headers)


async def test_every_valid_corpus_payload_is_accepted(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    files = sorted(webhook_corpus.glob("*.json"))
    assert len(files) == 9
    for path in files:
        resp = await post(client, path.read_bytes())
        assert resp.status == 200, (path.name, await resp.text())
        expected = len(json.loads(path.read_bytes())["alerts"])
        assert len((await resp.json())["incidents"]) == expected


async def test_200_is_sent_only_after_the_notification_is_committed(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    resp = await post(client, body(webhook_corpus))
    data = await resp.json()
    assert resp.status == 200 and len(data["incidents"]) == 2 and data["alerts"] == 2
    # Read with a separate connection: the notification must already be committed.
    path = client.app[SETTINGS].storage.path
    with sqlite3.connect(path) as conn:
        (stored,) = conn.execute(
            "SELECT body FROM notifications WHERE id=?", (data["notification_id"],)
        ).fetchone()
    assert stored.encode() == body(webhook_corpus)
    # ... and its incidents, with the ids the answer named, follow right behind it.
    await drain(client.app[MATERIALIZER], 10)
    with sqlite3.connect(path) as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM incidents")}
        pending = conn.execute("SELECT count(*) FROM notifications WHERE pending = 1").fetchone()[0]
    assert ids == set(data["incidents"]) and pending == 0


async def test_malformed_json_is_400_and_nothing_is_stored(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    resp = await post(client, (webhook_corpus / "invalid" / "kubernaut-invalid-payload.json").read_bytes())
    assert resp.status == 400
    assert "malformed JSON" in (await resp.json())["error"]
    assert count_stored(client) == 0


async def test_schema_violation_is_400_naming_the_field(make_client: ClientFactory) -> None:
    client = await make_client()
    payload = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "startsAt": "yesterday"}],
    }
    resp = await post(client, json.dumps(payload).encode())
    data = await resp.json()
    assert resp.status == 400
    assert data["field"] == "alerts[0].startsAt"


async def test_missing_alerts_is_400_naming_alerts(make_client: ClientFactory) -> None:
    client = await make_client()
    resp = await post(client, b'{"version":"4","status":"firing"}')
    assert resp.status == 400
    assert (await resp.json())["field"] == "alerts"


async def test_unsupported_version_is_422(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    data = json.loads(body(webhook_corpus))
    data["version"] = "1"
    resp = await post(client, json.dumps(data).encode())
    assert resp.status == 422
    assert (await resp.json())["field"] == "version"


async def test_non_json_content_type_is_415(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    resp = await post(client, body(webhook_corpus), **{"Content-Type": "text/plain"})
    assert resp.status == 415
    assert count_stored(client) == 0


async def test_body_over_max_body_bytes_is_413(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client(webhook={"max_body_bytes": 1024})
    data = body(webhook_corpus)
    assert len(data) > 1024
    resp = await post(client, data)
    assert resp.status == 413
    assert count_stored(client) == 0


async def test_chunked_body_over_the_limit_is_413(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client(webhook={"max_body_bytes": 1024})
    data = body(webhook_corpus)

    async def chunks():  # no Content-Length: the limit is enforced while reading
        for i in range(0, len(data), 256):
            yield data[i : i + 256]

    resp = await client.post(
        "/webhook/alertmanager", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer"])
async def test_missing_or_wrong_bearer_is_401(
    make_client: ClientFactory, webhook_corpus: Path, header: str | None
) -> None:
    client = await make_client(**BEARER)
    headers = {"Authorization": header} if header else {}
    resp = await post(client, body(webhook_corpus), **headers)
    assert resp.status == 401
    assert count_stored(client) == 0


async def test_right_bearer_is_accepted(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client(**BEARER)
    resp = await post(client, body(webhook_corpus), Authorization="Bearer s3cr3t-token")
    assert resp.status == 200


async def test_basic_auth_from_password_file(
    make_client: ClientFactory, webhook_corpus: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    client = await make_client(webhook={"basic_auth": {"username": "am", "password_file": str(secret)}})
    good = "Basic " + base64.b64encode(b"am:hunter2").decode()
    bad = "Basic " + base64.b64encode(b"am:hunter3").decode()
    assert (await post(client, body(webhook_corpus), Authorization=bad)).status == 401
    assert (await post(client, body(webhook_corpus), Authorization=good)).status == 200


async def test_unknown_fields_are_ignored(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    data = json.loads(body(webhook_corpus))
    data["notification_reason"] = "repeat"
    data["routeLabels"] = {"team": "trading"}
    data["alerts"][0]["somethingNew"] = {"x": 1}
    resp = await post(client, json.dumps(data).encode())
    assert resp.status == 200


async def test_answer_codes_are_counted_on_metrics(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    await post(client, body(webhook_corpus))
    await post(client, b"{", **{"Content-Type": "application/json"})
    text = await (await client.get("/metrics")).text()
    assert 'alert_analyst_webhook_requests_total{code="200"} 1.0' in text
    assert 'alert_analyst_webhook_requests_total{code="400"} 1.0' in text
    assert 'alert_analyst_alerts_received_total{status="firing"} 2.0' in text
