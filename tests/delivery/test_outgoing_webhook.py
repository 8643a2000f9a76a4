"""The generic webhook: the diagnosis as JSON, HMAC-SHA256 signed over "<timestamp>.<body>"."""

from __future__ import annotations

import hashlib
import hmac
import json

from aiohttp import web
from pydantic import SecretStr

from receiver.delivery import OutgoingWebhookSettings
from receiver.delivery.outgoing_webhook import verify
from receiver.testing import drain
from tests.delivery.builders import make_diagnosis, make_incident, resolved

SECRET = "whsec-test"


async def start_receiver(serve, statuses: list[int]):
    received: list[tuple[dict[str, str], bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=statuses.pop(0) if statuses else 204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = await serve(app)
    return received, str(server.make_url("/hook"))


async def test_diagnosis_is_posted_with_a_verifiable_signature(serve, make_service):
    received, url = await start_receiver(serve, [])
    service = await make_service(outgoing_webhook=OutgoingWebhookSettings(url=url, secret=SecretStr(SECRET)))
    incident = make_incident()
    await service.on_diagnosis(incident, make_diagnosis())
    await service.on_incident_resolved(resolved(incident), make_diagnosis())
    await drain(service, 5)

    (headers, body), (_, resolved_body) = received
    timestamp = headers["X-Alert-Analyst-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Alert-Analyst-Signature"] == f"sha256={expected}"
    assert verify(SECRET, timestamp, body, headers["X-Alert-Analyst-Signature"])
    assert not verify("other-secret", timestamp, body, headers["X-Alert-Analyst-Signature"])
    assert not verify(SECRET, timestamp, body + b" ", headers["X-Alert-Analyst-Signature"])
    document = json.loads(body)
    assert document["event"] == "diagnosis"
    assert document["diagnosis"]["primary_hypothesis"]["category"] == "dependency.database"
    assert document["incident"]["labels"]["desk"] == "fx-spot"
    assert document["links"]["ui"].endswith("/ui/incidents/inc-1")
    assert json.loads(resolved_body)["event"] == "resolved"


async def test_server_errors_are_retried_and_client_errors_are_not(serve, make_service):
    received, url = await start_receiver(serve, [500, 204, 422])
    service = await make_service(outgoing_webhook=OutgoingWebhookSettings(url=url))
    await service.on_diagnosis(make_incident(), make_diagnosis())
    await drain(service, 5)
    await service.on_diagnosis(
        make_incident(id="inc-2", fingerprint="b"), make_diagnosis(incident_id="inc-2")
    )
    await drain(service, 5)
    [first] = await service.list_deliveries("inc-1")
    [second] = await service.list_deliveries("inc-2")
    assert (first["status"], first["attempts"]) == ("sent", 2)
    assert (second["status"], second["attempts"]) == ("failed", 1)
    assert "X-Alert-Analyst-Signature" not in received[0][0]
