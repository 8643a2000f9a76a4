"""Alerts Alertmanager leaves out of a webhook (`max_alerts`, reported as `truncatedAlerts`) are counted,
logged with their group and shown on the incidents of that group: they vanished without a trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from receiver.testing import drain
from receiver.web.keys import MATERIALIZER

from .conftest import ClientFactory

FIRING = "captured-am025-prom242-firing.json"


def truncated(corpus: Path, left_out: int) -> bytes:
    payload = json.loads((corpus / FIRING).read_bytes())
    payload["truncatedAlerts"] = left_out
    return json.dumps(payload).encode()


async def post(client: Any, data: bytes) -> dict[str, Any]:
    answer = await client.post(
        "/webhook/alertmanager", data=data, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 200
    return dict(await answer.json())


def truncated_total(metrics: str) -> float:
    [line] = [m for m in metrics.splitlines() if m.startswith("alert_analyst_alerts_truncated_total ")]
    return float(line.split()[1])


async def test_truncated_alerts_are_counted_and_logged_with_their_group(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    assert truncated_total(await (await client.get("/metrics")).text()) == 0
    data = truncated(webhook_corpus, 3)
    with capture_logs() as logs:
        await post(client, data)
        await post(client, data)  # a re-send, answered from the re-send memory, says it again
    assert truncated_total(await (await client.get("/metrics")).text()) == 6
    warnings = [e for e in logs if e["event"] == "webhook_truncated"]
    group_key = json.loads(data)["groupKey"]
    assert [(e["log_level"], e["group_key"], e["truncated"]) for e in warnings] == [
        ("warning", group_key, 3)
    ] * 2


async def test_the_incidents_of_a_truncated_notification_say_so_in_the_api_and_the_workbench(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    answer = await post(client, truncated(webhook_corpus, 3))
    await drain(client.app[MATERIALIZER], 10)
    for incident_id in answer["incidents"]:
        detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
        assert detail["incident"]["truncated_alerts"] == 3
        page = await (await client.get(f"/ui/incidents/{incident_id}")).text()
        assert "Alertmanager left 3 alerts of this alert group out of a notification" in page


async def test_incidents_of_untruncated_notifications_carry_no_note(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    answer = await post(client, (webhook_corpus / FIRING).read_bytes())
    await drain(client.app[MATERIALIZER], 10)
    incident_id = answer["incidents"][0]
    assert (await (await client.get(f"/api/v1/incidents/{incident_id}")).json())["incident"][
        "truncated_alerts"
    ] is None
    assert "max_alerts" not in await (await client.get(f"/ui/incidents/{incident_id}")).text()
